"""Fault injection against the training-side writer: does a run survive what really happens to it?

Three kinds of trial, each ending with SQLite's integrity check, a look for holes in the committed
steps, and the books balanced: rows logged = rows committed + rows the run recorded as lost.

- kill:   a training process logs 4 metrics a step (a tight loop or paced, by chance) and is
          SIGKILLed at a random moment. What it committed must be intact and gap-free; the
          uncommitted tail dies with the process, which is what a kill means.
- full:   the run lives on a tmpfs (mounted here when allowed; else SQLite's "disk is full" is
          injected) that a filler file fills up mid-run and that is freed later: 64 MB, room for the
          whole backlog, or 8 MB ("tight"), less room than the backlog needs. Writing must resume,
          and every row it could not keep must be counted and recorded in the run file.
- rmdir:  the run folder is deleted mid-run. The writer must notice, recreate the run as a new
          segment and say so; everything logged after the deletion must be there.

    python bench/faults.py [--kills 20] [--fulls 3] [--rmdirs 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nanogpt_dash import store  # noqa: E402
from nanogpt_dash.store import RunReader, integrity_check  # noqa: E402
from nanogpt_dash.tracking import Run, TrackingWarning  # noqa: E402

KEYS = ("train/loss", "lr", "grad_norm", "tokens_per_sec")

CHILD = """
import sys, time
from nanogpt_dash import Run
run = Run(sys.argv[1], system_metrics=False)  # every key is logged every step: holes are real
paced = sys.argv[2] == "paced"
run.log({"train/loss": 1.0, "lr": 0.1, "grad_norm": 0.5, "tokens_per_sec": 1e4}, step=0)
run.flush()
print("ready", flush=True)
step = 1
while True:
    run.log({"train/loss": 1.0 / step, "lr": 0.1, "grad_norm": 0.5, "tokens_per_sec": 1e4}, step=step)
    step += 1
    if paced:
        time.sleep(0.0005)
"""


@dataclass
class Outcome:
    kind: str
    integrity: str
    holes: int  # steps missing inside a key's committed range, not recorded as lost
    logged: int | None  # None when the process was killed before it could say
    committed: int
    recorded_lost: int
    note: str = ""
    committed_after_fault: int | None = None

    @property
    def unaccounted(self) -> int | None:
        if self.logged is None:
            return None
        return self.logged - self.committed - self.recorded_lost


def inspect(run_dir: Path) -> tuple[str, dict[str, list[int]], int, list]:
    """(integrity, steps per key of the last segment, rows committed in all, events)."""
    if not store.db_path(run_dir).is_file():
        return "no run file", {}, 0, []
    integrity = integrity_check(run_dir)
    steps: dict[str, list[int]] = {}
    committed = 0
    with RunReader(run_dir) as reader:
        last_segment = reader.meta().segments[-1].id
        for batch in reader.iter_scalars():
            committed += len(batch)
            for segment, step, key in zip(batch.segment.tolist(), batch.step.tolist(), batch.key):
                if segment == last_segment:
                    steps.setdefault(key, []).append(step)
        events = reader.events_since(0)
    return integrity, steps, committed, events


def holes_in(steps: dict[str, list[int]]) -> int:
    """Steps missing between a key's first and last committed step (each key is logged every step here)."""
    return sum((max(s) - min(s) + 1) - len(set(s)) for s in steps.values() if s)


def lost_in(events: list) -> int:
    return sum(int(e.payload.get("rows", 0)) for e in events if e.kind == "data_lost")


def kill_trial(workdir: Path, rng: random.Random) -> Outcome:
    run_dir = workdir / "killed"
    mode = rng.choice(["tight", "paced"])
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(run_dir), mode], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"writer did not start: {proc.stderr.read()[-500:]}")
        time.sleep(rng.uniform(0.02, 1.5))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    integrity, steps, committed, events = inspect(run_dir)
    last = {k: max(v) for k, v in steps.items()}
    spread = max(last.values()) - min(last.values()) if last else 0
    note = f"{mode}, last step {max(last.values()) if last else '-'}"
    if spread > 1:
        note += f", keys end {spread} steps apart"
    return Outcome("kill", integrity, holes_in(steps), None, committed, lost_in(events), note)


