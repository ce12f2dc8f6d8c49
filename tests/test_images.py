"""images.py: charts as the page draws them, rendered by a warm kaleido Chromium into PNG, SVG and PDF."""

from __future__ import annotations

import math
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pytest

from nanogpt_dash.__main__ import main
from nanogpt_dash.images import (ChartView, ImageError, ImageOptions, Renderer, chart_by_name, chart_figure,
                                 chromium_path, print_theme, series_from_files)
from nanogpt_dash.tracking import Run

CONFIG = {"batch_size": 4, "block_size": 8, "gradient_accumulation_steps": 1}


def chromium_or_skip() -> str:
    try:
        return chromium_path()
    except ImageError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def renderer():
    chromium_or_skip()
    r = Renderer(tabs=2).start()
    yield r
    r.stop()


@pytest.fixture
def runs(runs_dir: Path) -> Path:
    with Run(runs_dir / "alpha", name="lr 6e-4", config=CONFIG) as run:
        for step in range(200):
            run.log({"train/loss": 4.0 * math.exp(-step / 60) + 0.1 * math.sin(step), "lr": 6e-4,
                     "grad_norm": math.nan if step == 50 else 1.0, "tokens_per_sec": 1000.0 + step}, step=step)
            if step % 50 == 0:
                run.log({"val/loss": 4.0 * math.exp(-step / 60)}, step=step)
    with Run(runs_dir / "alpha", resume_step=150, config=CONFIG) as run:
        for step in range(150, 180):
            run.log({"train/loss": 0.5}, step=step)
    return runs_dir


