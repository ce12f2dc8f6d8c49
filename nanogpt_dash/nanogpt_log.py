"""Reading nanoGPT's stdout: one line in, one record (or None) out.

nanoGPT has no logging API; what it knows it prints. The lines recognised here are those of
karpathy/nanoGPT's train.py and configurator.py (and this project's train.py, which prints the same):

    Overriding config with config/train_shakespeare_char.py:   (followed by the file's text)
    Overriding: max_iters = 40
    tokens per iteration will be: 12,288
    found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)
    Initializing a new model from scratch | Resuming training from out-dir
    number of parameters: 10.65M
    step 250: train loss 1.9654, val loss 2.0654
    saving checkpoint to out-dir
    iter 250: loss 1.9862, time 35.12ms, mfu 11.52%

Anything else (warnings, tracebacks, a fork's own prints) is ignored.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Iterable

_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
_ITER = re.compile(rf"^iter (\d+): loss ({_NUMBER}), time ({_NUMBER})ms, mfu ({_NUMBER})%\s*$")
_EVAL = re.compile(rf"^step (\d+): train loss ({_NUMBER}), val loss ({_NUMBER})\s*$")
_OVERRIDE = re.compile(r"^Overriding: ([A-Za-z_]\w*) = (.*?)\s*$")
_CONFIG_FILE = re.compile(r"^Overriding config with (.+):\s*$")
_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(.+?)\s*$")
_TOKENS = re.compile(r"^tokens per iteration will be: ([\d,]+)\s*$")
_PARAMS = re.compile(rf"^number of parameters: ({_NUMBER})M\s*$")
_VOCAB = re.compile(r"^found vocab_size = (\d+)")
_RESUME = re.compile(r"^Resuming training from (.+?)\s*$")
_INIT = re.compile(r"^Initializing (?:a new model from (scratch)|from OpenAI GPT-2 weights: (\S+))\s*$")
_SAVE = re.compile(r"^saving checkpoint to (.+?)\s*$")

MFU_PLACEHOLDER = -100.0  # nanoGPT prints -100.00% until it has an estimate


@dataclass(frozen=True)
class IterLine:
    step: int
    loss: float
    time_ms: float
    mfu: float | None  # a fraction (0.1152 for 11.52%); None for nanoGPT's placeholder


@dataclass(frozen=True)
class EvalLine:
    step: int
    train_loss: float
    val_loss: float


@dataclass(frozen=True)
class ConfigValue:
    key: str
    value: Any
    source: str  # "argv" for `Overriding: k = v`, else the config file's path


@dataclass(frozen=True)
class TokensPerIter:
    tokens: int


@dataclass(frozen=True)
class ParamCount:
    millions: float


@dataclass(frozen=True)
class VocabSize:
    vocab_size: int


@dataclass(frozen=True)
class Start:
    init_from: str  # "scratch", "resume" or a GPT-2 model name
    out_dir: str | None  # given on resume lines


@dataclass(frozen=True)
class CheckpointSaved:
    out_dir: str


Record = IterLine | EvalLine | ConfigValue | TokensPerIter | ParamCount | VocabSize | Start | CheckpointSaved


class LineParser:
    """Parses nanoGPT's stdout line by line; remembers only whether it is inside an echoed config file."""

    def __init__(self) -> None:
        self._config_file: str | None = None

    def parse(self, line: str) -> Record | None:
        """The record a line of nanoGPT's stdout carries, or None for any other line."""
        line = line.rstrip("\r\n")
        if m := _CONFIG_FILE.match(line):
            self._config_file = m.group(1)
            return None
        record = _parse_fixed(line)
        if record is not None:
            self._config_file = None
            return record
        if self._config_file is not None and (m := _ASSIGNMENT.match(line)):
            value = _file_literal(m.group(2))
            if value is not _NOT_LITERAL:
                return ConfigValue(m.group(1), value, self._config_file)
        return None


def parse_lines(lines: Iterable[str]) -> list[Record]:
    """Every record in a sequence of stdout lines, in order."""
    parser = LineParser()
    return [r for r in map(parser.parse, lines) if r is not None]


def _parse_fixed(line: str) -> Record | None:
    if m := _ITER.match(line):
        mfu = float(m.group(4))
        return IterLine(int(m.group(1)), float(m.group(2)), float(m.group(3)),
                        None if mfu == MFU_PLACEHOLDER else mfu / 100.0)
    if m := _EVAL.match(line):
        return EvalLine(int(m.group(1)), float(m.group(2)), float(m.group(3)))
    if m := _OVERRIDE.match(line):
        return ConfigValue(m.group(1), _argv_literal(m.group(2)), "argv")
    if m := _TOKENS.match(line):
        return TokensPerIter(int(m.group(1).replace(",", "")))
    if m := _PARAMS.match(line):
        return ParamCount(float(m.group(1)))
    if m := _VOCAB.match(line):
        return VocabSize(int(m.group(1)))
    if m := _RESUME.match(line):
        return Start("resume", m.group(1))
    if m := _INIT.match(line):
        return Start(m.group(1) or m.group(2), None)
    if m := _SAVE.match(line):
        return CheckpointSaved(m.group(1))
    return None


_NOT_LITERAL = object()


def _argv_literal(text: str) -> Any:
    # configurator.py prints the value after literal_eval, so strings arrive unquoted
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _file_literal(text: str) -> Any:
    # a config file's own text: `lr = 1e-3 # comment`; anything computed is skipped
    try:
        node = ast.parse(text, mode="eval").body
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_LITERAL