@contextmanager
def small_disk(workdir: Path, size: str = "64m", try_mount: bool = True) -> Iterator[tuple[Path, str]]:
    """A tmpfs of `size` when mounting is allowed (root), else a plain folder: yields (path, how)."""
    mount = workdir / "tmpfs"
    mount.mkdir()
    mounted = try_mount and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                             capture_output=True).returncode == 0
    try:
        yield mount, "tmpfs" if mounted else "injected ENOSPC"
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(path: Path) -> None:
    """Write zeros until the file system says it is full."""
    block = b"\0" * 65536
    with open(path, "wb") as f:
        try:
            while True:
                f.write(block)
                f.flush()
        except OSError:
            pass
    # leave a little room, so the run file itself is what overflows (as on a real full disk)
    size = path.stat().st_size
    os.truncate(path, max(0, size - 256 * 1024))


@contextmanager
def injected_full_disk() -> Iterator[dict]:
    """Fail commits as SQLite does on a full disk: all while state['full'] is set, and any that would
    take more than state['room'] rows (what is left of the disk) once it is cleared."""
    state = {"full": False, "room": float("inf")}
    real = store.RunWriter._write

    def write(self, scalars, events):  # type: ignore[no-untyped-def]
        if state["full"] or len(scalars) > state["room"]:
            raise sqlite3.OperationalError("database or disk is full")
        state["room"] -= len(scalars)
        return real(self, scalars, events)

    store.RunWriter._write = write
    try:
        yield state
    finally:
        store.RunWriter._write = real


def full_trial(workdir: Path, rng: random.Random, max_pending: int | None = None, try_mount: bool = True,
               tight: bool = False) -> Outcome:
    from nanogpt_dash import tracking

    steps_full = rng.randint(20_000, 120_000)
    saved_max = tracking.MAX_PENDING_ROWS
    if max_pending is not None:
        tracking.MAX_PENDING_ROWS = max_pending
    logged = 0
    with small_disk(workdir, "8m" if tight else "64m", try_mount) as (disk, how), injected_full_disk() as injected, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            run = Run(disk / "full", system_metrics=False)  # rows logged here are the trial's alone
            step = 0

            def log_steps(n: int, pace: float = 0.0) -> None:
                nonlocal step, logged
                for _ in range(n):
                    run.log({k: 1.0 / (step + 1) for k in KEYS}, step=step)
                    step += 1
                    logged += len(KEYS)
                    if pace and step % 100 == 0:
                        time.sleep(pace)

            log_steps(2_000)
            run.flush(10)
            before_full = logged
            if how == "tmpfs":
                fill(disk / "filler")
            else:
                injected["full"] = True
            log_steps(steps_full, pace=0.001)  # keeps logging while the disk is full
            time.sleep(rng.uniform(0.2, 1.5))
            if how == "tmpfs":
                (disk / "filler").unlink()
            else:
                injected["full"] = False
                injected["room"] = 100_000 if tight else float("inf")
            log_steps(2_000)
            flushed = run.flush(5 if tight else 30)
            lost = run.finish(timeout=5 if tight else 30)
            integrity, steps, committed, events = inspect(disk / "full")
        finally:
            tracking.MAX_PENDING_ROWS = saved_max
    messages = [str(w.message) for w in caught if issubclass(w.category, TrackingWarning)]
    warned_full = any("full" in m for m in messages)
    note = (f"{how}{', tight' if tight else ''}: {steps_full * len(KEYS)} rows logged while full, "
            f"{committed - before_full} committed after, flushed={flushed}, warned={warned_full}")
    if lost:
        note += f", finish() reported {lost} lost"
    holes = holes_in(steps) - lost_in(events)  # a counted overflow leaves a hole the events account for
    return Outcome("full", integrity, max(holes, 0), logged, committed, lost_in(events), note, committed - before_full)


