"""A view of runs, frozen: its charts as drawn, key numbers, configuration and latest sample.

`capture_view` freezes what a page shows (from the LiveStore and the page's URL query);
`render_html` turns it into one self-contained HTML file (Plotly inlined, no request to any
server or network) that opens by double-click. Snapshots (snapshot.py) store the same content.
"""

from __future__ import annotations

import html
import json
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from plotly.io.json import to_json_plotly
from plotly.offline import get_plotlyjs

from .analytics import format_duration, progress
from .export import json_safe
from .images import ChartView, chart_figure, series_from_store
from .live import LiveStore
from .ui.figures import CHARTS, run_color
from .ui.query import query_runs
from .views import X_MODES, from_axis


@dataclass
class RunCard:
    """What a frozen view says about one run."""

    run_id: str
    name: str
    color: str
    status: str
    numbers: list[tuple[str, str]]
    config: dict[str, Any]
    model_args: dict[str, Any]
    sample: str | None = None
    sample_step: int | None = None


@dataclass
class ViewContent:
    """A frozen view: the URL query it came from, its runs, and each chart's figure (Plotly JSON)."""

    title: str
    created: float
    query: dict[str, str]
    runs: list[RunCard]
    charts: list[tuple[str, str]] = field(default_factory=list)  # (chart name, figure as JSON text)

    def to_json(self) -> str:
        """The content as JSON text (figures stay JSON strings inside it)."""
        return json.dumps(json_safe(asdict(self)), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "ViewContent":
        """Read back what to_json wrote."""
        data = json.loads(text)
        runs = [RunCard(**{**r, "numbers": [tuple(n) for n in r["numbers"]]}) for r in data["runs"]]
        return cls(title=data["title"], created=data["created"], query=data["query"], runs=runs,
                   charts=[tuple(c) for c in data["charts"]])


def chart_views(query: dict[str, Any]) -> dict[str, ChartView]:
    """Each chart's view from a page's URL query (runs, x, smooth, log, superseded, zoom_<chart>)."""
    x = query.get("x") if query.get("x") in X_MODES else "step"
    try:
        smooth = min(0.99, max(0.0, float(query.get("smooth", 0) or 0)))
    except (TypeError, ValueError):
        smooth = 0.0
    views = {}
    for chart in CHARTS:
        x_range = None
        bounds = str(query.get(f"zoom_{chart.name}", "")).split(",")
        if len(bounds) == 2 and all(bounds):
            try:
                lo, hi = (from_axis(x, b if x == "wall" else float(b)) for b in bounds)
                x_range = (min(lo, hi), max(lo, hi))
            except ValueError:
                x_range = None
        views[chart.name] = ChartView(x_axis=x, smoothing=smooth, log_y=query.get("log") == "1",
                                      superseded=query.get("superseded") == "1", x_range=x_range)
    return views


def run_card(store: LiveStore, run_id: str) -> RunCard | None:
    """Key numbers, configuration and latest sample of a run in the store (None when it is not loaded)."""
    run = store.get(run_id)
    if run is None or run.meta is None:
        return None
    p = progress(store, run_id)

    def number(value: float | None, fmt: str = ".4f") -> str:
        return "–" if value is None else format(value, fmt)

    numbers = [("status", p.status),
               ("step", "–" if p.step is None else f"{p.step:,}" + (f" / {p.max_iters:,}" if p.max_iters else "")),
               ("train loss", number(p.train_loss)), ("best val loss", number(p.best_val_loss)),
               ("iterations/s", number(p.iters_per_sec, ".2f")), ("tokens/s", number(p.tokens_per_sec, ",.0f")),
               ("elapsed", format_duration(p.elapsed_s))]
    samples = store.events(run_id, "sample")
    return RunCard(run_id=run_id, name=run.meta.name, color=run_color(run_id, run.meta.ordinal), status=p.status, numbers=numbers,
                   config=run.meta.config, model_args=run.meta.model_args,
                   sample=str(samples[-1].payload.get("text", "")) if samples else None,
                   sample_step=samples[-1].step if samples else None)


def capture_view(store: LiveStore, query: dict[str, Any], width_px: int = 900) -> ViewContent:
    """Freeze the view a URL query describes: every chart that has points, and a card per run."""
    run_ids = [r for r in query_runs(query) if store.get(r) is not None]
    views = chart_views(query)
    charts = []
    for chart in CHARTS:
        series = series_from_store(store, run_ids, chart.keys)
        if series:
            figure = chart_figure(chart, series, views[chart.name], width_px)
            figure["layout"].pop("uirevision", None)
            charts.append((chart.name, to_json_plotly(figure)))
    cards = [card for card in (run_card(store, r) for r in run_ids) if card is not None]
    title = "nanogpt_dash · " + (", ".join(c.name for c in cards) or "no runs")
    clean_query = {str(k): str(v) for k, v in query.items() if isinstance(v, (str, int, float))}
    return ViewContent(title=title, created=time.time(), query=clean_query, runs=cards, charts=charts)


def _script_json(text: str) -> str:
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _table(rows: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Liberation Sans", Arial, sans-serif; margin: 0;
       color: #212529; background: #f8f9fa; }
header { background: #212529; color: white; padding: 12px 20px; }
header h1 { font-size: 18px; margin: 0; } header p { margin: 4px 0 0; font-size: 13px; color: #ced4da; }
main { padding: 16px 20px; max-width: 1400px; }
.banner { background: #fff3cd; border: 1px solid #ffe69c; border-radius: 6px; padding: 10px 14px; margin-bottom: 14px;
          font-size: 14px; overflow-wrap: anywhere; } .banner code { background: #fff; padding: 1px 4px; border-radius: 3px; }
.runs { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 14px; }
.card { min-width: 0; background: white; border: 1px solid #dee2e6; border-radius: 6px; padding: 10px 14px; flex: 1 1 320px; }
.card h2 { font-size: 15px; margin: 0 0 8px; } .swatch { display: inline-block; width: 12px; height: 12px;
          border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
table { border-collapse: collapse; font-size: 13px; } th { text-align: left; font-weight: 500; color: #6c757d;
          padding: 2px 12px 2px 0; } td { padding: 2px 0; font-variant-numeric: tabular-nums; }
details { margin-top: 8px; font-size: 13px; } pre { white-space: pre-wrap; background: #f1f3f5; padding: 8px;
          border-radius: 4px; font-size: 12px; max-height: 240px; overflow: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(520px, 100%), 1fr)); gap: 12px; }
.chart { background: white; border: 1px solid #dee2e6; border-radius: 6px; height: 380px; }
footer { font-size: 12px; color: #6c757d; padding: 12px 20px; }
"""


def render_html(content: ViewContent, banner: str = "") -> str:
    """One self-contained HTML page of the view: Plotly inlined, nothing fetched from anywhere."""
    taken = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(content.created))
    cards = []
    for card in content.runs:
        config = html.escape(json.dumps(json_safe(card.config), indent=1, sort_keys=True))
        model_args = html.escape(json.dumps(json_safe(card.model_args), indent=1, sort_keys=True))
        sample = (f"<details open><summary>Latest sample (step {card.sample_step:,})</summary>"
                  f"<pre>{html.escape(card.sample)}</pre></details>" if card.sample is not None
                  else "<p><small>No text sample.</small></p>")
        cards.append(
            f'<section class="card ngd-report-run"><h2><span class="swatch" style="background:{html.escape(card.color)}">'
            f"</span>{html.escape(card.name)} <small>({html.escape(card.run_id)})</small></h2>"
            f"<table>{_table(card.numbers)}</table>{sample}"
            f"<details><summary>Configuration</summary><pre>{config}</pre></details>"
            f"<details><summary>Model args</summary><pre>{model_args}</pre></details></section>")
    divs = "".join(f'<div class="chart" id="chart-{i}"></div>' for i in range(len(content.charts)))
    data = "".join(f'<script type="application/json" id="figure-{i}">{_script_json(figure)}</script>'
                   for i, (_, figure) in enumerate(content.charts))
    draw = """
document.querySelectorAll('script[id^="figure-"]').forEach(function (el) {
  var fig = JSON.parse(el.textContent), div = document.getElementById('chart-' + el.id.slice(7));
  fig.layout.autosize = true; delete fig.layout.width; delete fig.layout.height;
  Plotly.newPlot(div, fig.data, fig.layout, {displaylogo: false, responsive: true,
    modeBarButtonsToRemove: ['sendDataToCloud', 'editInChartStudio']});
});"""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(content.title)}</title><style>{STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>{html.escape(content.title)}</h1><p>Frozen view taken {html.escape(taken)} on "
        f"{html.escape(socket.gethostname())}: it does not change as the runs go on.</p></header>"
        f"<main>{banner}<div class=\"runs\">{''.join(cards)}</div><div class=\"charts\">{divs}</div></main>"
        f"<footer>Made by nanogpt_dash. View: {html.escape(json.dumps(content.query))}</footer>"
        f"{data}<script>{draw}</script></body></html>\n")
