"""Charts as publication images (PNG, SVG, PDF), rendered on the server by kaleido's headless Chromium.

A chart is built as the page draws it (runs, smoothing, x axis, range, log scale) with the pure
builders of views.py and ui/figures.py, then optionally restyled for print. One Chromium is started
once and kept warm in a background event loop; several images render at once, one per tab.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import NanogptDashError
from .export import ExportQuery, run_frame, tokens_per_step
from .store import RunMeta
from .ui.figures import CHARTS, Chart, build_figure, error_trace, line_trace, run_color, smooth_trace, superseded_trace
from .views import X_MODES, budget_for_width, prepare, x_values

IMAGE_FORMATS = ("png", "svg", "pdf")
THEMES = ("print", "screen")
PRINT_FONT = "Liberation Sans"
START_TIMEOUT_S = 60.0
RENDER_TIMEOUT_S = 60.0
MAX_PIXELS = 40_000_000
RELOAD_EVERY = 25  # images per kaleido tab between page reloads


class ImageError(NanogptDashError):
    """A chart could not be rendered as an image (the message names the cause and the fix)."""


@dataclass(frozen=True)
class ChartView:
    """How a chart is drawn: x axis, smoothing, log y, superseded points, visible x range (x-axis units)."""

    x_axis: str = "step"
    smoothing: float = 0.0
    log_y: bool = False
    superseded: bool = False
    x_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class ImageOptions:
    """Format, size in CSS pixels, scale (PNG pixels per CSS pixel) and theme of one image."""

    format: str = "png"
    width: int = 900
    height: int = 500
    scale: float = 2.0
    theme: str = "print"

    def check(self) -> None:
        """Raise ImageError naming the first option out of range."""
        if self.format not in IMAGE_FORMATS:
            raise ImageError(f"unknown image format {self.format!r}: use one of {', '.join(IMAGE_FORMATS)}")
        if self.theme not in THEMES:
            raise ImageError(f"unknown theme {self.theme!r}: use one of {', '.join(THEMES)}")
        if not (100 <= self.width <= 8000 and 100 <= self.height <= 8000):
            raise ImageError(f"image size {self.width}x{self.height} is out of range: width and height 100..8000")
        if not 0.25 <= self.scale <= 10 or self.width * self.height * self.scale ** 2 > MAX_PIXELS:
            raise ImageError(f"scale {self.scale} is out of range: 0.25..10 and at most {MAX_PIXELS:,} pixels")


@dataclass
class SeriesData:
    """One metric of one run at full resolution, with the run facts the x axis needs."""

    run_id: str
    name: str
    key: str
    start: float
    tokens_per_step: int | None
    step: np.ndarray
    value: np.ndarray
    wall_time: np.ndarray
    old: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # superseded (step, value, wall_time)
    ordinal: int | None = None  # the run's number in its runs folder, for its colour


def run_start(meta: RunMeta) -> float:
    """When a run's first segment started (the origin of the 'relative' x axis)."""
    return meta.segments[0].started if meta.segments else meta.created


def series_from_files(run_dirs: Sequence[Path], keys: Iterable[str]) -> list[SeriesData]:
    """Every (run, key) series of the run files, in run then key order (keys without points are left out)."""
    keys = tuple(keys)
    out = []
    for run_dir in run_dirs:
        frame, meta = run_frame(run_dir, ExportQuery(keys=keys))
        for key in keys:
            rows = frame[frame["key"] == key]
            if not len(rows):
                continue
            hidden = rows["superseded"].to_numpy()
            columns = [rows[c].to_numpy() for c in ("step", "value", "wall_time")]
            out.append(SeriesData(run_dir.name, meta.name, key, run_start(meta), tokens_per_step(meta.config),
                                  *(c[~hidden] for c in columns), old=tuple(c[hidden] for c in columns),
                                  ordinal=meta.ordinal))
    return out


