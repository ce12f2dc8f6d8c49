/* nanogpt_dash: new points for the Live page's charts, pushed by the server in the shell's feed
   (ids.FEED, "page"), which assets/push.js hands over as "ngd-feed" events.

   Each push names, per chart, the figure revision its points extend (layout.meta.rev). Points
   wait while that figure is not drawn yet and are dropped once a newer figure replaced it, so a
   rebuild and an extension can never mix. Charts are drawn from requestAnimationFrame, and a chart
   scrolled out of view keeps its points until it is seen again.

   Two ways to draw new points:
   - Appended: when the points fall within the chart's axes as drawn (x has room left, y is within
     its range), each line gets a short SVG path of its own from its last point through the new
     ones, and the trace's data gets the points. That costs the browser about a tenth of a redraw
     (most of it painting the new segment), so every chart that has points appends them in the
     same frame.
   - Redrawn: otherwise, Plotly.extendTraces redraws the chart; at most one chart per frame, the
     charts taking turns. Axes that follow the data (not zoomed) are given room then: x ahead of the
     newest point, y above and below the data, for the next 10 s of the run (makeRoom), so that the
     next points append.
   Points reach this script as the server pushes them, not through a clientside callback: a
   callback's bookkeeping (its queue, loading state, output) costs the browser more than drawing
   the points.
   Plotly's own state (hover, zoom, resize) does not know appended points until the chart is redrawn:
   a chart is redrawn before the pointer or a finger reaches it, after any draw of Plotly's own that
   left them out, and once it holds APPEND_LIMIT appended points. */
