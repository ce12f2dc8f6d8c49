"""Every component id of the app, in one place."""

URL = "url"
TAB = "tab"  # a new id per page load: one push channel per tab
DATA = "data-signal"
QUERY = "query"
VIEW = "view"  # what the page shows, for the server's pusher
VISIBLE = "visible"  # assets/push.js sets it by this name
RECONNECT = "reconnect"  # assets/push.js sets it by this name
RUN_SELECT = "run-select"
RATE = "rate"
FEED = "feed"  # the server's update with every push and heartbeat: its clock, the tab's cursor, the page's data
CONNECTION = "connection"  # assets/push.js sets its label
KPIS = "kpis"
SAMPLE = "sample"
X_MODE = "x-mode"
SMOOTHING = "smoothing"
VIEW_OPTIONS = "view-options"
WIDTH = "chart-width"
ZOOM = "zoom"
RESYNC = "resync"  # assets/charts.js sets it when it missed points
ALERTS = "alerts"
FOCUS = "focus"  # which selected run the key numbers, sample and configuration are about
FOCUS_ROW = "focus-row"
CONFIG = "config"
MEMORY = "memory"
NOTICE = "notice"  # assets/push.js says there when this browser cannot get live updates
MAIN = "main"  # the page's <main>, where the skip link goes
THEME = "theme"  # auto, light or dark; assets/theme.js applies and remembers it
THEME_APPLIED = "theme-applied"  # the theme shown, light or dark (auto resolved); assets/theme.js sets it


def chart(name: str) -> str:
    return f"chart-{name}"


def nav(path: str) -> str:
    """The navbar link to the page at `path`."""
    return "nav-" + (path.strip("/") or "live")


# the Model page
MODEL_PULSE = "model-pulse"
MODEL_ASPECT = "model-aspect"
MODEL_SOURCE = "model-source"
MODEL_NOTE = "model-note"
MODEL_CONFIG = "model-config"
MODEL_TOTALS = "model-totals"
MODEL_EXPANDED = "model-expanded"
MODEL_GRAPH = "model-graph"
MODEL_DETAIL = "model-detail"
MODEL_TOGGLE = "model-toggle"
MODEL_EXPAND_ALL = "model-expand-all"
MODEL_COLLAPSE_ALL = "model-collapse-all"
MODEL_ZOOM_IN = "model-zoom-in"
MODEL_ZOOM_OUT = "model-zoom-out"
MODEL_FIT = "model-fit"
MODEL_STAT = "model-stat"
MODEL_STEP = "model-step"
MODEL_STEP_LABEL = "model-step-label"
MODEL_STEP_BOX = "model-step-box"
MODEL_FOLLOW = "model-follow"
MODEL_LEGEND = "model-legend"
MODEL_HEATMAP_STAT = "model-heatmap-stat"
MODEL_HEATMAP = "model-heatmap"
MODEL_HEATMAP_SEEN = "model-heatmap-seen"
MODEL_ATTN_STEP = "model-attn-step"
MODEL_ATTN_LABEL = "model-attn-label"
MODEL_ATTN_GRID = "model-attn-grid"
MODEL_ATTN_LAYER = "model-attn-layer"
MODEL_ATTN_HEAD = "model-attn-head"
MODEL_ATTN_FOCUS = "model-attn-focus"
MODEL_ATTN_SEEN = "model-attn-seen"
MODEL_STYLES = "model-styles"
MODEL_THEME = "model-theme"


def model_field(name: str) -> str:
    """An input of the Model page's configuration explorer (n_layer, n_head, ...)."""
    return f"model-field-{name}"

# the export menu (ui/export_menu.py)
EXPORT_OPEN = "export-open"
EXPORT_MODAL = "export-modal"
EXPORT_DOWNLOAD = "export-download"
EXPORT_LAST = "export-last"
EXPORT_HOST = "export-host"
EXPORT_ALERT = "export-alert"
EXPORT_MESSAGE = "export-message"
EXPORT_RETRY = "export-retry"
EXPORT_BUSY = "export-busy"
EXPORT_DATA = "export-data"
EXPORT_DATA_FORMAT = "export-data-format"
EXPORT_DATA_FORM = "export-data-form"
EXPORT_DATA_FLAGS = "export-data-flags"
EXPORT_FIGURE = "export-figure"
EXPORT_FIG_CHART = "export-fig-chart"
EXPORT_FIG_FORMAT = "export-fig-format"
EXPORT_FIG_WIDTH = "export-fig-width"
EXPORT_FIG_HEIGHT = "export-fig-height"
EXPORT_FIG_SCALE = "export-fig-scale"
EXPORT_FIG_THEME = "export-fig-theme"
EXPORT_SHARE_URL = "export-share-url"
EXPORT_SHARE_COPY = "export-share-copy"
EXPORT_SHARE_HINT = "export-share-hint"
EXPORT_SNAPSHOT = "export-snapshot"
EXPORT_SNAPSHOT_LINK = "export-snapshot-link"
EXPORT_SNAPSHOTS = "export-snapshots"
EXPORT_SNAPSHOT_DELETE = "export-snapshot-delete"  # dict id type, with the token
EXPORT_REPORT = "export-report"
EXPORT_ARCHIVE = "export-archive"
EXPORT_ARCHIVE_RUN = "export-archive-run"
EXPORT_ARCHIVE_FLAGS = "export-archive-flags"
EXPORT_UPLOAD = "export-upload"
EXPORT_IMPORT_NAME = "export-import-name"

# Analysis page
ANA_RUN = "analysis-run"
ANA_VELOCITY = "analysis-velocity"
ANA_CONVERGENCE = "analysis-convergence"
ANA_ANOMALIES = "analysis-anomalies"
ANA_ANOMALY = "analysis-anomaly"  # dict id {"type": ANA_ANOMALY, "index": step} per listed event
ANA_FOCUS = "analysis-focus"
ANA_LISTED = "analysis-listed"  # what the anomaly list shows (run, events, focus): unchanged lists are not resent
ANA_SUMMARY = "analysis-summary"
ANA_TARGET = "analysis-target"
ANA_TIME_TO = "analysis-time-to"
ANA_SAMPLE_STEP = "analysis-sample-step"
ANA_SAMPLE = "analysis-sample"
ANA_LOSS = chart("analysis-loss")
ANA_SYSTEM = chart("analysis-system")

# Compare page
CMP_RUNS = "compare-runs"
CMP_METRIC = "compare-metric"
CMP_X = "compare-x"
CMP_SMOOTH = "compare-smooth"
CMP_OVERLAY = chart("compare-overlay")
CMP_SIDE = "compare-side"  # dict id {"type": CMP_SIDE, "index": run_id} per side-by-side chart
CMP_SIDE_ROW = "compare-side-row"
CMP_DIFF = "compare-diff"
CMP_DIFF_ALL = "compare-diff-all"
CMP_SUMMARY = "compare-summary"
CMP_TARGET = "compare-target"
CMP_PARCOORDS = chart("compare-parcoords")
CMP_PARCOORDS_BOX = "compare-parcoords-box"
CMP_FILTER = "compare-filter"
CMP_ZOOM = "compare-zoom"
CMP_NOTE = "compare-note"
