/* nanogpt_dash: the clientside callbacks of the shell and the pages (ClientsideFunction("ngd", name)). */
(function () {
    "use strict";
    const CHART_NAMES = ["loss", "lr", "grad_norm", "throughput"];  // ui/figures.py CHARTS, in order (a test checks)
    const MEMORY_LIMITS = ["heap_limit_mb", "points_limit"];
    function queryString(query) {
        const params = new URLSearchParams();
        Object.entries(query || {}).forEach(([key, value]) => {
            if (value !== null && value !== undefined && value !== "") { params.set(key, value); }
        });
        // keep the tab's memory limits (assets/push.js reads them), which are not part of the view
        new URLSearchParams(window.location.search).forEach((value, key) => {
            if (MEMORY_LIMITS.includes(key) && !params.has(key)) { params.set(key, value); }
        });
        const text = params.toString().replace(/%2C/g, ",");
        return text ? "?" + text : "";
    }

    const ngd = {
        /* The current page's view (ids.QUERY) into the address bar and the navbar links.
           replaceState: the back button returns to the previous page, not to every slider position. */
        syncUrl: function (query) {
            const search = queryString(query);
            if (query && search !== window.location.search) {
                window.history.replaceState(window.history.state, "", window.location.pathname + search);
            }
            const runs = query && query.runs ? "?runs=" + query.runs : null;
            const hrefs = Array.from(document.querySelectorAll(".ngd-nav .nav-link")).map(a => {
                const path = new URL(a.href, window.location.href).pathname;
                return runs ? path + runs : path;
            });
            return hrefs;
        },

        /* ids.VIEW after an in-app navigation: the new page, unless that page already said so. */
        followPage: function (pathname, view) {
            if (view && view.page === pathname) { return window.dash_clientside.no_update; }
            return {page: pathname};
        },

        /* The Live page's view: for the server's pusher (ids.VIEW) and for the address bar (ids.QUERY). */
        liveView: function (runs, x, smooth, options, zoom, width, resync, focus) {
            const view = {page: "/", runs: runs || [], x: x, smooth: smooth, options: options || [], zoom: zoom || {},
                          width: width || null, resync: resync || null, focus: focus || null};
            const query = ngd.liveQuery(runs, x, smooth, options, zoom);
            if (focus && focus !== "(first)" && (runs || []).length > 1 && focus !== runs[0]) { query.focus = focus; }  // FIRST in pages/live.py
            return [view, query];
        },

        /* Each chart's x range as the user last set it (null: the overview), from relayout events. */
        collectZoom: function () {
            const args = Array.from(arguments);
            const events = args.slice(0, -1), zoom = Object.assign({}, args[args.length - 1] || {});
            const triggered = (window.dash_clientside.callback_context.triggered || []).map(t => t.prop_id);
            let changed = false;
            events.forEach((r, i) => {
                const name = CHART_NAMES[i];
                if (!r || !triggered.includes(`chart-${name}.relayoutData`)) { return; }
                let next;
                if (r["xaxis.autorange"]) { next = null; }
                else if ("xaxis.range[0]" in r) { next = [r["xaxis.range[0]"], r["xaxis.range[1]"]]; }
                else if (Array.isArray(r["xaxis.range"])) { next = r["xaxis.range"]; }
                else { return; }
                zoom[name] = next;
                changed = true;
            });
            return changed ? zoom : window.dash_clientside.no_update;
        },

        /* The Live page's controls as URL parameters (ViewQuery in ui/pages/live.py reads them back). */
        liveQuery: function (runs, x, smooth, options, zoom) {
            const query = {runs: (runs || []).join(",")};
            if (x && x !== "step") { query.x = x; }
            if (smooth) { query.smooth = String(smooth); }
            if ((options || []).includes("log")) { query.log = "1"; }
            if ((options || []).includes("superseded")) { query.superseded = "1"; }
            Object.entries(zoom || {}).forEach(([name, range]) => {
                if (range) { query["zoom_" + name] = range.join(","); }
            });
            return query;
        },
    };
    window.dash_clientside = Object.assign({}, window.dash_clientside, {ngd: ngd});

    // A slider's number box commits its value when it loses focus; Enter should commit it too.
    document.addEventListener("keydown", event => {
        if (event.key === "Enter" && event.target.matches && event.target.matches(".dash-slider-container input")) {
            event.target.blur();
        }
    });
})();
