/* nanogpt_dash: new text for the Live page's key-number cards, pushed by the server in the shell's
   feed (ids.FEED, "page"."kpis": [[card index, text], ...]; ui/pages/live.py KpiTexts).

   The server sends the cards themselves (Dash components) when they first show and whenever more
   than their text changes; from then on, at most once a second, only the text of the numbers that
   changed, which this script writes into the cards. A new `children` would make Dash mount the
   forty-odd components of the cards again; text written into them costs next to nothing. React
   leaves the text alone: it draws these cards again only when the server sends new ones. */
(function () {
    "use strict";
    const KPIS = "kpis";  // ids.KPIS

    window.addEventListener("ngd-feed", event => {
        const texts = ((event.detail || {}).page || {}).kpis;
        if (!Array.isArray(texts) || !texts.length) { return; }
        const values = document.querySelectorAll(`#${KPIS} .ngd-kpi-value`);
        texts.forEach(([i, text]) => {
            if (values[i] && values[i].textContent !== text) { values[i].textContent = text; }
        });
    });
})();
