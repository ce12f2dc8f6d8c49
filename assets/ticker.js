/* nanogpt_dash: the live page's clock.

   Every period it asks the server for an update by setting the `pulse` store (the live page's
   tick callback listens to it), at the rate of the `rate` select (0.5 Hz while the tab is hidden),
   and only once the previous answer has arrived: Dash drops an answer when a newer request of the
   same callback is on its way, so ticks that outpace a slow answer (a big rebuild) would lose every
   answer. After PACE_TIMEOUT_MS without one (the server restarting) it asks anyway.

   A plain timer calling dash_clientside.set_props costs the browser much less per tick than a
   dcc.Interval driving a clientside callback did; with ten viewers on one machine that counts.
   The renderer reports each answer with ngdTicker.answered() (RENDERER_HOOKS in live_page.py). */
(function () {
    "use strict";
    const PACE_TIMEOUT_MS = 5000, HIDDEN_INTERVAL_MS = 2000, DEFAULT_HZ = 5, MAX_HZ = 10;
    const ticker = {
        // the page's first load is a request already in flight: wait for its answer before asking
        askedAt: Date.now(), waiting: true, pulses: 0, lastAnswer: null,
        interval: function () {
            if (document.visibilityState === "hidden") { return HIDDEN_INTERVAL_MS; }
            const select = document.getElementById("rate");
            const hz = Math.min(MAX_HZ, Math.max(1, parseInt(select ? select.value : "", 10) || DEFAULT_HZ));
            return Math.round(1000 / hz);
        },
        answered: function () { ticker.waiting = false; ticker.lastAnswer = Date.now(); },
    };
    window.ngdTicker = ticker;

    function tick() {
        const now = Date.now();
        const api = window.dash_clientside;
        if (api && api.set_props && (!ticker.waiting || now - ticker.askedAt >= PACE_TIMEOUT_MS)) {
            try {
                api.set_props("pulse", {data: ticker.pulses + 1});
                ticker.pulses += 1;
                ticker.askedAt = now;
                ticker.waiting = true;
            } catch (e) { /* the layout is not rendered yet: try again next period */ }
        }
        setTimeout(tick, ticker.interval());
    }
    setTimeout(tick, ticker.interval());
})();
