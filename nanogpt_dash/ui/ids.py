"""Every component id of the app, in one place."""

TAB = "tab"  # a new id per page load: one push channel per tab
DATA = "data-signal"
QUERY = "query"
RUN_SELECT = "run-select"
PULSE = "pulse"  # assets/ticker.js sets it by this name
WATCH = "watch"
RATE = "rate"  # assets/ticker.js reads it by this name
CURSOR = "cursor"
HEARTBEAT = "heartbeat"
CONNECTION = "connection"
KPIS = "kpis"
SAMPLE = "sample"
X_MODE = "x-mode"
SMOOTHING = "smoothing"
VIEW_OPTIONS = "view-options"
WIDTH = "chart-width"
ZOOM = "zoom"
ALERTS = "alerts"
MEMORY = "memory"


def chart(name: str) -> str:
    return f"chart-{name}"


def nav(path: str) -> str:
    """The navbar link to the page at `path`."""
    return "nav-" + (path.strip("/") or "live")
