"""
The default dataset, built offline: Python's own standard library as a character-level corpus.

Every machine that can run train.py has this text, so a first run needs no download. Writes
train.bin, val.bin and meta.pkl next to this file, in the same format as shakespeare_char.
The corpus depends on the Python version that builds it; prepare once and keep the files to
compare runs across machines.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

if __package__ in (None, ""):  # run as `python data/python_char/prepare.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from data.charset import describe, write_dataset

HERE = Path(__file__).resolve().parent
MAX_CHARS = 4_000_000
SKIP_DIRS = {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test"}


def source_files(stdlib: Path | None = None) -> list[Path]:
    """The standard library's .py files in a fixed order, without tests and installed packages."""
    stdlib = Path(sysconfig.get_paths()["stdlib"]) if stdlib is None else stdlib
    files = [
        p for p in stdlib.rglob("*.py")
        if not SKIP_DIRS.intersection(p.relative_to(stdlib).parts[:-1])
    ]
    return sorted(files, key=lambda p: p.relative_to(stdlib).as_posix())


def collect_source(max_chars: int = MAX_CHARS) -> str:
    """The concatenated source text, cut at `max_chars` characters."""
    parts: list[str] = []
    total = 0
    for path in source_files():
        try:
            text = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # a few files are deliberately mis-encoded test fixtures
        parts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    return "".join(parts)[:max_chars]


def prepare(out_dir: Path | None = None, max_chars: int = MAX_CHARS) -> Path:
    """Build the dataset into `out_dir` (default: this folder) and return that folder."""
    out_dir = HERE if out_dir is None else Path(out_dir)
    text = collect_source(max_chars)
    if not text:
        raise FileNotFoundError(
            f"no readable .py files under {sysconfig.get_paths()['stdlib']}; "
            "use the shakespeare_char dataset instead (data/shakespeare_char/prepare.py)"
        )
    meta = write_dataset(text, out_dir)
    print(f"length of dataset in characters: {len(text):,}")
    print(describe(out_dir, meta))
    return out_dir


if __name__ == "__main__":
    prepare()