(function () {
    "use strict";
    const pending = {};   // chart name -> [{rev, update, indices}] in arrival order
    const visible = {};   // chart name -> bool (IntersectionObserver)
    const observed = new WeakSet();
    let order = [], next = 0, scheduled = false;
    const X_ROOM = 0.2, Y_ROOM = 0.1, APPEND_LIMIT = 2000;
    const AHEAD_MS = 10000, PACE_WINDOW_MS = 10000;  // room for the next 10 s of the run, at its pace
    const RESYNC = "resync";  // ids.RESYNC
    const stats = {applied: 0, frames: 0, dropped: 0, resyncs: 0, stream: null, seq: null, appended: 0, redrawn: 0,
                   settled: 0};
    const engaged = {};   // chart name -> pointer or finger on it: hover needs Plotly's own drawing
    const appended = new WeakMap();  // plot -> points appended since Plotly last drew it
    const headroom = new WeakMap();  // plot -> {axis name: the range this script set while it follows the data}
    const paces = new WeakMap();     // plot -> {rev, axes: {axis id: [{t, lo, hi}]}}: the data's extremes over time
    window.ngdCharts = stats;

    function plotOf(name) {
        const el = document.getElementById("chart-" + name);
        return el ? el.querySelector(".js-plotly-plot") : null;
    }

    const observer = "IntersectionObserver" in window ? new IntersectionObserver(entries => {
        entries.forEach(e => { visible[e.target.id.replace(/^chart-/, "")] = e.isIntersecting; });
        schedule();
    }) : null;

    function watch(name) {
        const el = document.getElementById("chart-" + name);
        if (!el || observed.has(el)) { return; }
        observed.add(el);
        if (observer) { observer.observe(el); } else { visible[name] = true; }
        const engage = () => { engaged[name] = true; settle(plotOf(name)); };
        el.addEventListener("pointerenter", engage);
        el.addEventListener("touchstart", engage, {capture: true, passive: true});
        el.addEventListener("pointerleave", () => { engaged[name] = false; });
    }

    // The chart's data holds points that Plotly's own state (calcdata) lacks: appended ones.
    function stale(plot) {
        if (!plot || !plot.calcdata || !plot.data || !(appended.get(plot) > 0)) { return false; }
        return plot.calcdata.some(cd => {
            const t = cd && cd[0] && cd[0].trace, data = t && plot.data[t.index];
            return !!(data && t.type === "scatter" && data.x && data.y && Math.min(data.x.length, data.y.length) > cd.length);
        });
    }

    function settle(plot) {
        if (!stale(plot)) { return; }
        appended.set(plot, 0);
        stats.settled += 1;
        window.Plotly.redraw(plot);
    }

    // A draw of Plotly's own (a resize, a restyle) from state that lacks the appended points.
    function onAfterplot(plot) {
        // Plotly drew the lines from its state: the appended segments are drawn in them, or redrawn next frame
        plot.querySelectorAll("path.ngd-tail").forEach(tail => tail.remove());
        if (stale(plot)) { window.requestAnimationFrame(() => settle(plot)); } else { appended.set(plot, 0); }
    }

    function fullTrace(plot, index) {
        return plot._fullData.find(t => t.index === index);
    }

    function axisOf(plot, id) {
        return plot._fullLayout[id.charAt(0) + "axis" + id.slice(1)];
    }

    // Does the axis (layout name) follow the data: Plotly's autorange, or a range this script set for it?
    function following(plot, name) {
        const full = plot._fullLayout && plot._fullLayout[name], layout = plot.layout[name] || {};
        const ours = (headroom.get(plot) || {})[name];
        return !!(full && full.autorange) ||
            !!(ours && Array.isArray(layout.range) && layout.range[0] === ours[0] && layout.range[1] === ours[1]);
    }

    /* Can `m` go onto the ends of the lines, leaving every axis as it is? Then the line paths, one
       per trace, keyed by trace index. Only plain lines qualify: markers, fills, splines and gaps are
       Plotly's to draw. */
    function appendable(plot, m) {
        if (!plot.calcdata || !plot._fullLayout || (appended.get(plot) || 0) >= APPEND_LIMIT) { return null; }
        const groups = {};
        plot.querySelectorAll(".scatterlayer .trace").forEach(g => {
            const cd = g.__data__;
            if (cd && cd[0] && cd[0].trace) { groups[cd[0].trace.index] = g; }
        });
        const paths = {};
        for (let k = 0; k < m.indices.length; k++) {
            const index = m.indices[k];
            const trace = fullTrace(plot, index);
            const lines = groups[index] ? groups[index].querySelectorAll("path.js-line") : [];
            if (!trace || trace.type !== "scatter" || trace.visible !== true || trace.mode !== "lines" ||
                (trace.line && trace.line.shape !== "linear") || (trace.fill && trace.fill !== "none") || !lines.length) {
                return null;
            }
            const xa = axisOf(plot, trace.xaxis), ya = axisOf(plot, trace.yaxis);
            if (!xa || !ya || xa.autorange) { return null; }  // an autoranged x moves with every new step
            // a point within the drawn y range is drawn where it belongs, and the range is refitted
            // on the next redraw; one outside it needs the redraw now
            const yRange = ya.range.map(v => ya.r2l(v)).sort((a, b) => a - b);
            // while the view follows the run, a step past the end of x needs more room; a zoom stays as it is
            const xEnd = following(plot, xa._name) ? xa.r2l(xa.range[1]) : Infinity;
            const xs = m.update.x[k], ys = m.update.y[k];
            for (let i = 0; i < xs.length; i++) {
                const x = xa.c2l(xa.d2c(xs[i])), y = ya.c2l(ya.d2c(ys[i]));
                if (!Number.isFinite(x) || !Number.isFinite(y) || x > xEnd) { return null; }
                if (y < yRange[0] || y > yRange[1]) { return null; }
            }
            // the new segment starts at the last point drawn
            const n = Math.min(plot.data[index].x.length, plot.data[index].y.length);
            const from = n ? [xa.c2p(xa.d2c(plot.data[index].x[n - 1])), ya.c2p(ya.d2c(plot.data[index].y[n - 1]))] : [NaN, NaN];
            if (!from.every(Number.isFinite)) { return null; }
            paths[index] = {path: lines[lines.length - 1], from: from, xa: xa, ya: ya};
        }
        return paths;
    }

    function extended(values, more) {
        if (!Array.isArray(values)) { return Array.from(values).concat(more); }  // a typed array
        more.forEach(v => values.push(v));
        return values;
    }

    function append(plot, m, paths) {
        m.indices.forEach((index, k) => {
            const p = paths[index], trace = plot.data[index];
            const xs = Array.from(m.update.x[k]), ys = Array.from(m.update.y[k]);
            let d = "M" + p.from[0].toFixed(2) + "," + p.from[1].toFixed(2);
            xs.forEach((x, i) => {
                d += "L" + p.xa.c2p(p.xa.d2c(x)).toFixed(2) + "," + p.ya.c2p(p.ya.d2c(ys[i])).toFixed(2);
            });
            // a path of its own, styled as the line: the browser repaints only the new segment
            const tail = p.path.cloneNode(false);
            tail.setAttribute("class", "ngd-tail");
            tail.setAttribute("d", d);
            p.path.parentNode.appendChild(tail);
            trace.x = extended(trace.x, xs);
            trace.y = extended(trace.y, ys);
            if (Array.isArray(trace.customdata)) { trace.customdata = extended(trace.customdata, m.update.customdata[k]); }
            appended.set(plot, (appended.get(plot) || 0) + xs.length);
        });
        plot.emit("ngd_appended");
    }

    /* Ranges for the axes that follow the data, from the data and the new points (in Plotly's
       linear units): x beyond the newest point, y beyond the lowest and highest, by what the next
       AHEAD_MS of the run need at its pace (see room below). The next points then fall within them
       and append. */
    function makeRoom(plot, m) {
        if (!plot._fullLayout || !plot._fullData) { return; }
        const ours = headroom.get(plot) || {};
        const axes = new Set();
        m.indices.forEach(index => {
            const trace = fullTrace(plot, index);
            if (trace && trace.xaxis && trace.yaxis) { axes.add(trace.xaxis); axes.add(trace.yaxis); }
        });
        axes.forEach(id => {
            const axis = axisOf(plot, id), letter = id.charAt(0);
            if (!axis || !following(plot, axis._name)) { return; }
            let lo = Infinity, hi = -Infinity;
            const take = v => { if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } };
            plot._fullData.forEach(t => {
                const e = t[letter + "axis"] === id && t._extremes && t._extremes[id];
                if (e) { e.min.forEach(v => take(v.val)); e.max.forEach(v => take(v.val)); }
            });
            m.indices.forEach((index, k) => {
                const trace = fullTrace(plot, index);
                if (trace && trace[letter + "axis"] === id) { Array.from(m.update[letter][k]).forEach(v => take(axis.c2l(axis.d2c(v)))); }
            });
            if (!(hi >= lo)) { return; }
            const span = hi - lo || Math.abs(hi) || 1;
            // room for what AHEAD_MS of the run at its pace needs (early in a run, when the steps and
            // the loss move fast against the span, a redraw of every chart each second otherwise), at
            // least X_ROOM / Y_ROOM of the span and at most the span
            const rate = pace(plot, id), minimum = (letter === "x" ? X_ROOM : Y_ROOM) * span;
            const room = speed => Math.min(span, Math.max(minimum, speed * AHEAD_MS));
            const range = letter === "x" ? [axis.r2l(axis.range[0]), hi + room(rate.up)]
                                         : [lo - room(rate.down), hi + room(rate.up)];
            // a quantity that is never negative (a loss, a norm, a rate) gets no room below zero
            if (letter === "y" && axis.type !== "log" && lo >= 0) { range[0] = Math.max(range[0], 0); }
            if (!range.every(Number.isFinite) || range[0] >= range[1]) { return; }
            ours[axis._name] = range.map(v => axis.l2r(v));
            plot.layout[axis._name] = Object.assign({}, plot.layout[axis._name], {range: ours[axis._name], autorange: false});
        });
        headroom.set(plot, ours);
    }

    // How fast the data's extremes on an axis moved lately, in its units per millisecond: the highest
    // up, the lowest down (0 while unknown)
    function pace(plot, id) {
        const seen = (paces.get(plot) || {axes: {}}).axes[id] || [];
        const first = seen[0], last = seen[seen.length - 1];
        if (!first || last.t - first.t < 500) { return {up: 0, down: 0}; }
        const ms = last.t - first.t;
        return {up: Math.max(0, last.hi - first.hi) / ms, down: Math.max(0, first.lo - last.lo) / ms};
    }

    function notePace(plot, m) {
        if (!plot._fullLayout || !plot._fullData) { return; }
        // a new figure (another x, smoothing, log scale) starts anew
        const rev = plot.layout && plot.layout.meta ? plot.layout.meta.rev : null;
        const known = paces.get(plot), byAxis = known && known.rev === rev ? known.axes : {};
        const now = performance.now(), fresh = {};
        m.indices.forEach((index, k) => {
            const trace = fullTrace(plot, index);
            if (!trace) { return; }
            ["x", "y"].forEach(letter => {
                const id = trace[letter + "axis"], axis = id && axisOf(plot, id);
                if (!axis) { return; }
                const values = Array.from(m.update[letter][k]).map(v => axis.c2l(axis.d2c(v))).filter(Number.isFinite);
                if (!values.length) { return; }
                const f = fresh[id] = fresh[id] || {lo: Infinity, hi: -Infinity};
                f.lo = Math.min(f.lo, ...values);
                f.hi = Math.max(f.hi, ...values);
            });
        });
        Object.entries(fresh).forEach(([id, f]) => {
            const seen = (byAxis[id] || []).filter(s => now - s.t <= PACE_WINDOW_MS);
            const last = seen[seen.length - 1];
            seen.push({t: now, lo: last ? Math.min(last.lo, f.lo) : f.lo, hi: last ? Math.max(last.hi, f.hi) : f.hi});
            byAxis[id] = seen;
        });
        paces.set(plot, {rev: rev, axes: byAxis});
    }

    function merge(list) {
        // several pushes for the same figure become one extendTraces call
        const byTrace = new Map();
        list.forEach(p => p.indices.forEach((index, i) => {
            const t = byTrace.get(index) || {x: [], y: [], customdata: []};
            t.x = t.x.concat(Array.from(p.update.x[i]));
            t.y = t.y.concat(Array.from(p.update.y[i]));
            t.customdata = t.customdata.concat(p.update.customdata[i]);
            byTrace.set(index, t);
        }));
        const indices = Array.from(byTrace.keys());
        const traces = indices.map(i => byTrace.get(i));
        return {indices: indices, update: {x: traces.map(t => t.x), y: traces.map(t => t.y),
                                           customdata: traces.map(t => t.customdata)}};
    }

    // Apply what is due for one chart (a redraw only if `redraw`); true when it redrew.
    function flush(name, redraw) {
        const list = pending[name];
        const plot = plotOf(name);
        if (!list || !list.length || !plot || !plot.data || visible[name] === false) { return false; }
        const drawn = plot.layout && plot.layout.meta ? plot.layout.meta.rev : null;
        const due = list.filter(p => p.rev === drawn);
        const kept = list.filter(p => drawn === null || p.rev > drawn);
        stats.dropped += list.length - due.length - kept.length;
        pending[name] = kept;
        if (!due.length) { return false; }
        const m = merge(due);
        if (!plot._ngdListening) {
            plot._ngdListening = true;
            plot.on("plotly_afterplot", () => onAfterplot(plot));
        }
        notePace(plot, m);
        const paths = !engaged[name] && appendable(plot, m);
        if (paths) {
            append(plot, m, paths);
            stats.appended += 1;
        } else if (redraw) {
            makeRoom(plot, m);
            appended.set(plot, 0);
            window.Plotly.extendTraces(plot, m.update, m.indices);
            stats.redrawn += 1;
        } else {
            pending[name] = due.concat(pending[name]);  // a redraw, in a later frame
            return false;
        }
        stats.applied += due.length;
        return !paths;
    }

    function frame() {
        scheduled = false;
        stats.frames += 1;
        // every chart whose points append; and one redraw per frame, the charts taking turns
        let redrew = false;
        for (let k = 0; k < order.length; k++) {
            const i = (next + k) % order.length;
            if (flush(order[i], !redrew)) { redrew = true; next = (i + 1) % order.length; }
        }
        if (order.some(name => (pending[name] || []).length && visible[name] !== false)) { schedule(); }
    }

    function schedule() {
        if (!scheduled) { scheduled = true; window.requestAnimationFrame(frame); }
    }

    function queue(charts) {
        Object.entries(charts).forEach(([name, item]) => {
            if (!order.includes(name)) { order.push(name); }
            watch(name);
            (pending[name] = pending[name] || []).push({update: item[0], indices: item[1], rev: item[2]});
        });
    }

    /* The feed's points -> the charts' queues. {stream, seq, pushes: [{seq, charts: {name: [update,
       indices, rev]}}]}: the latest push and the few before it. Pushes are numbered within a stream,
       which starts anew whenever the Live page is new to the tab (opened again after another page).
       A gap (pushes missed in a long pause of this tab) asks the server, through ids.RESYNC, to draw
       the charts anew. */
    function applyPoints(points) {
        if (!points || !Array.isArray(points.pushes)) { return; }
        if (points.stream !== stats.stream) {  // a stream's pushes are numbered from 1
            stats.stream = points.stream;
            stats.seq = 0;
        }
        const first = points.pushes.length ? points.pushes[0].seq : points.seq;
        if (stats.seq !== null && first > stats.seq + 1 && points.seq > stats.seq) {
            stats.seq = points.seq;
            stats.resyncs += 1;
            Object.keys(pending).forEach(name => { pending[name] = []; });
            const n = stats.resyncs;
            setTimeout(() => setProps(RESYNC, {data: n}), 0);  // after the feed's points are queued
            return;
        }
        points.pushes.forEach(p => {
            if (stats.seq === null || p.seq > stats.seq) { queue(p.charts); }
        });
        stats.seq = points.seq;
        schedule();
    }

    function setProps(id, props) {
        const api = window.dash_clientside;
        if (api && api.set_props) { api.set_props(id, props); }
    }

    window.addEventListener("ngd-feed", event => applyPoints(((event.detail || {}).page || {}).points));

    // a resize is drawn from Plotly's state: give it the appended points first
    window.addEventListener("resize", () => {
        document.querySelectorAll(".ngd-chart .js-plotly-plot").forEach(settle);
    });
})();
