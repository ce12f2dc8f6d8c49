"""
Tiny Shakespeare (about 1 MB of plays) as a character-level dataset, as in nanoGPT.

Reads --input PATH if given, else input.txt next to this file, else tries to download it.
Writes train.bin, val.bin and meta.pkl next to this file.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from pathlib import Path

if __package__ in (None, ""):  # run as `python data/shakespeare_char/prepare.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from data.charset import describe, write_dataset

HERE = Path(__file__).resolve().parent
URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
DOWNLOAD_TIMEOUT_S = 10


def _download(dest: Path) -> None:
    try:
        with urllib.request.urlopen(URL, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except OSError as e:
        raise FileNotFoundError(
            f"could not download Tiny Shakespeare from {URL} ({e}). "
            f"Put the file at data/shakespeare_char/input.txt or pass --input PATH."
        ) from e
    dest.write_bytes(data)


def prepare(input_path: Path | None = None, out_dir: Path | None = None) -> Path:
    """Build the dataset into `out_dir` (default: this folder) and return that folder."""
    out_dir = HERE if out_dir is None else Path(out_dir)
    if input_path is None:
        input_path = HERE / "input.txt"
        if not input_path.exists():
            _download(input_path)
    input_path = Path(input_path)
    if not input_path.is_file():
        raise FileNotFoundError(
            f"input file {input_path} not found. "
            f"Put the file at data/shakespeare_char/input.txt or pass --input PATH."
        )
    text = input_path.read_text(encoding="utf-8")
    meta = write_dataset(text, out_dir)
    print(f"length of dataset in characters: {len(text):,}")
    print(describe(out_dir, meta))
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--input", type=Path, default=None,
                        help="path to a local copy of Tiny Shakespeare's input.txt")
    args = parser.parse_args()
    try:
        prepare(args.input)
    except FileNotFoundError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