def series_from_store(store: Any, run_ids: Sequence[str], keys: Iterable[str]) -> list[SeriesData]:
    """The same series from a running dashboard's LiveStore (what the page draws)."""
    out = []
    for run_id in run_ids:
        run = store.get(run_id)
        if run is None or run.meta is None:
            continue
        for key in keys:
            v, s = store.view(run_id, key), store.superseded(run_id, key)
            if v is None or not len(v.step) and not len(s.step):
                continue
            out.append(SeriesData(run_id, run.meta.name, key, run_start(run.meta), tokens_per_step(run.meta.config),
                                  v.step, v.value.astype(np.float64), v.wall_time,
                                  old=(s.step, s.value.astype(np.float64), s.wall_time), ordinal=run.meta.ordinal))
    return out


def chart_figure(chart: Chart, series: Sequence[SeriesData], view: ChartView = ChartView(), width_px: int = 900) -> dict:
    """The chart's full figure as the page draws it, with vector (not WebGL) traces."""
    lines, smooths, olds, errors = [], [], [], []
    downsampled = False
    budget = budget_for_width(width_px)
    for s in series:
        x = x_values(view.x_axis, s.step, s.wall_time, s.tokens_per_step, s.start)
        shown, _ = prepare(x, s.value, s.step, s.wall_time, budget=budget, smoothing=view.smoothing,
                           x_range=view.x_range)
        color = run_color(s.run_id, s.ordinal)
        lines.append(line_trace(s.run_id, s.name, s.key, shown, view.smoothing, color))
        if view.smoothing > 0:
            smooths.append(smooth_trace(s.run_id, s.name, s.key, shown, color))
        if view.superseded and s.old is not None:
            step, value, wall = s.old
            old, _ = prepare(x_values(view.x_axis, step, wall, s.tokens_per_step, s.start), value, step, wall,
                             budget=budget, x_range=view.x_range)
            olds.append(superseded_trace(s.run_id, s.name, s.key, old, color))
        errors += [error_trace(s.run_id, s.name, s.key, kind, points, color) for kind, points in shown.nonfinite.items()]
        downsampled |= shown.downsampled
    note = "downsampled (MinMaxLTTB)" if downsampled else None
    figure = build_figure(chart, lines + smooths + olds + errors, view.x_axis, view.log_y, note)
    for trace in figure["data"]:
        if trace["type"] == "scattergl":
            trace["type"] = "scatter"
    if view.x_range is not None:
        figure["layout"]["xaxis"]["range"] = list(view.x_range)
    return figure


def print_theme(figure: dict, font: str = PRINT_FONT) -> dict:
    """The figure restyled for paper: black text in one embedded font, thin black axes, light grid."""
    layout = figure["layout"]
    axis_look = {"showline": True, "linecolor": "black", "linewidth": 1, "ticks": "outside", "tickcolor": "black",
                 "gridcolor": "#e5e5e5", "mirror": False}
    title = layout["title"]["text"].split("  <span")[0]
    layout = {
        **layout,
        "font": {"family": font, "size": 13, "color": "black"},
        "title": {**layout["title"], "text": title, "font": {"family": font, "size": 15, "color": "black"}},
        "xaxis": {**layout["xaxis"], **axis_look},
        "yaxis": {**layout["yaxis"], **axis_look},
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.0, "yanchor": "bottom",
                   "font": {"family": font, "size": 12, "color": "black"}},
        "margin": {"l": 70, "r": 20, "t": 60, "b": 50},
        "paper_bgcolor": "white", "plot_bgcolor": "white",
    }
    layout["yaxis"].pop("automargin", None)
    layout["xaxis"]["automargin"] = layout["yaxis"]["automargin"] = True
    smoothed = any(t["meta"]["role"] == "smooth" for t in figure["data"])
    data = []
    for trace in figure["data"]:
        trace = dict(trace)
        if smoothed and trace["meta"]["role"] in ("line", "smooth"):  # the legend names the bold line
            trace["showlegend"] = trace["meta"]["role"] == "smooth"
            trace["name"] = trace["name"].replace(" (smoothed)", "")
        data.append(trace)
    return {"data": data, "layout": layout}


