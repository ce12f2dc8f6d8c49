import pickle
from pathlib import Path

import numpy as np
import pytest

from data.charset import decode
from data.python_char import prepare as python_char
from data.shakespeare_char import prepare as shakespeare_char

SHAKESPEARE = Path(__file__).parents[2] / "shared/data/tinyshakespeare.txt"
SMALL = 200_000


def read_dataset(out_dir: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    train = np.fromfile(out_dir / "train.bin", dtype=np.uint16)
    val = np.fromfile(out_dir / "val.bin", dtype=np.uint16)
    with open(out_dir / "meta.pkl", "rb") as f:
        meta = pickle.load(f)
    return train, val, meta


def test_python_char_bins_decode_back_to_the_stdlib_source(tmp_path):
    assert python_char.prepare(tmp_path, max_chars=SMALL) == tmp_path
    train, val, meta = read_dataset(tmp_path)
    assert set(meta) == {"vocab_size", "itos", "stoi"}
    assert len(train) == int(SMALL * 0.9) and len(train) + len(val) == SMALL
    text = decode(np.concatenate([train, val]), meta["itos"])
    assert text == python_char.collect_source(SMALL)


def test_python_char_skips_tests_and_site_packages():
    parts = {part for path in python_char.source_files() for part in path.parts}
    assert not parts & {"site-packages", "test", "tests"}


def test_python_char_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    python_char.prepare(a, max_chars=SMALL)
    python_char.prepare(b, max_chars=SMALL)
    for name in ("train.bin", "val.bin", "meta.pkl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason=f"{SHAKESPEARE} not present")
def test_shakespeare_char_has_nanogpts_65_character_vocabulary(tmp_path):
    shakespeare_char.prepare(SHAKESPEARE, tmp_path)
    train, val, meta = read_dataset(tmp_path)
    assert meta["vocab_size"] == 65
    assert len(train) == 1_003_854 and len(val) == 111_540
    assert decode(val[:100], meta["itos"]) == SHAKESPEARE.read_text()[1_003_854:][:100]


def test_shakespeare_char_names_the_fix_when_the_input_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="--input"):
        shakespeare_char.prepare(tmp_path / "missing.txt", tmp_path)
