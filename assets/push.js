/* nanogpt_dash: the browser's side of the server push (ui/push.py).

   With every push and heartbeat the server sets the shell's feed store (ids.FEED). This script takes
   each feed from Dash's WebSocket worker before Dash sees it, hands it to the page's scripts as a
   window event, "ngd-feed" (assets/charts.js takes the Live page's points from it), and keeps the
   connection badge from it. Dash's store never holds the feeds: each one would cost three dispatches
   of the store, each running the selector of every mounted component, which was a quarter of the
   page's CPU while a run trains. Only the tab's cursor goes into the store, when the connection comes
   back: the pusher that Dash then starts again reads it, and sends exactly what this tab lacks.
   When no heartbeat has come for a while this script sends a callback, which makes Dash's WebSocket
   worker connect again even after it gave up retrying.
   It also tells the server when the tab is hidden or shown (a hidden tab is sent nothing), the
   width of the charts (how many points are worth sending), and drops the oldest half of every
   chart if the page's heap or the points its charts hold pass their limits. No Dash callback runs
   for any of it while all is well. */
(function () {
    "use strict";
    const DEFAULT_HZ = 5, MAX_HZ = 10;  // the rate select's default and maximum (ui/shell.py)
    const LIVE_MS = 4000, UNREACHABLE_MS = 12000, RECONNECT_EVERY_MS = 5000;
    const HEAP_LIMIT_MB = 512, POINTS_LIMIT = 1500000, PURGE_COOLDOWN_MS = 10000;
    const FEED = "feed", NOTICE = "notice";  // ids.FEED, ids.NOTICE
    /* Dash opens its WebSocket from a SharedWorker. A browser without one (Chrome on Android until
       2026, some embedded browsers) gets Dash's callbacks over HTTP, and no push: nothing would ever
       arrive, so the page says so, and what to do, instead of "connecting" for ever. */
    const PUSHABLE = typeof window.SharedWorker === "function";
    const UNSUPPORTED = "This browser cannot get live updates: nanogpt_dash receives them through a " +
        "SharedWorker, which this browser lacks. Open the dashboard in Chrome, Edge or Firefox on a computer, " +
        "in Safari, or in Firefox on Android.";
    // serverTime: the server's clock on the last feed (benchmarks time pushes with it); pulses: feeds so far;
    // cursor: what this tab has of the server's data (the last feed's)
    const state = {lastPulse: null, badge: null, askedReconnect: 0, reconnects: 0, width: null, lastPurge: 0, purges: 0,
                   serverTime: null, pulses: 0, cursor: null};
    window.ngdPush = state;

    // set_props of a component that the current page does not have would only log an error
    function setProps(id, props) {
        const api = window.dash_clientside, layout = window.dash_component_api;
        try {
            // getLayout throws until Dash has the layout
            if (!api || !api.set_props || !layout || !layout.getLayout(id)) { return false; }
            api.set_props(id, props);
            return true;
        } catch (e) { return false; }
    }

    function badge(now) {
        if (!PUSHABLE) {
            if (state.badge !== "unsupported" && setProps(NOTICE, {children: UNSUPPORTED, className: "alert alert-danger m-2"})) {
                setProps("connection", {children: "no live updates", color: "danger"});
                state.badge = "unsupported";
            }
            return;
        }
        const age = state.lastPulse === null ? null : now - state.lastPulse;
        let label = "connecting", color = "secondary";
        if (age !== null && age < LIVE_MS) { label = "live"; color = "success"; }
        else if (age !== null && age < UNREACHABLE_MS) { label = "reconnecting…"; color = "warning"; }
        else if (age !== null) { label = "server unreachable"; color = "danger"; }
        if (label !== state.badge && setProps("connection", {children: label, color: color})) { state.badge = label; }
        if (age !== null && age >= LIVE_MS && now - state.askedReconnect >= RECONNECT_EVERY_MS) {
            state.askedReconnect = now;
            state.reconnects += 1;
            setProps("reconnect", {data: state.reconnects});
        }
    }

    function chartWidth() {
        const el = document.getElementById("chart-loss");
        const width = el ? Math.round(el.getBoundingClientRect().width / 100) * 100 : null;
        if (width && width !== state.width && setProps("chart-width", {data: width})) { state.width = width; }
    }

    function limitParam(name, fallback) {
        const value = parseFloat(new URLSearchParams(window.location.search).get(name));
        return value > 0 ? value : fallback;
    }

    function heldPoints() {
        let n = 0;
        document.querySelectorAll(".ngd-chart .js-plotly-plot").forEach(plot => {
            (plot.data || []).forEach(t => { n += (t.x || []).length; });
        });
        return n;
    }

    /* What is too heavy: the page's JavaScript heap where the browser tells it (Chromium's
       performance.memory), and in every browser the points the charts hold. The server keeps each
       chart within a budget, but a zoomed chart keeps every new point of a fast run. */
    function tooHeavy() {
        const heapLimitMb = limitParam("heap_limit_mb", HEAP_LIMIT_MB);
        const pointsLimit = limitParam("points_limit", POINTS_LIMIT);
        const mem = performance.memory;
        if (mem && mem.usedJSHeapSize >= heapLimitMb * 1048576) { return `Browser memory passed ${heapLimitMb} MB`; }
        if (heldPoints() >= pointsLimit) { return `The charts passed ${pointsLimit.toLocaleString()} points`; }
        return null;
    }

    function purgeIfHeavy(now) {
        if (now - state.lastPurge < PURGE_COOLDOWN_MS) { return; }
        const reason = tooHeavy();
        if (!reason) { return; }
        state.lastPurge = now;
        let dropped = 0;
        document.querySelectorAll(".ngd-chart").forEach(graph => {
            const plot = graph.querySelector(".js-plotly-plot");
            if (!plot || !plot.data) { return; }
            const data = plot.data.map(t => {
                const n = (t.x || []).length, cut = Math.floor(n / 2);
                if (n < 2) { return t; }
                dropped += cut;
                const out = Object.assign({}, t, {x: Array.from(t.x).slice(cut), y: Array.from(t.y).slice(cut)});
                if (Array.isArray(t.customdata)) { out.customdata = t.customdata.slice(cut); }
                return out;
            });
            setProps(graph.id, {figure: {data: data, layout: plot.layout}});
        });
        state.purges += 1;
        setProps("memory", {children: `${reason}: dropped the oldest ${dropped.toLocaleString()} ` +
            `points from the charts (purge ${state.purges}). Nothing is lost on the server: reload to see them again.`});
    }

    /* Dash keeps an undo history of callback inputs that change outside a callback response
       (store.history.past, for its optional undo/redo buttons, which this app does not show) and never
       trims it. While a callback read the pushed points, every push ever received stayed in memory
       (about 0.35 MB/s at 10 pushes/s); the pushed figures and the page's inputs (the focus, the
       width) still go there. Forget it with each feed. */
    function forgetUndoHistory() {
        const store = window.store, history = store && store.getState && store.getState().history;
        if (history && Array.isArray(history.past) && history.past.length) { history.past.length = 0; }
    }

    function onFeed(feed) {
        if (!feed) { return; }
        state.cursor = feed.cursor;
        state.lastPulse = Date.now();
        state.serverTime = feed.at;
        state.pulses += 1;
        setTimeout(() => badge(Date.now()), 0);  // it may set props: after the page's scripts have the feed
        window.dispatchEvent(new CustomEvent("ngd-feed", {detail: feed}));
        forgetUndoHistory();
    }

    /* Dash's worker posts every server message to the page through its port. Feeds go to onFeed,
       after the other props of the same batch have reached Dash (a push's figures come before the
       points that extend them); the rest goes on to Dash. When the connection is up again, the store
       gets the tab's cursor before Dash hears of it, since Dash then starts the pusher, which reads it. */
    function isFeed(payload) { return !!payload && payload.componentId === FEED; }

    function route(event, dash) {
        const message = event.data || {};
        if (message.type === "connected" && state.cursor) { setProps(FEED, {data: {cursor: state.cursor}}); }
        let feeds = [];
        if (message.type === "set_props" && isFeed(message.payload)) {
            feeds = [message.payload];
        } else if (message.type === "set_props_batch" && Array.isArray(message.payload) && message.payload.some(isFeed)) {
            feeds = message.payload.filter(isFeed);
            const rest = message.payload.filter(p => !isFeed(p));
            if (rest.length) { dash({data: Object.assign({}, message, {payload: rest})}); }
        } else {
            return dash(event);
        }
        feeds.forEach(p => onFeed((p.props || {}).data));
    }

    function divertFeeds() {
        const Native = window.SharedWorker, onmessage = Object.getOwnPropertyDescriptor(MessagePort.prototype, "onmessage");
        if (!Native || !onmessage) { return; }  // no SharedWorker: Dash's callbacks go over HTTP, with no push
        function SharedWorker(url, options) {
            const worker = new Native(url, options), port = worker.port;
            Object.defineProperty(port, "onmessage", {
                configurable: true,
                get() { return onmessage.get.call(port); },
                set(dash) { onmessage.set.call(port, typeof dash === "function" ? event => route(event, dash) : dash); },
            });
            return worker;
        }
        SharedWorker.prototype = Native.prototype;
        window.SharedWorker = SharedWorker;
    }

    document.addEventListener("visibilitychange", () => {
        const visible = document.visibilityState !== "hidden";
        if (visible && state.lastPulse !== null) { state.lastPulse = Math.max(state.lastPulse, Date.now() - LIVE_MS / 2); }
        setProps("visible", {data: visible});
    });

    setInterval(() => {
        if (document.visibilityState === "hidden") { return; }
        const now = Date.now();
        badge(now);
        chartWidth();
        purgeIfHeavy(now);
    }, 1000);
    divertFeeds();
    state.rates = {DEFAULT_HZ: DEFAULT_HZ, MAX_HZ: MAX_HZ};
})();
