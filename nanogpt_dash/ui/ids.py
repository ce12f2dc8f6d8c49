"""Every component id of the app, in one place."""

TAB = "tab"  # a new id per page load: one push channel per tab
DATA = "data-signal"
QUERY = "query"
VIEW = "view"  # what the page shows, for the server's pusher
VISIBLE = "visible"  # assets/push.js sets it by this name
RECONNECT = "reconnect"  # assets/push.js sets it by this name
RUN_SELECT = "run-select"
PULSE = "pulse"  # the server bumps its text; assets/push.js watches it
RATE = "rate"
CURSOR = "cursor"
CONNECTION = "connection"  # assets/push.js sets its label
KPIS = "kpis"
SAMPLE = "sample"
X_MODE = "x-mode"
SMOOTHING = "smoothing"
VIEW_OPTIONS = "view-options"
WIDTH = "chart-width"
ZOOM = "zoom"
POINTS = "points"  # new chart points, pushed; assets/charts.js draws them
RESYNC = "resync"  # assets/charts.js sets it when it missed points
ALERTS = "alerts"
MEMORY = "memory"


def chart(name: str) -> str:
    return f"chart-{name}"


def nav(path: str) -> str:
    """The navbar link to the page at `path`."""
    return "nav-" + (path.strip("/") or "live")
