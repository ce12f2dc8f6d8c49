/* nanogpt_dash: the clientside callbacks of the shell and the pages (ClientsideFunction("ngd", name)). */
(function () {
    "use strict";
    function queryString(query) {
        const params = new URLSearchParams();
        Object.entries(query || {}).forEach(([key, value]) => {
            if (value !== null && value !== undefined && value !== "") { params.set(key, value); }
        });
        // keep the parameters that only the server reads (e.g. heap_limit_mb)
        new URLSearchParams(window.location.search).forEach((value, key) => {
            if (key === "heap_limit_mb" && !params.has(key)) { params.set(key, value); }
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
})();
