"""`python -m nanogpt_dash [serve|stop|status|runs|export|figures|archive|import|run|import-tb]`: the dashboard server and run utilities."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import textwrap
from pathlib import Path

from .errors import NanogptDashError
from .runs import format_loss, list_runs, model_args_for, resolve_run

DEFAULT_RUNS = Path("runs")
DEFAULT_NICE = 10  # the server's priority below training's (Unix nice increment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nanogpt_dash", description="Live dashboard for nanoGPT-style training.")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="serve the dashboard (the default command)")
    _add_serve_args(serve)

    runs = sub.add_parser("runs", help="list the runs in a runs directory")
    runs.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")
    runs.add_argument("--long", action="store_true", help="also show each run's configuration and model args")

    for name, text in (("stop", "stop the dashboard serving a runs directory"),
                       ("status", "say whether a dashboard serves a runs directory, and where")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")
        command.add_argument("--port", type=int, default=8050,
                             help="first port to look on for a server that holds no lock file (default 8050)")

    export = sub.add_parser("export", help="write runs' scalars as CSV or JSON, long or wide form")
    export.add_argument("run", nargs="+", help="run ids (directories under --runs) or paths to run directories")
    export.add_argument("--format", default="csv", help="csv (default) or json")
    export.add_argument("--form", default="long",
                        help="long: one row per point (default); wide: one row per step, one column per metric")
    export.add_argument("--keys", help="comma-separated metrics to export (default: all)")
    export.add_argument("--x-axis", default="step", help="axis of --x-min/--x-max: step, tokens, wall, relative")
    export.add_argument("--x-min", help="first x to export (wall: a local time such as 2026-05-01T12:00)")
    export.add_argument("--x-max", help="last x to export")
    export.add_argument("--no-superseded", action="store_true",
                        help="leave out points that a resume superseded (default: all, flagged)")
    export.add_argument("--out", type=Path, help="output file (default: standard output)")
    export.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")

    figures = sub.add_parser("figures", help="write a run's charts as PNG, SVG or PDF images into a folder")
    figures.add_argument("run", nargs="+", help="run ids (directories under --runs) or paths to run directories")
    figures.add_argument("--out", type=Path, required=True, help="folder for <chart>.<format> (created if missing)")
    figures.add_argument("--format", default="svg", help="png, svg (default) or pdf")
    figures.add_argument("--width", type=int, default=900, help="width in CSS pixels (default 900)")
    figures.add_argument("--height", type=int, default=500, help="height in CSS pixels (default 500)")
    figures.add_argument("--scale", type=float, default=2.0, help="PNG pixels per CSS pixel (default 2)")
    figures.add_argument("--theme", default="print", help="print (default: black on white, embedded font) or screen")
    figures.add_argument("--charts", help="comma-separated charts (default: all): loss, lr, grad_norm, throughput")
    figures.add_argument("--x-axis", default="step", help="step, tokens, wall or relative")
    figures.add_argument("--smoothing", type=float, default=0.0, help="EMA weight 0..0.99 as on the page")
    figures.add_argument("--log", action="store_true", help="log-scale y axis")
    figures.add_argument("--superseded", action="store_true", help="draw points that a resume superseded")
    figures.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")

    archive = sub.add_parser("archive", help="write a run (metrics, config, events, samples) into one .zip")
    archive.add_argument("run", help="run id (a directory under --runs) or a path to a run directory")
    archive.add_argument("--out", type=Path, required=True, help="the .zip file to write")
    archive.add_argument("--checkpoint", action="store_true", help="include the checkpoint (*.pt) files too")
    archive.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")

    importer = sub.add_parser("import", help="bring a run archive (.zip) back into a runs directory")
    importer.add_argument("archive", type=Path, help="a .zip written by `python -m nanogpt_dash archive`")
    importer.add_argument("--name", help="run folder name (default: the archived one)")
    importer.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")

    wrap = sub.add_parser("run", help="run an unmodified nanoGPT command and record it from its stdout",
                          usage="python -m nanogpt_dash run [--out-dir DIR] [--port N] [--no-dashboard] -- CMD ...")
    wrap.add_argument("--out-dir", type=Path, help="run directory (default: the command's out_dir, else runs/<script>)")
    wrap.add_argument("--port", type=int, default=8050, help="dashboard port (default 8050)")
    wrap.add_argument("--no-dashboard", action="store_true", help="record only; start no dashboard server")
    wrap.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")

    import_tb = sub.add_parser("import-tb", help="import TensorBoard event files, one run per run directory")
    import_tb.add_argument("logdir", type=Path, help="a TensorBoard log directory")
    import_tb.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["serve", *argv]  # `python -m nanogpt_dash --runs DIR --port N`: serve is the default command
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *argv])
    try:
        if args.command == "runs":
            return _list(args.runs, long=args.long)
        if args.command == "stop":
            return _stop(args.runs, args.port)
        if args.command == "status":
            return _status(args.runs, args.port)
        if args.command == "export":
            return _export(args)
        if args.command == "figures":
            return _figures(args)
        if args.command == "archive":
            return _archive(args)
        if args.command == "import":
            return _import(args)
        if args.command == "run":
            from .wrap import run_command

            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            return run_command(cmd, args.out_dir, dashboard=not args.no_dashboard, port=args.port)
        if args.command == "import-tb":
            from .tb_import import import_logdir

            import_logdir(args.logdir, args.runs, progress=sys.stderr)
            return 0
        return _serve(args)
    except NanogptDashError as e:
        print(f"nanogpt_dash: {e}", file=sys.stderr)
        return 2


def _add_serve_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8050)
    parser.add_argument("--idle-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="close the WebSocket of a tab hidden this long; it reconnects when shown (default 600)")
    parser.add_argument("--nice", type=int, default=DEFAULT_NICE, metavar="N",
                        help="lower the server's CPU priority by N so that training on the same cores keeps its "
                             f"speed (default {DEFAULT_NICE}; 0 keeps the priority it started with)")
    parser.add_argument("--certfile", help="TLS certificate (PEM) to serve https/wss")
    parser.add_argument("--keyfile", help="TLS private key (PEM) for --certfile")


def _list(runs_dir: Path, long: bool = False) -> int:
    summaries, problems = list_runs(runs_dir)
    if not summaries and not problems:
        print(f"no runs in {runs_dir}/ (train with: python train.py --out_dir={runs_dir}/my-run)")
        return 0
    header = ("id", "name", "status", "last step", "last loss")
    rows = [(s.run_id, s.name, s.status, "-" if s.last_step is None else str(s.last_step), format_loss(s.last_loss))
            for s in summaries]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())
    if long:
        width = max(40, shutil.get_terminal_size().columns)
        for s in summaries:
            print(f"\n{s.run_id}" + (f" ({s.name})" if s.name != s.run_id else ""))
            try:
                model_args = s.model_args or model_args_for(s.path)  # a run recorded from stdout: its checkpoint's
            except NanogptDashError as e:
                model_args = {"unreadable": str(e)}
            for title, values in (("model", model_args), ("config", s.config)):
                pairs = " ".join(f"{k}={_plain(v)}" for k, v in sorted(values.items())) or "(none recorded)"
                print(textwrap.fill(pairs, width, initial_indent=f"  {title:<7} ", subsequent_indent=" " * 10,
                                    break_long_words=False, break_on_hyphens=False))
    for path, reason in problems:
        print(f"unreadable: {path.name}: {reason}", file=sys.stderr)
    return 0


def _plain(value: object) -> str:
    return value if isinstance(value, str) and value and " " not in value else repr(value)


def _stop(runs_dir: Path, port: int) -> int:
    from .lockfile import stop_dashboard

    stopped = stop_dashboard(runs_dir, port=port)
    if stopped is None:
        print(f"no dashboard is running for {runs_dir}/")
        return 0
    found, killed = stopped
    where = f" at {found.url()}" if found.port is not None else ""
    print(f"{'killed' if killed else 'stopped'} the dashboard of {runs_dir}/{where} (pid {found.pid})"
          + (": it did not stop within 10 s of SIGTERM" if killed else ""))
    return 0


def _status(runs_dir: Path, port: int) -> int:
    from .lockfile import find_dashboard

    found = find_dashboard(runs_dir, port=port)
    if found is None:
        runs = "" if runs_dir.resolve() == DEFAULT_RUNS.resolve() else f" --runs {shlex.quote(str(runs_dir))}"
        print(f"no dashboard is running for {runs_dir}/; start one with: python -m nanogpt_dash{runs}")
        return 3  # like `systemctl status`: 3 means not running
    if not found.ready:
        where = f" on port {found.port}" if found.port is not None else ""
        print(f"the dashboard of {runs_dir}/ is starting{where} (pid {found.pid})")
        return 0
    health = found.health or {}
    details = [f"pid {found.pid}"]
    if isinstance(health.get("uptime_s"), (int, float)):
        details.append(f"up {_duration(health['uptime_s'])}")
    details += [f"{health[key]} {label}" for key, label in (("runs", "runs"), ("clients", "viewers")) if key in health]
    print(f"dashboard of {runs_dir}/ at {found.url()} ({', '.join(details)})")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import ExportError, ExportQuery, export_runs  # imports pandas: keep `runs` fast
    from .views import from_axis

    run_dirs = [resolve_run(args.runs, run, allow_path=True) for run in args.run]
    try:
        bounds = tuple(None if v is None else from_axis(args.x_axis, v if args.x_axis == "wall" else float(v))
                       for v in (args.x_min, args.x_max))
    except ValueError as e:
        raise ExportError(f"--x-min/--x-max must be numbers on the {args.x_axis} axis ({e})") from e
    query = ExportQuery(keys=tuple(k for k in args.keys.split(",") if k) if args.keys else None, x_axis=args.x_axis,
                        x_range=bounds if bounds != (None, None) else None, superseded=not args.no_superseded,
                        form=args.form)
    count, result = export_runs(run_dirs, args.format, query, args.out, protected=[args.runs])
    if args.out is None:
        sys.stdout.write(result)
    else:
        print(f"wrote {count} rows to {result}", file=sys.stderr)
    return 0


def _figures(args: argparse.Namespace) -> int:
    from .images import CHARTS, ChartView, ImageError, ImageOptions, Renderer, chart_by_name, write_run_figures

    run_dirs = [resolve_run(args.runs, run, allow_path=True) for run in args.run]
    if not 0.0 <= args.smoothing <= 0.99:
        raise ImageError(f"--smoothing {args.smoothing} is out of range: use 0..0.99")
    charts = [chart_by_name(name) for name in args.charts.split(",")] if args.charts else list(CHARTS)
    options = ImageOptions(format=args.format, width=args.width, height=args.height, scale=args.scale, theme=args.theme)
    view = ChartView(x_axis=args.x_axis, smoothing=args.smoothing, log_y=args.log, superseded=args.superseded)
    renderer = Renderer(tabs=min(2, len(charts)))
    renderer.start_in_background()  # Chromium starts while the runs are read
    try:
        written = write_run_figures(renderer, run_dirs, args.out, view, options, charts, protected=[args.runs])
    finally:
        renderer.stop()
    for path in written:
        print(path)
    return 0


def _archive(args: argparse.Namespace) -> int:
    from .archive import write_archive

    run_dir = resolve_run(args.runs, args.run, allow_path=True)
    print(write_archive(run_dir, args.out, checkpoint=args.checkpoint, protected=[args.runs]))
    return 0


def _import(args: argparse.Namespace) -> int:
    from .archive import import_archive

    run_dir = import_archive(args.archive, args.runs, args.name)
    print(f"imported {args.archive} as run '{run_dir.name}' in {args.runs}/")
    return 0


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _lower_priority(increment: int) -> None:
    """Training and the dashboard often share a laptop's cores: the dashboard yields (it needs little CPU)."""
    if increment < 0:
        raise NanogptDashError(f"--nice {increment}: the server can only lower its priority; use 0 to keep it")
    if increment and hasattr(os, "nice"):
        try:
            os.nice(increment)
        except OSError as e:
            print(f"nanogpt_dash: could not lower the server's priority ({e.strerror}); serving at normal priority",
                  file=sys.stderr)


def _serve(args: argparse.Namespace) -> int:
    from .lockfile import claim

    _lower_priority(args.nice)
    # claimed before Dash's slow import, so that a training starting meanwhile finds this server
    lock = claim(args.runs, args.host, args.port, "https" if args.certfile else "http")
    from .server import serve  # imports Dash: keep `runs` and `export` fast

    return serve(runs_dir=args.runs, host=args.host, port=args.port, certfile=args.certfile, keyfile=args.keyfile,
                 idle_timeout_s=args.idle_timeout, lock=lock)


if __name__ == "__main__":
    sys.exit(main())
