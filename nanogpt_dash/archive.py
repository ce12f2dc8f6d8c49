"""Run archives: one .zip holding everything of a run, and importing it back exactly.

Layout of an archive:

    manifest.json        format, run folder name, name, created, checkpoint included, and the
                         size and sha256 of every file under run/
    config.json          the run's configuration (newest segment) and
    model_args.json      its model args, readable without SQLite
    events.json          every event (text samples, checkpoints, evals, ...)
    run/metrics.sqlite   a consistent copy of the run file (every scalar, event, segment, layer statistic)
    run/...              every other file of the run directory; checkpoints (*.pt) only when asked

Import checks every name and checksum before anything reaches the runs directory, unpacks into a
hidden folder there and renames it into place, so a run appears whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterable

from .errors import NanogptDashError
from .export import json_safe
from .files import atomic_output
from .runs import is_run_id
from .store import DB_NAME, RunReader, StoreError, copy_database

FORMAT = "nanogpt_dash run archive 1"
MANIFEST = "manifest.json"
TOP_LEVEL = (MANIFEST, "config.json", "model_args.json", "events.json")
CHECKPOINT_SUFFIXES = (".pt",)
SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal", ".partial")
SAFE_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+=@-]{0,254}$")
MAX_TOTAL_BYTES = 64 * 2**30
CHUNK = 1 << 20


class ArchiveError(NanogptDashError):
    """An archive cannot be written or imported (the message says why and what to do)."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def run_files(run_dir: Path, checkpoint: bool) -> list[Path]:
    """The files of a run directory an archive holds, relative to it (the run file is copied separately)."""
    out = []
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir)
        if not path.is_file() or path.is_symlink() or rel.as_posix() == DB_NAME:
            continue
        if rel.name.startswith(DB_NAME) or rel.name.endswith(SKIPPED_SUFFIXES) or any(p.startswith(".") for p in rel.parts):
            continue
        if rel.suffix in CHECKPOINT_SUFFIXES and not checkpoint:
            continue
        out.append(rel)
    return out


def write_archive(run_dir: Path, out: Path, checkpoint: bool = False, protected: Iterable[Path] = ()) -> Path:
    """Write the run's archive to `out` (written whole or not at all); returns the path."""
    with tempfile.TemporaryDirectory(prefix="nanogpt_dash-archive-") as tmp:
        db_copy = Path(tmp) / DB_NAME
        copy_database(run_dir, db_copy)
        with RunReader(Path(tmp)) as reader:
            meta = reader.meta()
            events = reader.events_since(0)
        files = [(PurePosixPath("run", DB_NAME).as_posix(), db_copy)]
        files += [(PurePosixPath("run", *rel.parts).as_posix(), run_dir / rel) for rel in run_files(run_dir, checkpoint)]
        manifest = {
            "format": FORMAT, "run": run_dir.name, "run_id": meta.run_id, "name": meta.name, "created": meta.created,
            "checkpoint_included": checkpoint,
            "files": {name: {"size": path.stat().st_size, "sha256": _sha256(path)} for name, path in files},
        }
        extras = {
            "config.json": meta.config, "model_args.json": meta.model_args,
            "events.json": [{"segment": e.segment, "step": e.step, "wall_time": e.wall_time, "kind": e.kind,
                             "payload": e.payload} for e in events],
        }
        with atomic_output(out, [*protected, run_dir], binary=True) as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(MANIFEST, json.dumps(manifest, indent=1))
                for name, value in extras.items():
                    zf.writestr(name, json.dumps(json_safe(value), indent=1))
                for name, path in files:
                    zf.write(path, name)
    return out


def _check_name(name: str) -> tuple[str, ...]:
    if name in TOP_LEVEL:
        return ()
    parts = PurePosixPath(name).parts
    if "\\" in name or name.startswith("/") or len(parts) < 2 or parts[0] != "run" or not all(
            SAFE_PART.match(p) and p not in (".", "..") for p in parts[1:]):
        raise ArchiveError(f"refusing archive member {name!r}: only manifest.json, config.json, model_args.json, "
                           "events.json and plain relative names under run/ are allowed")
    return parts[1:]