def font_file(family: str = PRINT_FONT) -> Path:
    """The TrueType file of a font family, found with fontconfig; ImageError when it is not installed."""
    try:
        found = subprocess.run(["fc-match", "-f", "%{file}", f"{family}:style=Regular"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        raise ImageError(f"cannot look up the font {family!r} (fontconfig's fc-match: {e}); install fontconfig") from e
    path = Path(found)
    if not found or not path.is_file() or family.replace(" ", "") not in path.name.replace(" ", ""):
        raise ImageError(f"font {family!r} is not installed (found {found or 'nothing'}); "
                         "install it with: apt-get install fonts-liberation")
    return path


def embed_font(svg: bytes, family: str = PRINT_FONT) -> bytes:
    """The SVG with the font's file inside it (@font-face), so it looks the same where the font is missing."""
    data = base64.b64encode(font_file(family).read_bytes()).decode("ascii")
    style = (f'<style>@font-face {{ font-family: "{family}"; '
             f'src: url(data:font/ttf;base64,{data}) format("truetype"); }}</style>').encode()
    end = svg.index(b">", svg.index(b"<svg")) + 1
    return svg[:end] + style + svg[end:]


def chromium_path() -> str:
    """The Chromium that renders images: $CHROMIUM, else /usr/bin/chromium, else chromium on PATH."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise ImageError("Chromium not found for rendering figures: install it (apt-get install chromium) "
                     "or set CHROMIUM to its path")


@dataclass
class Renderer:
    """One warm kaleido Chromium with `tabs` tabs, shared by every caller; thread-safe.

    A failure (Chromium missing or crashed, a render that times out) is raised as ImageError and
    the browser is restarted on the next call, so a retry works.
    """

    tabs: int = 2
    chromium: str | None = None
    render_timeout: float = RENDER_TIMEOUT_S
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _kaleido: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self) -> "Renderer":
        """Start Chromium now (the first image otherwise pays for it); idempotent."""
        with self._lock:
            if self._kaleido is not None:
                return self
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="nanogpt_dash-kaleido", daemon=True).start()
            path = self.chromium or chromium_path()
            future = asyncio.run_coroutine_threadsafe(self._open(path), self._loop)
            try:
                self._kaleido = future.result(START_TIMEOUT_S)
            except Exception as e:
                future.cancel()
                raise ImageError(f"cannot start Chromium ({path}) for figures: {type(e).__name__}: {e}. "
                                 "Check that chromium runs (chromium --headless --version), then retry") from e
        return self

    def start_in_background(self) -> None:
        """Start Chromium on a thread; a failure is raised again by the next render, with its cause."""
        def start() -> None:
            try:
                self.start()
            except ImageError:
                pass

        threading.Thread(target=start, name="nanogpt_dash-kaleido-start", daemon=True).start()

    async def _open(self, path: str) -> Any:
        kaleido = _kaleido_class()(n=self.tabs, path=path, mathjax=False, timeout=self.render_timeout)
        await kaleido.open()
        return kaleido

    def render(self, figure: dict, options: ImageOptions) -> bytes:
        """One image's bytes."""
        return self.render_many([(figure, options)])[0]

    def render_many(self, jobs: Sequence[tuple[dict, ImageOptions]]) -> list[bytes]:
        """Several images at once (one per free tab), in the order asked."""
        for _, options in jobs:
            options.check()
        kaleido = self.start()._kaleido

        async def all_of() -> list[bytes]:
            return await asyncio.gather(*(kaleido.calc_fig(fig, _kaleido_opts(options)) for fig, options in jobs))

        future = asyncio.run_coroutine_threadsafe(all_of(), self._loop)
        try:
            images = future.result(self.render_timeout * max(1, len(jobs)))
        except Exception as e:
            future.cancel()
            self.restart_later()
            raise ImageError(f"rendering with kaleido failed: {type(e).__name__}: {e or 'no message'}. "
                             "The renderer restarts on the next try: retry") from e
        return [embed_font(img) if options.format == "svg" and options.theme == "print" else img
                for img, (_, options) in zip(images, jobs)]

    def restart_later(self) -> None:
        """Close the browser; the next render starts a fresh one."""
        with self._lock:
            kaleido, self._kaleido = self._kaleido, None
        if kaleido is not None and self._loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(kaleido.close(), self._loop).result(20)
            except Exception:  # a browser that already died cannot be closed; its process is gone
                pass

    def stop(self) -> None:
        """Close the browser and the loop thread."""
        self.restart_later()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None


def _kaleido_class() -> type:
    from kaleido import Kaleido

    class WarmKaleido(Kaleido):
        """Kaleido 1.5 reloads a tab (plotly.js parsed again) after every image, before it returns the
        image: two thirds of a warm render here. This reloads a tab after every RELOAD_EVERY images
        instead. (A kaleido without this private hook keeps its own behaviour.)"""

        _renders: dict = {}

        async def _return_kaleido_tab(self, tab: Any) -> None:
            count = self._renders[id(tab)] = self._renders.get(id(tab), 0) + 1
            if count % RELOAD_EVERY == 0:
                await super()._return_kaleido_tab(tab)
            else:
                await self.tabs_ready.put(tab)

    return WarmKaleido


def _kaleido_opts(options: ImageOptions) -> dict:
    scale = options.scale if options.format == "png" else 1  # vector formats: the size is in points, not pixels
    return {"format": options.format, "width": options.width, "height": options.height, "scale": scale}


def styled(figure: dict, options: ImageOptions) -> dict:
    """The figure in the options' theme."""
    return print_theme(figure) if options.theme == "print" else figure


def chart_by_name(name: str) -> Chart:
    """The chart called `name` (loss, lr, grad_norm, throughput)."""
    for chart in CHARTS:
        if chart.name == name:
            return chart
    raise ImageError(f"unknown chart {name!r}: use one of {', '.join(c.name for c in CHARTS)}")


def run_figures(series_for: Any, charts: Sequence[Chart], view: ChartView, options: ImageOptions
                ) -> list[tuple[Chart, dict]]:
    """(chart, styled figure) of each chart that has points; `series_for(keys)` gives a chart's series."""
    if view.x_axis not in X_MODES:
        raise ImageError(f"unknown x axis {view.x_axis!r}: use one of {', '.join(X_MODES)}")
    out = []
    for chart in charts:
        series = series_for(chart.keys)
        if series:
            out.append((chart, styled(chart_figure(chart, series, view, options.width), options)))
    return out


def write_run_figures(renderer: Renderer, run_dirs: Sequence[Path], out_dir: Path, view: ChartView,
                      options: ImageOptions, charts: Sequence[Chart] = CHARTS,
                      protected: Iterable[Path] = ()) -> list[Path]:
    """Every chart of the runs that has points, as `<chart>.<format>` in out_dir; returns the files written."""
    from .files import OutputError, check_outside_runs, write_bytes

    options.check()
    protected = [*protected, *run_dirs]
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} is not a folder: give a folder for the images")
    check_outside_runs(out_dir, protected)
    loaded = series_from_files(run_dirs, dict.fromkeys(k for chart in charts for k in chart.keys))  # each run read once
    figures = run_figures(lambda keys: [s for s in loaded if s.key in keys], charts, view, options)
    if not figures:
        raise ImageError(f"nothing to draw: {', '.join(p.name for p in run_dirs)} logged none of the charts' metrics")
    images = renderer.render_many([(figure, options) for _, figure in figures])
    try:
        out_dir.mkdir(exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create folder {out_dir}: {e.strerror}") from e
    return [write_bytes(out_dir / f"{chart.name}.{options.format}", image, protected)
            for (chart, _), image in zip(figures, images)]

