/* nanogpt_dash: the Model page's graph buttons (ClientsideFunction("ngdModel", name)).
   dash-cytoscape keeps its cytoscape instance on the container element; zooming about the
   centre of the view and fitting are calls on that instance. */
(function () {
    "use strict";
    function cyOf(id) {
        const root = document.getElementById(id);
        if (!root) { return null; }
        const holders = [root].concat(Array.from(root.querySelectorAll("div")));
        for (const el of holders) {
            if (el._cyreg && el._cyreg.cy) { return el._cyreg.cy; }
        }
        return null;
    }
    function zoomBy(id, factor) {
        const cy = cyOf(id);
        if (cy) {
            cy.zoom({level: cy.zoom() * factor, renderedPosition: {x: cy.width() / 2, y: cy.height() / 2}});
        }
    }
    window.dash_clientside = window.dash_clientside || {};
    Object.assign(window.dash_clientside, {
        ngdModel: {
            aspect: function (id) {
                const el = document.getElementById(id);
                return el && el.clientWidth ? el.clientHeight / el.clientWidth : null;
            },
            zoomIn: function (n, id) { if (n) { zoomBy(id, 1.3); } return window.dash_clientside.no_update; },
            zoomOut: function (n, id) { if (n) { zoomBy(id, 1 / 1.3); } return window.dash_clientside.no_update; },
            fit: function (n, id) { const cy = cyOf(id); if (n && cy) { cy.fit(undefined, 24); } return window.dash_clientside.no_update; },
        },
    });
})();
