/* nanogpt_dash: accessible names that Dash's own components cannot be given from Python.

   Dash 4's dcc.Slider has no aria props: its thumb (role="slider") and its number box have no
   name, so a screen reader says "slider" and nothing else. Each slider of ours has a
   <label for="the slider's id">; this names the thumb and the box after that label
   (aria-labelledby), and again whenever Dash draws a slider anew (another page, a new layout). */
(function () {
    "use strict";
    const PARTS = ".dash-slider-thumb, input.dash-input-container";

    function nameSliders() {
        document.querySelectorAll(".dash-slider-container[id]").forEach(slider => {
            const label = document.querySelector(`label[for="${CSS.escape(slider.id)}"]`);
            if (!label) { return; }
            if (!label.id) { label.id = slider.id + "-label"; }
            slider.querySelectorAll(PARTS).forEach(part => {
                if (part.getAttribute("aria-labelledby") !== label.id) { part.setAttribute("aria-labelledby", label.id); }
            });
        });
    }

    // at most one look per frame, however many nodes changed (a live chart changes many)
    let pending = false;
    function schedule() {
        if (pending) { return; }
        pending = true;
        window.requestAnimationFrame(() => { pending = false; nameSliders(); });
    }

    function start() {
        nameSliders();
        new MutationObserver(schedule).observe(document.body, {childList: true, subtree: true});
    }
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
