"""Snapshots: a view and its data frozen into files under `<runs>/.snapshots/<token>/`.

Each snapshot folder holds `content.json` (report.ViewContent: the query, the charts as drawn,
key numbers, configuration, latest sample) and `data.csv` (the shown metrics of the shown runs,
every stored point, as `export` writes them). The token is `secrets.token_urlsafe(24)`: 32
characters, 192 random bits, the only way to name a snapshot. A folder is written under a hidden
name and renamed into place, so a snapshot exists whole or not at all; nothing rewrites it later,
so it does not change while the runs go on, and it is still there after a server restart.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import NanogptDashError
from .export import ExportQuery, export_runs
from .live import LiveStore
from .report import ViewContent, capture_view
from .ui.figures import CHARTS

FOLDER = ".snapshots"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


class SnapshotError(NanogptDashError):
    """A snapshot cannot be made, found or deleted."""


@dataclass(frozen=True)
class SnapshotInfo:
    """One stored snapshot: its token, title, creation time and the runs it shows."""

    token: str
    title: str
    created: float
    runs: tuple[str, ...]


def snapshot_dir(runs_dir: Path, token: str) -> Path:
    """The folder of a snapshot; SnapshotError for anything that is not a well-formed token."""
    if not isinstance(token, str) or not TOKEN.match(token):
        raise SnapshotError("not a snapshot token: a token is 32 letters, digits, '-' or '_' (copy the whole link)")
    return Path(runs_dir) / FOLDER / token


def create_snapshot(store: LiveStore, query: dict[str, Any]) -> str:
    """Freeze the view of `query` (a page's URL query) and its data; returns the new token."""
    content = capture_view(store, query)
    if not content.runs:
        raise SnapshotError("nothing to snapshot: select at least one run that has data")
    root = store.runs_dir / FOLDER
    try:
        root.mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
    except OSError as e:
        raise SnapshotError(f"cannot write snapshots into {root}: {e.strerror}; check the folder's permissions "
                            "and free space, then retry") from e
    try:
        run_dirs = [store.get(card.run_id).path for card in content.runs]
        keys = tuple(dict.fromkeys(k for chart in CHARTS for k in chart.keys))
        superseded = content.query.get("superseded") == "1"
        _, data = export_runs(run_dirs, "csv", ExportQuery(keys=keys, superseded=superseded))
        (staging / "data.csv").write_text(data, encoding="utf-8")
        (staging / "content.json").write_text(content.to_json(), encoding="utf-8")
        token = secrets.token_urlsafe(24)
        staging.rename(root / token)
    except OSError as e:
        raise SnapshotError(f"cannot write the snapshot into {root}: {e.strerror}; free some space and retry") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return token


def load_snapshot(runs_dir: Path, token: str) -> ViewContent:
    """The frozen view of a snapshot."""
    folder = snapshot_dir(runs_dir, token)
    try:
        return ViewContent.from_json((folder / "content.json").read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SnapshotError("no such snapshot: it was deleted, or the link is incomplete") from e
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SnapshotError(f"snapshot {token[:6]}… cannot be read: {e}") from e


def snapshot_data(runs_dir: Path, token: str) -> bytes:
    """The snapshot's data as CSV bytes (see export.py for the format)."""
    try:
        return (snapshot_dir(runs_dir, token) / "data.csv").read_bytes()
    except FileNotFoundError as e:
        raise SnapshotError("no such snapshot: it was deleted, or the link is incomplete") from e


def list_snapshots(runs_dir: Path) -> list[SnapshotInfo]:
    """Every readable snapshot, newest first."""
    root = Path(runs_dir) / FOLDER
    out = []
    for folder in root.iterdir() if root.is_dir() else ():
        if not TOKEN.match(folder.name):
            continue
        try:
            content = load_snapshot(runs_dir, folder.name)
        except SnapshotError:
            continue
        out.append(SnapshotInfo(folder.name, content.title, content.created, tuple(c.run_id for c in content.runs)))
    return sorted(out, key=lambda s: s.created, reverse=True)


def delete_snapshot(runs_dir: Path, token: str) -> None:
    """Remove a snapshot for good."""
    folder = snapshot_dir(runs_dir, token)
    if not folder.is_dir():
        raise SnapshotError("no such snapshot: it was already deleted")
    try:
        shutil.rmtree(folder)
    except OSError as e:
        raise SnapshotError(f"cannot delete snapshot {token[:6]}…: {e.strerror}") from e
