/* nanogpt_dash: light and dark themes. The navbar's select (ids.THEME) chooses auto (the
   system's prefers-color-scheme), light or dark; the choice is kept in localStorage under
   "ngd-theme", which the page's <head> reads before the first paint (ui/app.py). The theme is
   Bootstrap's data-bs-theme on <html>; Plotly charts follow through assets/app.css, so nothing is
   drawn or fetched again. What CSS cannot reach (the Model page's graph, drawn on a canvas) reads
   the shell's store "theme-applied", kept here as "light" or "dark" (auto resolved, and again
   whenever the system's theme changes while the choice is auto). */
(function () {
    "use strict";
    const KEY = "ngd-theme";
    const CHOICES = ["auto", "light", "dark"];
    const system = window.matchMedia("(prefers-color-scheme: dark)");
    const APPLIED = "theme-applied";  // ids.THEME_APPLIED

    function stored() {
        try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
    }
    function store(choice) {
        try {
            if (choice === "auto") { window.localStorage.removeItem(KEY); } else { window.localStorage.setItem(KEY, choice); }
        } catch (e) { /* private mode: the choice lasts as long as the page */ }
    }
    function apply(choice) {
        const dark = choice === "dark" || (choice !== "light" && system.matches);
        const theme = dark ? "dark" : "light";
        document.documentElement.setAttribute("data-bs-theme", theme);
        const dc = window.dash_clientside, layout = window.dash_component_api;
        try {  // getLayout throws until Dash has the layout (the store has no element to look for)
            if (dc && dc.set_props && layout && layout.getLayout(APPLIED)) { dc.set_props(APPLIED, {data: theme}); }
        } catch (e) { /* before Dash's layout: the first choose() sets it */ }
    }
    function applied() {
        return document.documentElement.getAttribute("data-bs-theme") === "dark" ? "dark" : "light";
    }

    let current = CHOICES.includes(stored()) ? stored() : "auto";
    let loaded = false;
    // the system's theme changes (e.g. at sunset) are followed while the choice is auto
    system.addEventListener("change", () => apply(current));

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        ngdTheme: {
            /* The select's value: on page load it shows the stored choice; afterwards it stores each new one. */
            choose: function (value) {
                if (!loaded) {
                    loaded = true;
                    apply(current);
                    return value === current ? window.dash_clientside.no_update : current;
                }
                if (!CHOICES.includes(value) || value === current) { return window.dash_clientside.no_update; }
                current = value;
                store(value);
                apply(value);
                return window.dash_clientside.no_update;
            },
            /* The shell's applied theme into a page's own store (a page's callbacks then never mix
               the shell's inputs with its own). */
            relay: function (theme) { return theme || applied(); },
            /* Of {light: x, dark: y}, the one for the theme shown. */
            pick: function (variants) {
                return variants ? variants[applied()] : window.dash_clientside.no_update;
            },
        },
    });
})();