def read_manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    """The archive's manifest, with every member name and size checked against it."""
    names = zf.namelist()
    if MANIFEST not in names:
        raise ArchiveError("not a nanogpt_dash run archive: it has no manifest.json (make one with "
                           "python -m nanogpt_dash archive RUN --out FILE.zip)")
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except ValueError as e:
        raise ArchiveError(f"the archive's manifest.json is not valid JSON: {e}") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise ArchiveError(f"unknown archive format {manifest.get('format') if isinstance(manifest, dict) else None!r}: "
                           f"this version reads {FORMAT!r}")
    if len(set(names)) != len(names):
        raise ArchiveError("refusing an archive that holds the same name twice")
    for info in zf.infolist():
        _check_name(info.filename)
        if (info.external_attr >> 16) & 0o170000 not in (0, 0o100000):
            raise ArchiveError(f"refusing archive member {info.filename!r}: it is not a regular file (a link?)")
    listed = set(manifest["files"])
    present = {n for n in names if n not in TOP_LEVEL}
    if listed != present:
        raise ArchiveError(f"the archive does not match its manifest (missing: {sorted(listed - present)}, "
                           f"unlisted: {sorted(present - listed)})")
    if f"run/{DB_NAME}" not in listed:
        raise ArchiveError(f"the archive holds no run/{DB_NAME}: it is not a complete run archive")
    total = sum(int(entry.get("size", -1)) for entry in manifest["files"].values())
    if total > MAX_TOTAL_BYTES:
        raise ArchiveError(f"the archive unpacks to {total:,} bytes, over the limit of {MAX_TOTAL_BYTES:,}")
    return manifest


def _extract(zf: zipfile.ZipFile, name: str, entry: dict, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest, size, limit = hashlib.sha256(), 0, int(entry["size"])
    with zf.open(name) as src, open(dest, "xb") as out:
        for block in iter(lambda: src.read(CHUNK), b""):
            size += len(block)
            if size > limit:
                raise ArchiveError(f"archive member {name!r} is larger than its manifest says ({limit:,} bytes)")
            digest.update(block)
            out.write(block)
    if size != limit or digest.hexdigest() != entry["sha256"]:
        raise ArchiveError(f"archive member {name!r} is damaged: its size or sha256 differs from the manifest")


def import_archive(archive: Path | BinaryIO, runs_dir: Path, name: str | None = None, label: str | None = None) -> Path:
    """Unpack a run archive into runs_dir/<name> (default: the archived folder name); returns the run directory.

    `label` names the archive in messages (an uploaded file's name).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise ArchiveError(f"cannot read {label or archive} as a zip archive ({e}): choose a .zip written by "
                           "the dialog's archive button or by python -m nanogpt_dash archive") from e
    with zf:
        manifest = read_manifest(zf)
        target_name = name or str(manifest.get("run", ""))
        if not is_run_id(target_name) or not SAFE_PART.match(target_name):
            raise ArchiveError(f"refusing run name {target_name!r}: use letters, digits and . _ - + = @ "
                               "(no folders, not starting with a dot); choose one with --name")
        if not runs_dir.is_dir():
            raise ArchiveError(f"runs directory {runs_dir} does not exist: create it or pass --runs")
        target = runs_dir / target_name
        if target.exists() or target.is_symlink():
            raise ArchiveError(f"run '{target_name}' already exists in {runs_dir}/: import it under another name "
                               "with --name NEW")
        try:
            staging = Path(tempfile.mkdtemp(prefix=".import-", dir=runs_dir))
        except OSError as e:
            raise ArchiveError(f"cannot write into {runs_dir}: {e.strerror}") from e
        try:
            unpacked = staging / "run"  # two levels down: never discovered as a run while it is being written
            unpacked.mkdir()
            for member, entry in manifest["files"].items():
                _extract(zf, member, entry, unpacked.joinpath(*_check_name(member)))
            try:
                with RunReader(unpacked) as reader:
                    reader.meta()
            except StoreError as e:
                raise ArchiveError(f"the archived run file cannot be read: {e}") from e
            try:
                unpacked.rename(target)
            except OSError as e:
                raise ArchiveError(f"cannot move the imported run into {target}: {e.strerror}") from e
        except OSError as e:
            raise ArchiveError(f"cannot import into {runs_dir}: {e.strerror or e}; nothing was imported") from e
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
