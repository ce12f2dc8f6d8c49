/* nanogpt_dash: new points for the Live page's charts (ids.POINTS, pushed by the server).

   Each push names, per chart, the figure revision its points extend (layout.meta.rev). Points
   wait while that figure is not drawn yet and are dropped once a newer figure replaced it, so a
   rebuild and an extension can never mix. Charts are drawn from requestAnimationFrame: at most
   one chart per frame (four charts never redraw in the same frame), a chart at most once per
   frame, and a chart scrolled out of view keeps its points until it is seen again. */
(function () {
    "use strict";
    const pending = {};   // chart name -> [{rev, update, indices}] in arrival order
    const visible = {};   // chart name -> bool (IntersectionObserver)
    const observed = new WeakSet();
    let order = [], next = 0, scheduled = false;
    const stats = {applied: 0, frames: 0, dropped: 0, resyncs: 0, seq: null};
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

    // Apply what is due for one chart; true when it drew.
    function flush(name) {
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
        window.Plotly.extendTraces(plot, m.update, m.indices);
        stats.applied += due.length;
        return true;
    }

    function frame() {
        scheduled = false;
        stats.frames += 1;
        // one chart per frame, taking turns
        for (let k = 0; k < order.length; k++) {
            const name = order[(next + k) % order.length];
            if (flush(name)) { next = (next + k + 1) % order.length; break; }
        }
        if (order.some(name => (pending[name] || []).length && visible[name] !== false)) { schedule(); }
    }

    function schedule() {
        if (!scheduled) { scheduled = true; window.requestAnimationFrame(frame); }
    }

    /* Dash keeps an undo history of every callback input that changes outside a callback response
       (store.history.past, for its optional undo/redo buttons, which this app does not show) and never
       trims it. Each push's points are such an input, so every push ever received stayed in memory:
       about 0.35 MB/s at 10 pushes/s. Forget it after each push. */
    function forgetUndoHistory() {
        const store = window.store, history = store && store.getState && store.getState().history;
        if (history && Array.isArray(history.past) && history.past.length) { history.past.length = 0; }
    }

    function queue(charts) {
        Object.entries(charts).forEach(([name, item]) => {
            if (!order.includes(name)) { order.push(name); }
            watch(name);
            (pending[name] = pending[name] || []).push({update: item[0], indices: item[1], rev: item[2]});
        });
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside);
    window.dash_clientside.ngdCharts = {
        /* ids.POINTS -> the charts' queues. {seq, pushes: [{seq, charts: {name: [update, indices, rev]}}]}: the
           latest push and the few before it, since Dash runs this once for several quick changes. */
        applyPoints: function (points) {
            const nc = window.dash_clientside.no_update;
            if (!points || !Array.isArray(points.pushes)) { return nc; }
            const first = points.pushes.length ? points.pushes[0].seq : points.seq;
            if (stats.seq !== null && first > stats.seq + 1 && points.seq > stats.seq) {
                // pushes were missed (a long pause of this tab): ask the server to draw the charts anew
                stats.seq = points.seq;
                stats.resyncs += 1;
                Object.keys(pending).forEach(name => { pending[name] = []; });
                return stats.resyncs;
            }
            points.pushes.forEach(p => {
                if (stats.seq === null || p.seq > stats.seq) { queue(p.charts); }
            });
            stats.seq = points.seq;
            forgetUndoHistory();
            schedule();
            return nc;
        },
    };
})();