def rmdir_trial(workdir: Path, rng: random.Random) -> Outcome:
    run_dir = workdir / "removed"
    logged_after = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Run(run_dir, system_metrics=False)
        step = 0
        removed_at = rng.randint(500, 5_000)
        for step in range(removed_at):
            run.log({k: 1.0 for k in KEYS}, step=step)
            if step % 200 == 0:
                time.sleep(0.005)
        run.flush(10)
        shutil.rmtree(run_dir)
        for step in range(removed_at, removed_at + rng.randint(500, 5_000)):
            run.log({k: 1.0 for k in KEYS}, step=step)
            logged_after += len(KEYS)
            if step % 200 == 0:
                time.sleep(0.005)
        flushed = run.flush(10)
        lost = run.finish()
    integrity, steps, committed, events = inspect(run_dir)
    recreated = [e for e in events if e.kind == "run_file_recreated"]
    warned = any("deleted or replaced" in str(w.message) for w in caught if issubclass(w.category, TrackingWarning))
    first = min(min(s) for s in steps.values()) if steps else None
    note = f"removed after step {removed_at - 1}; file restarts at step {first}; event={bool(recreated)}, warned={warned}, flushed={flushed}"
    # the rows before the deletion went with the folder (the user's doing, said in the warning and the event)
    return Outcome("rmdir", integrity, holes_in(steps), logged_after, committed, lost_in(events) + lost, note)


def table(outcomes: list[Outcome]) -> str:
    header = ("trial", "kind", "integrity", "holes", "logged", "committed", "lost (recorded)", "unaccounted", "note")
    rows = [(str(i + 1), o.kind, o.integrity, str(o.holes), "-" if o.logged is None else str(o.logged), str(o.committed),
             str(o.recorded_lost), "-" if o.unaccounted is None else str(o.unaccounted), o.note)
            for i, o in enumerate(outcomes)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def failures(outcomes: list[Outcome]) -> list[str]:
    """What a trial got wrong, one line each (empty: all good)."""
    bad = []
    for i, o in enumerate(outcomes, 1):
        if o.integrity != "ok":
            bad.append(f"trial {i} ({o.kind}): integrity_check says {o.integrity}")
        if o.holes:
            bad.append(f"trial {i} ({o.kind}): {o.holes} committed steps missing without a record")
        if o.unaccounted:
            bad.append(f"trial {i} ({o.kind}): {o.unaccounted} rows neither committed nor recorded as lost")
        if o.committed_after_fault == 0:
            bad.append(f"trial {i} ({o.kind}): nothing was committed after the fault was over")
    return bad


def run_suite(kills: int, fulls: int, rmdirs: int, seed: int = 0, max_pending: int | None = None) -> list[Outcome]:
    """Run the trials in fresh temporary folders; returns their outcomes in order."""
    rng = random.Random(seed)
    outcomes = []
    for kind, count in (("kill", kills), ("full", fulls), ("rmdir", rmdirs)):
        for _ in range(count):
            with tempfile.TemporaryDirectory(prefix=f"faults-{kind}-") as tmp:
                if kind == "kill":
                    outcomes.append(kill_trial(Path(tmp), rng))
                elif kind == "full":
                    tight = len([o for o in outcomes if o.kind == "full"]) % 2 == 1
                    outcomes.append(full_trial(Path(tmp), rng, max_pending, tight=tight))
                else:
                    outcomes.append(rmdir_trial(Path(tmp), rng))
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--fulls", type=int, default=3)
    parser.add_argument("--rmdirs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-pending", type=int, help="shrink the writer's backlog bound to force counted overflow")
    args = parser.parse_args()
    outcomes = run_suite(args.kills, args.fulls, args.rmdirs, args.seed, args.max_pending)
    print(table(outcomes))
    bad = failures(outcomes)
    print("\n".join(bad) if bad else f"\nall {len(outcomes)} trials: integrity ok, no unrecorded hole, every loss accounted for")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
