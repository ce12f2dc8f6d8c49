"""`python -m nanogpt_dash [serve|runs|export|run|import-tb]`: the dashboard server and run utilities."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import NanogptDashError
from .export import FORMATS, export_run
from .runs import format_loss, list_runs, resolve_run

DEFAULT_RUNS = Path("runs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nanogpt_dash", description="Live dashboard for nanoGPT-style training.")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="serve the dashboard (the default command)")
    _add_serve_args(serve)

    runs = sub.add_parser("runs", help="list the runs in a runs directory")
    runs.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")

    export = sub.add_parser("export", help="write a run's scalars in long form")
    export.add_argument("run", help="run id (a directory under --runs) or a path to a run directory")
    export.add_argument("--format", choices=FORMATS, default="csv")
    export.add_argument("--out", type=Path, help="output file (default: standard output)")
    export.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="runs directory (default: ./runs)")

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
            return _list(args.runs)
        if args.command == "export":
            return _export(args)
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
    parser.add_argument("--certfile", help="TLS certificate (PEM) to serve https/wss")
    parser.add_argument("--keyfile", help="TLS private key (PEM) for --certfile")


def _list(runs_dir: Path) -> int:
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
    for path, reason in problems:
        print(f"unreadable: {path.name}: {reason}", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    run_dir = resolve_run(args.runs, args.run, allow_path=True)
    count, result = export_run(run_dir, args.format, args.out)
    if args.out is None:
        sys.stdout.write(result)
    else:
        print(f"wrote {count} rows to {result}", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .server import serve  # imports Dash: keep `runs` and `export` fast

    return serve(runs_dir=args.runs, host=args.host, port=args.port, certfile=args.certfile, keyfile=args.keyfile)


if __name__ == "__main__":
    sys.exit(main())
