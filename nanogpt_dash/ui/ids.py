"""Every component id of the app, in one place."""

URL = "url"
RUN_SELECT = "run-select"
RUN_POLL = "run-poll"
TICK = "tick"
PULSE = "pulse"
WATCH = "watch"
RATE = "rate"
CURSOR = "cursor"
HEARTBEAT = "heartbeat"
CONNECTION = "connection"
KPIS = "kpis"
SAMPLE = "sample"
X_MODE = "x-mode"
SMOOTHING = "smoothing"
VIEW_OPTIONS = "view-options"
WIDTH = "chart-width"
ALERTS = "alerts"
MEMORY = "memory"


def chart(name: str) -> str:
    return f"chart-{name}"
