"""Character-level datasets in nanoGPT's format: train.bin, val.bin (uint16 ids) and meta.pkl."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TypedDict

import numpy as np


class Meta(TypedDict):
    vocab_size: int
    itos: dict[int, str]
    stoi: dict[str, int]


def build_meta(text: str) -> Meta:
    """The vocabulary of `text`: every distinct character, ids in sorted order."""
    chars = sorted(set(text))
    if len(chars) > np.iinfo(np.uint16).max + 1:
        raise ValueError(
            f"text has {len(chars)} distinct characters; uint16 ids hold at most 65536"
        )
    return {
        "vocab_size": len(chars),
        "itos": dict(enumerate(chars)),
        "stoi": {ch: i for i, ch in enumerate(chars)},
    }


def encode(text: str, stoi: dict[str, int]) -> np.ndarray:
    """`text` as a uint16 array of character ids."""
    # vectorised lookup: millions of characters in milliseconds instead of a Python loop
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    keys = np.array([ord(ch) for ch in stoi], dtype=np.uint32)
    values = np.array(list(stoi.values()), dtype=np.uint16)
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    pos = np.minimum(np.searchsorted(keys, codes), len(keys) - 1)
    unknown = keys[pos] != codes
    if unknown.any():
        ch = chr(int(codes[unknown.argmax()]))
        raise ValueError(f"character {ch!r} is not in the vocabulary")
    return values[pos]


def decode(ids: np.ndarray, itos: dict[int, str]) -> str:
    """The text for an array of character ids."""
    return "".join(itos[int(i)] for i in ids)


def write_dataset(text: str, out_dir: Path, train_fraction: float = 0.9) -> Meta:
    """Encode `text`, split it (first part train, rest val) and write the three files."""
    if not text:
        raise ValueError("cannot build a dataset from empty text")
    meta = build_meta(text)
    ids = encode(text, meta["stoi"])
    n_train = int(len(ids) * train_fraction)
    out_dir.mkdir(parents=True, exist_ok=True)
    ids[:n_train].tofile(out_dir / "train.bin")
    ids[n_train:].tofile(out_dir / "val.bin")
    with open(out_dir / "meta.pkl", "wb") as f:
        pickle.dump(meta, f)
    return meta


def describe(out_dir: Path, meta: Meta) -> str:
    """A short summary of a written dataset, for the prepare scripts to print."""
    n_train = (out_dir / "train.bin").stat().st_size // 2
    n_val = (out_dir / "val.bin").stat().st_size // 2
    return (f"vocab size: {meta['vocab_size']:,}\n"
            f"train has {n_train:,} tokens\n"
            f"val has {n_val:,} tokens\n"
            f"wrote {out_dir}")
