"""Screenshots of every page at phone, tablet and desktop size, in the light and the dark theme.

Trains three short real runs with train.py (a tiny GPT on CPU, three learning rates), serves them
with `python -m nanogpt_dash serve`, and saves a full-page PNG of every page of the app (the list
comes from ui/pages.PAGES) for each size and theme, plus one contact sheet per page (all six side
by side) to look at first:

    python bench/screenshots.py /tmp/shots                    # train (a minute or two), then shoot
    python bench/screenshots.py /tmp/shots --runs /tmp/shots/runs   # reuse runs trained before
    python bench/screenshots.py /tmp/shots --pages model --sizes phone --themes dark

Files: <out>/<page>-<size>-<theme>.png and <out>/sheet-<page>.png. Nothing is asserted: this is
for looking. Uses Debian's Chromium (CHROMIUM or /usr/bin/chromium) through Playwright.

Two things come from Chromium's full-page capture, not from the page: on a phone the bottom bar
of page links (position: fixed) is drawn where the first screen ends, and a phone or tablet shot
may end in a blank band (measured: the page in a real window has no such band; the capture
measures the height first and then lays the page out a little shorter).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

from chromium import CHROMIUM_ARGS  # noqa: E402
from helpers import free_port, register_assets, run_train, start_server, stop_process  # noqa: E402

from nanogpt_dash.ui.pages import PAGES  # noqa: E402

SIZES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2},
    "tablet": {"viewport": {"width": 768, "height": 1024}, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
THEMES = ("light", "dark")
RUNS = (("lr-a", "1e-3"), ("lr-b", "3e-3"), ("lr-c", "6e-3"))
# What a page has drawn once it is ready: every visible Plotly chart holds traces, the model graph its
# canvas, and Dash is not waiting for a callback. A page shows two runs (Compare needs two, the
# Model and Analysis pages show the first).
READY_JS = """() => {
    if (document.querySelector('[data-dash-is-loading="true"]')) return false;
    const plots = Array.from(document.querySelectorAll('.js-plotly-plot')).filter(el => el.offsetParent !== null);
    if (!plots.every(el => el.data && el.data.length && el.layout)) return false;
    const graph = document.querySelector('#model-graph');
    return !graph || !!graph.querySelector('canvas');
}"""
SETTLE_MS = 2500  # after READY_JS: the push's first data, the width measurement, the graph's fit


def train(runs_dir: Path, iters: int) -> None:
    runs_dir.mkdir(parents=True, exist_ok=True)
    for name, lr in RUNS:
        if (runs_dir / name / "metrics.sqlite").exists():
            continue
        started = time.monotonic()
        done = run_train(runs_dir / name, f"--max_iters={iters}", f"--learning_rate={lr}", f"--lr_decay_iters={iters}",
                         "--eval_interval=25", "--layer_stats_interval=10", "--dashboard_autostart=False")
        if done.returncode != 0:
            sys.exit(f"train.py failed for {name}:\n{done.stderr[-2000:]}")
        print(f"trained {name} (learning rate {lr}, {iters} iterations) in {time.monotonic() - started:.0f} s", flush=True)


def shoot(port: int, out: Path, pages: list, sizes: list[str], themes: list[str]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    runs = ",".join(name for name, _ in RUNS[:2])
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS)
        for page_module in pages:
            for size in sizes:
                for theme in themes:
                    context = browser.new_context(color_scheme=theme, **SIZES[size])
                    # the stored choice, as the theme select would leave it (assets/theme.js)
                    context.add_init_script(f"window.localStorage.setItem('ngd-theme', '{theme}')")
                    page = context.new_page()
                    page.goto(f"http://127.0.0.1:{port}{page_module.PATH}?runs={runs}")
                    try:
                        page.wait_for_function(READY_JS, timeout=60_000, polling=250)
                    except Exception as e:  # a page that never settles is still worth a picture
                        print(f"  {page_module.NAME} {size} {theme}: not ready ({type(e).__name__}); shooting anyway")
                    page.wait_for_timeout(SETTLE_MS)
                    path = out / f"{page_module.NAME.lower()}-{size}-{theme}.png"
                    page.screenshot(path=str(path), full_page=True)
                    saved.append(path)
                    print(f"  {path.name}", flush=True)
                    context.close()
        browser.close()
    return saved


def contact_sheets(out: Path, pages: list, sizes: list[str], themes: list[str]) -> list[Path]:
    """One PNG per page: a column per size, a row per theme, each shot at half its CSS size."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        print("Pillow is not installed: no contact sheets (the separate PNGs are there)")
        return []
    sheets = []
    gap, label_h, css_scale = 16, 24, 0.5
    for page_module in pages:
        name = page_module.NAME.lower()
        cells: dict[tuple[str, str], Image.Image] = {}
        for size in sizes:
            width = round(SIZES[size]["viewport"]["width"] * css_scale)
            for theme in themes:
                path = out / f"{name}-{size}-{theme}.png"
                if path.exists():
                    shot = Image.open(path).convert("RGB")
                    cells[size, theme] = shot.resize((width, round(shot.height * width / shot.width)), Image.LANCZOS)
        if not cells:
            continue
        col_w = {s: round(SIZES[s]["viewport"]["width"] * css_scale) for s in sizes}
        row_h = {t: max((c.height for (s, tt), c in cells.items() if tt == t), default=0) for t in themes}
        sheet = Image.new("RGB", (sum(col_w.values()) + gap * (len(sizes) + 1),
                                  sum(row_h.values()) + (label_h + gap) * len(themes) + gap), "#808080")
        draw = ImageDraw.Draw(sheet)
        y = gap
        for theme in themes:
            x = gap
            for size in sizes:
                draw.text((x, y + 4), f"{name} · {size} · {theme}", fill="#ffffff")
                if (size, theme) in cells:
                    sheet.paste(cells[size, theme], (x, y + label_h))
                x += col_w[size] + gap
            y += label_h + row_h[theme] + gap
        path = out / f"sheet-{name}.png"
        sheet.save(path)
        sheets.append(path)
    return sheets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the screenshots (created)")
    parser.add_argument("--runs", type=Path, help="a runs folder to serve (default: <out>/runs, trained when missing)")
    parser.add_argument("--iters", type=int, default=200, help="training iterations per run (default 200)")
    parser.add_argument("--pages", help="comma-separated page names (default: every page of the app)")
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--themes", default=",".join(THEMES), help="comma-separated, of light, dark")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    runs_dir = (args.runs or args.out / "runs").resolve()
    train(runs_dir, args.iters)
    wanted = {n.strip().lower() for n in args.pages.split(",")} if args.pages else None
    pages = [p for p in sorted(PAGES, key=lambda p: p.ORDER) if wanted is None or p.NAME.lower() in wanted]
    sizes = [s for s in args.sizes.split(",") if s in SIZES]
    themes = [t for t in args.themes.split(",") if t in THEMES]

    port = free_port()
    server = start_server(runs_dir, port)
    try:
        register_assets(port)
        shoot(port, args.out.resolve(), pages, sizes, themes)
    finally:
        stop_process(server)
    for sheet in contact_sheets(args.out.resolve(), pages, sizes, themes):
        print(f"contact sheet: {sheet}")


if __name__ == "__main__":
    main()
