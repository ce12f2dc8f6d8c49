/* nanogpt_dash: fingers on Plotly charts (every page's).

   plotly.js 4.1 treats a touch on a chart's plot area as a mouse drag of the first finger: in the
   default "zoom" drag mode a one-finger drag draws a zoom box, a second finger is ignored, and its
   touchstart listener cancels the page's scroll (dragelement's init: {passive: false} and
   preventDefault). Here, on the plot area and the axes' drag handles:
     - a vertical swipe scrolls the page (touch-action: pan-y in assets/touch.css);
     - a horizontal drag pans the x axis;
     - two fingers zoom the x axis about their centre (and pan it as the centre moves);
     - taps stay Plotly's: a tap shows the hover box, a double tap autoranges as a double click does.
   Only x: the app keeps a chart's x range (in the URL, across pushes and rotations) and lets y
   follow the data; two fingers are seldom level, so a y zoom would mostly be noise.
   While the fingers move, the drawn traces are moved with an SVG transform (nothing is redrawn);
   when they lift, the new range is applied once with Plotly.relayout, which the app sees as any
   other zoom (relayoutData: the Live page's x ranges, assets/ngd.js collectZoom). */
(function () {
    "use strict";
    const SLOP = 8;          // px a finger travels before a drag counts as a pan or a scroll
    const MIN_SPREAD = 24;   // px between two fingers below which their distance is too noisy to zoom by
    let gesture = null;      // at most one, on one chart
    const stats = {applied: 0};
    window.ngdTouch = stats;

    // The subplot ("xy", "x2y3"...) whose drag handle `target` is, or null off the drag layer.
    function subplotOf(target) {
        const handle = target && target.closest ? target.closest(".draglayer > g") : null;
        if (!handle) { return null; }
        const id = Array.from(handle.classList).find(c => /^x\d*y\d*$/.test(c));
        return id || null;
    }

    // The x axis of a subplot, if a gesture may change it: its name and its range in linear units.
    function axisOf(gd, subplot) {
        const name = "xaxis" + subplot.match(/^x(\d*)/)[1];
        const axis = gd._fullLayout && gd._fullLayout[name];
        if (!axis || axis.fixedrange || !Array.isArray(axis.range)) { return null; }
        return {name: name, range: axis.range.map(v => (axis.r2l ? axis.r2l(v) : Number(v))),
                toRange: v => (axis.l2r ? axis.l2r(v) : v)};
    }

    // The x range as drawn now (a push may have redrawn the chart since the gesture began).
    function drawnRange(g) {
        const x = axisOf(g.gd, g.subplot);
        return x ? x.range : g.from;
    }

    // Touches as {identifier: [clientX, clientY]}.
    function points(touches) {
        const found = {};
        Array.from(touches).forEach(t => { found[t.identifier] = [t.clientX, t.clientY]; });
        return found;
    }

    // Start (again) from what the chart shows now and where the fingers are now.
    function baseline(g, touches) {
        g.from = g.range ? g.range.slice() : drawnRange(g);
        g.start = points(touches);
        const box = g.handle.getBoundingClientRect();
        g.left = box.left;
        g.width = box.width;
    }

    function centreAndSpread(pts) {
        const list = Object.values(pts);
        if (list.length < 2) { return {centre: list[0][0], spread: null}; }
        const [a, b] = list;
        return {centre: (a[0] + b[0]) / 2, spread: Math.max(MIN_SPREAD, Math.hypot(a[0] - b[0], a[1] - b[1]))};
    }

    // The x range that keeps the data under the fingers' start centre under their centre now,
    // scaled by how far the fingers moved apart.
    function rangeFor(g, now) {
        const ids = Object.keys(g.start).filter(id => id in now);
        const start = {}, current = {};
        ids.slice(0, 2).forEach(id => { start[id] = g.start[id]; current[id] = now[id]; });
        if (!ids.length) { return g.range; }
        const a = centreAndSpread(start), b = centreAndSpread(current);
        const scale = g.mode === "pinch" && a.spread && b.spread ? b.spread / a.spread : 1;
        const [lo, hi] = g.from;
        const anchor = lo + (a.centre - g.left) / g.width * (hi - lo);
        const width = (hi - lo) / scale;
        const newLo = anchor - (b.centre - g.left) / g.width * width;
        return [newLo, newLo + width];
    }

    // The traces, moved to show `range` without a redraw: x' = scale * x + shift in the plot's frame.
    function preview(g) {
        g.frame = null;
        if (!gesture || gesture !== g || !g.range) { return; }
        const [c0, c1] = drawnRange(g), [t0, t1] = g.range;
        const scale = (c1 - c0) / (t1 - t0), shift = (c0 - t0) / (t1 - t0) * g.width;
        const transform = `matrix(${scale},0,0,1,${shift},0)`;
        layers(g).forEach(el => el.setAttribute("transform", transform));
    }

    function schedulePreview(g) {
        if (!g.frame) { g.frame = window.requestAnimationFrame(() => preview(g)); }
    }

    // What the traces are drawn in: the layers of each clipped plot group on the gesture's x axis
    // (a subplot's .plot, or one group per y axis in its .overplot when a y axis overlays another).
    function layers(g) {
        const xId = g.subplot.match(/^x\d*/)[0];
        const onAxis = el => Array.from(el.classList).some(c => /^x\d*y\d*$/.test(c) && c.match(/^x\d*/)[0] === xId);
        const found = [];
        g.gd.querySelectorAll(".cartesianlayer > .subplot > .plot, .cartesianlayer > .subplot > .overplot > g").forEach(plot => {
            if (onAxis(plot.classList.contains("plot") ? plot.parentElement : plot)) {
                plot.querySelectorAll(":scope > g").forEach(el => found.push(el));
            }
        });
        return found;
    }

    function clearPreview(g) {
        if (g.frame) { window.cancelAnimationFrame(g.frame); g.frame = null; }
        layers(g).forEach(el => el.removeAttribute("transform"));
    }

    function finish(apply) {
        const g = gesture;
        gesture = null;
        if (!g) { return; }
        clearPreview(g);
        if (!apply || !g.range || g.mode === "scroll") { return; }
        const [lo, hi] = g.range;
        if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo < hi)) { return; }
        const x = axisOf(g.gd, g.subplot) || g.x;
        stats.applied += 1;
        window.Plotly.relayout(g.gd, {[x.name + ".range"]: [x.toRange(lo), x.toRange(hi)]});
    }

    function onStart(event) {
        if (gesture && event.touches.length > 1) {
            event.stopPropagation();
            // a second finger joins: zoom from here; a third changes nothing
            if (gesture.mode !== "scroll" && event.touches.length === 2) {
                gesture.mode = "pinch";
                baseline(gesture, event.touches);
            }
            return;
        }
        if (gesture) { finish(false); }  // its end never came (the page was hidden mid-gesture)
        const gd = event.target.closest ? event.target.closest(".js-plotly-plot") : null;
        const subplot = gd ? subplotOf(event.target) : null;
        const x = subplot ? axisOf(gd, subplot) : null;
        if (!x || !window.Plotly) { return; }
        event.stopPropagation();  // Plotly's own drag never starts
        const handle = gd.querySelector(`.draglayer > g.${subplot} > .nsewdrag`) || event.target;
        gesture = {gd: gd, subplot: subplot, x: x, handle: handle, mode: event.touches.length > 1 ? "pinch" : "pending",
                   range: null, frame: null};
        baseline(gesture, event.touches);
    }

    function onMove(event) {
        const g = gesture;
        if (!g) { return; }
        event.stopPropagation();
        if (g.mode === "scroll") { return; }
        const now = points(event.touches);
        if (g.mode === "pending") {
            const id = Object.keys(g.start)[0], from = g.start[id], to = now[id];
            if (!to) { return; }
            const dx = to[0] - from[0], dy = to[1] - from[1];
            if (Math.max(Math.abs(dx), Math.abs(dy)) < SLOP) { return; }
            // much as Chromium decides under touch-action: pan-y, so that the page scrolls when the chart does not
            g.mode = Math.abs(dx) > Math.abs(dy) ? "pan" : "scroll";
            if (g.mode === "scroll") { return; }
        }
        g.range = rangeFor(g, now);
        schedulePreview(g);
    }

    function onEnd(event) {
        const g = gesture;
        if (!g) { return; }
        if (event.type === "touchcancel") { finish(false); return; }
        if (g.mode === "pinch" || g.mode === "pan") {
            // where the lifted fingers left the screen: their last moves may not have been sent
            g.range = rangeFor(g, points([...event.touches, ...event.changedTouches]));
        }
        if (event.touches.length === 0) { finish(true); return; }
        if (g.mode === "pinch" || g.mode === "pan") {
            // fingers left, one stays: it pans on from here
            g.mode = event.touches.length === 1 ? "pan" : "pinch";
            baseline(g, event.touches);
        }
    }

    /* On the document, capturing: before Plotly's listeners on the drag handles, which never see
       a touch on a chart. Passive: touch-action (assets/touch.css) already keeps the browser from
       scrolling sideways or zooming the page there, and a passive listener never holds up the
       page's scroll. */
    const options = {capture: true, passive: true};
    ["touchstart", "touchmove", "touchend", "touchcancel"].forEach((type, i) => {
        document.addEventListener(type, [onStart, onMove, onEnd, onEnd][i], options);
    });
})();