def png_size(data: bytes) -> tuple[int, int]:
    """Decode a PNG's image data (all IDAT chunks, inflated) and return its (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color = header[:4]
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    assert len(zlib.decompress(idat)) == height * (1 + width * channels * depth // 8)
    return width, height


def test_the_figure_is_the_chart_as_the_page_draws_it(runs):
    series = series_from_files([runs / "alpha"], chart_by_name("loss").keys)
    view = ChartView(x_axis="tokens", smoothing=0.6, log_y=True, superseded=True, x_range=(320.0, 1600.0))
    figure = chart_figure(chart_by_name("loss"), series, view)
    roles = [(t["meta"]["key"], t["meta"]["role"]) for t in figure["data"]]
    assert roles == [("train/loss", "line"), ("val/loss", "line"), ("train/loss", "smooth"), ("val/loss", "smooth"),
                     ("train/loss", "superseded"), ("val/loss", "superseded")]
    line = figure["data"][0]
    assert list(line["x"]) == [32.0 * s for s in range(10, 51)]  # tokens axis, cut to the range
    assert figure["layout"]["yaxis"]["type"] == "log" and figure["layout"]["xaxis"]["range"] == [320.0, 1600.0]
    assert len(figure["data"][4]["x"]) == 0  # the superseded steps 150..199 lie outside the range
    whole = chart_figure(chart_by_name("loss"), series, ChartView(superseded=True))
    assert list(whole["data"][2]["x"]) == list(range(150, 200))


def test_charts_with_many_points_are_vector_traces(runs_dir):
    with Run(runs_dir / "big") as run:
        for step in range(6000):
            run.log({"train/loss": 1.0 / (step + 1)}, step=step)
    figure = chart_figure(chart_by_name("loss"), series_from_files([runs_dir / "big"], ("train/loss",)))
    assert figure["data"][0]["type"] == "scatter" and len(figure["data"][0]["x"]) == 6000


def test_nonfinite_values_keep_their_markers(runs):
    figure = chart_figure(chart_by_name("grad_norm"), series_from_files([runs / "alpha"], ("grad_norm",)))
    markers = [t for t in figure["data"] if t["meta"]["role"] == "errors"]
    assert [(t["meta"]["kind"], list(t["x"])) for t in markers] == [("NaN", [50])]


def test_print_theme_is_black_on_white_in_one_font_and_names_the_smoothed_line(runs):
    series = series_from_files([runs / "alpha"], ("train/loss",))
    figure = print_theme(chart_figure(chart_by_name("loss"), series, ChartView(smoothing=0.9)))
    assert figure["layout"]["font"] == {"family": "Liberation Sans", "size": 13, "color": "black"}
    assert figure["layout"]["paper_bgcolor"] == figure["layout"]["plot_bgcolor"] == "white"
    assert [(t["meta"]["role"], t["showlegend"]) for t in figure["data"]] == [("line", False), ("smooth", True)]


def test_png_decodes_at_the_requested_size(renderer, runs):
    series = series_from_files([runs / "alpha"], ("train/loss",))
    figure = print_theme(chart_figure(chart_by_name("loss"), series))
    assert png_size(renderer.render(figure, ImageOptions(format="png", width=640, height=360, scale=2))) == (1280, 720)


def test_several_images_render_at_once_each_with_its_own_options(renderer, runs):
    series = series_from_files([runs / "alpha"], ("train/loss",))
    figure = print_theme(chart_figure(chart_by_name("loss"), series))
    sizes = [(300 + 10 * i, 200 + 5 * i) for i in range(5)]
    images = renderer.render_many([(figure, ImageOptions(format="png", width=w, height=h, scale=1)) for w, h in sizes])
    assert [png_size(image) for image in images] == sizes


def test_svg_parses_as_xml_and_embeds_its_font(renderer, runs):
    series = series_from_files([runs / "alpha"], chart_by_name("loss").keys)
    figure = print_theme(chart_figure(chart_by_name("loss"), series))
    svg = renderer.render(figure, ImageOptions(format="svg", width=800, height=450))
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("viewBox") == "0 0 800 450"
    style = root.find(f"{ns}style").text
    assert '@font-face { font-family: "Liberation Sans"; src: url(data:font/ttf;base64,' in style
    texts = ["".join(t.itertext()) for t in root.iter(f"{ns}text")]
    assert "Loss" in texts and "lr 6e-4 · train loss" in texts


def test_pdf_embeds_its_font(renderer, runs):
    series = series_from_files([runs / "alpha"], ("train/loss",))
    pdf = renderer.render(print_theme(chart_figure(chart_by_name("loss"), series)), ImageOptions(format="pdf"))
    assert pdf.startswith(b"%PDF") and b"LiberationSans" in pdf and b"/FontFile2" in pdf


def test_a_missing_chromium_is_named_and_a_retry_after_the_fix_works(runs):
    real = chromium_or_skip()
    renderer = Renderer(tabs=1, chromium="/nonexistent/chromium")
    figure = chart_figure(chart_by_name("lr"), series_from_files([runs / "alpha"], ("lr",)))
    try:
        with pytest.raises(ImageError, match=r"cannot start Chromium \(/nonexistent/chromium\) for figures.*retry"):
            renderer.render(figure, ImageOptions(format="png", width=300, height=200, scale=1))
        renderer.chromium = real
        assert png_size(renderer.render(figure, ImageOptions(format="png", width=300, height=200, scale=1))) == (300, 200)
    finally:
        renderer.stop()


def test_a_failed_render_names_the_cause_and_the_retry_works(renderer, runs):
    figure = chart_figure(chart_by_name("lr"), series_from_files([runs / "alpha"], ("lr",)))
    kaleido = renderer.start()._kaleido
    original = kaleido.calc_fig

    async def crash(*args, **kwargs):
        raise RuntimeError("Chromium tab crashed")

    kaleido.calc_fig = crash
    with pytest.raises(ImageError, match="rendering with kaleido failed: RuntimeError: Chromium tab crashed.*retry"):
        renderer.render(figure, ImageOptions(format="svg"))
    assert renderer._kaleido is None and kaleido.calc_fig is crash  # the broken browser was let go
    kaleido.calc_fig = original
    assert ET.fromstring(renderer.render(figure, ImageOptions(format="svg"))) is not None


def test_options_out_of_range_are_refused_before_rendering():
    with pytest.raises(ImageError, match="unknown image format 'gif'"):
        ImageOptions(format="gif").check()
    with pytest.raises(ImageError, match="image size 50x500 is out of range"):
        ImageOptions(width=50).check()
    with pytest.raises(ImageError, match="scale 20 is out of range"):
        ImageOptions(scale=20).check()


def test_cli_writes_every_chart_of_a_run_into_a_folder(runs, tmp_path, capsys):
    chromium_or_skip()
    out = tmp_path / "figures"
    assert main(["figures", "alpha", "--runs", str(runs), "--format", "svg", "--out", str(out), "--smoothing", "0.5"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["grad_norm.svg", "loss.svg", "lr.svg", "throughput.svg"]
    assert capsys.readouterr().out.split() == [str(out / n) for n in ("loss.svg", "lr.svg", "grad_norm.svg",
                                                                       "throughput.svg")]
    for name in names:
        ET.parse(out / name)


def test_cli_refuses_a_folder_inside_the_runs_directory(runs, capsys):
    assert main(["figures", "alpha", "--runs", str(runs), "--out", str(runs / "figs")]) == 2
    assert "inside the runs directory" in capsys.readouterr().err and not (runs / "figs").exists()


def test_a_warm_tab_draws_exactly_what_a_fresh_browser_draws(renderer, runs):
    lr, loss = (print_theme(chart_figure(chart_by_name(name), series_from_files([runs / "alpha"], chart_by_name(name).keys)))
                for name in ("lr", "loss"))
    options = ImageOptions(format="png", width=400, height=300, scale=1)
    warm = renderer.render_many([(lr, options), (loss, options), (lr, options), (loss, options)])[-1]
    fresh_renderer = Renderer(tabs=1)
    try:
        assert fresh_renderer.render(loss, options) == warm
    finally:
        fresh_renderer.stop()
