"""The dashboard's pages, and the contract each one keeps.

A page is a module in this package that defines:

    PATH: str                      the URL path ("/" for Live, "/model", ...)
    NAME: str                      its label in the navbar
    ORDER: int                     its place in the navbar
    METRICS: frozenset[str]        the metric keys it reads from the LiveStore; the server keeps
                                   the union of every page's METRICS in memory, the rest stays in
                                   the run files; a key ending in '*' keeps every key with that
                                   prefix ('layers/*')
    def layout(**query) -> Component
        The page, built from the URL query (Dash pages passes each query parameter as a string
        keyword). Accept **_ for parameters of other pages. `ui.query.query_runs(query)` reads the
        selected runs (`?runs=a,b`, or the older `?run=a` that train.py prints).
    def register(app: Dash, store: LiveStore, analyses: RunAnalyses) -> None
        The page's own callbacks (`app.callback`), registered once at start-up. `analyses`
        (pages/analysis.py) is the one per app (ui/app.py build_app): each run's anomaly detector,
        fed as data arrives, and its latest analysis. Pages read anomalies and forecasts from it
        rather than computing their own, so detection runs once per run however many pages and
        tabs show it.

and may define

    def push(store: LiveStore, view: dict, cursor: dict | None, scratch: dict, *, analyses: RunAnalyses) -> Push
        What one tab showing the page lacks (ui/push.py): the shell runs it whenever a run the tab
        watches changes. Without one, the page gets ids.DATA (below) and refreshes itself.

and is listed in PAGES below. The shell (ui/shell.py) around every page holds:

    ids.DATA    a dcc.Store the server pushes whenever a run changes: {"runs": {run_id: {"version":
                str, "rows": int, "status": str}}}. "version" changes when points already shown may
                be wrong (a resume, a replaced file); "rows" grows with every row read. A page that
                shows run data refreshes with Input(ids.DATA, "data") and compares with what it drew.
    ids.QUERY   a dcc.Store of the query parameters the current page wants in the URL, e.g.
                {"runs": "a,b", "x": "tokens"}. Write it (allow_duplicate=True, several pages
                do) whenever the page's view changes: the address bar, the navbar links and the
                back button follow, and a reload or a shared link rebuilds the same view.
    ids.RATE    the update-rate select (updates per second), for pages that pace themselves.

Ids come from ui/ids.py only; run colours from ui/live_charts.color_of (figures.run_color by the run's number).
"""

from __future__ import annotations

from types import ModuleType

from ..query import query_runs  # noqa: F401  (part of the page contract)
from . import analysis, compare, live, model

PAGES: tuple[ModuleType, ...] = (live, model, analysis, compare)


def metrics_needed() -> frozenset[str]:
    """The union of every page's METRICS: what the LiveStore keeps in memory."""
    return frozenset().union(*(page.METRICS for page in PAGES))
