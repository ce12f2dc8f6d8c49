"""Every component id of the app, in one place."""

URL = "url"
RUN_SELECT = "run-select"
RUN_POLL = "run-poll"
TICK = "tick"
WATCH = "watch"
RATE = "rate"
CURSOR = "cursor"
HEARTBEAT = "heartbeat"
CONNECTION = "connection"
KPIS = "kpis"
SAMPLE = "sample"


def chart(name: str) -> str:
    return f"chart-{name}"
