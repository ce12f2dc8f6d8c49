/* nanogpt_dash: light and dark themes. The navbar's select (ids.THEME) chooses auto (the
   system's prefers-color-scheme), light or dark; the choice is kept in localStorage under
   "ngd-theme", which the page's <head> reads before the first paint (ui/app.py). The theme is
   Bootstrap's data-bs-theme on <html>; charts follow through assets/app.css, so nothing is
   drawn or fetched again. */
(function () {
    "use strict";
    const KEY = "ngd-theme";
    const CHOICES = ["auto", "light", "dark"];
    const system = window.matchMedia("(prefers-color-scheme: dark)");

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
        document.documentElement.setAttribute("data-bs-theme", dark ? "dark" : "light");
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
        },
    });
})();
