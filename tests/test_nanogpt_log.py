"""nanoGPT's stdout, line by line: the real logs from a fresh and a resumed run, and garbage."""

import math

import pytest

from nanogpt_dash.nanogpt_log import (
    CheckpointSaved, ConfigValue, EvalLine, IterLine, LineParser, ParamCount, Start, TokensPerIter, VocabSize,
    parse_lines,
)

from helpers import SHARED_DATA

LOGS = SHARED_DATA / "nanogpt_stdout"


def real_log(name: str) -> list[str]:
    path = LOGS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (real nanoGPT stdout logs live in ../shared/data/nanogpt_stdout/)")
    return path.read_text().splitlines()


def test_fresh_log_gives_config_file_values_then_argv_overrides_in_order():
    config = [r for r in parse_lines(real_log("fresh.log")) if isinstance(r, ConfigValue)]
    from_file = {r.key: r.value for r in config if r.source == "config/train_shakespeare_char.py"}
    from_argv = [(r.key, r.value) for r in config if r.source == "argv"]
    assert from_file["out_dir"] == "out-shakespeare-char"
    assert from_file["learning_rate"] == 1e-3 and from_file["always_save_checkpoint"] is False
    assert from_file["wandb_run_name"] == "mini-gpt" and from_file["n_layer"] == 6
    assert "device" not in from_file  # commented out in the file
    assert from_argv[:3] == [("device", "cpu"), ("compile", False), ("eval_iters", 10)]
    assert ("out_dir", "out-shakespeare-char") in from_argv and ("dropout", 0.0) in from_argv


def test_fresh_log_gives_every_iteration_and_eval_with_the_mfu_placeholder_dropped():
    records = parse_lines(real_log("fresh.log"))
    iters = [r for r in records if isinstance(r, IterLine)]
    evals = [r for r in records if isinstance(r, EvalLine)]
    assert [r.step for r in iters] == list(range(41))
    assert iters[0] == IterLine(0, 4.1859, 855.46, None)
    assert iters[5].mfu == 0.0 and iters[4].mfu is None
    assert [r.step for r in evals] == [0, 10, 20, 30, 40]
    assert evals[0] == EvalLine(0, 4.1822, 4.1783)
    assert TokensPerIter(768) in records and ParamCount(0.10) in records and VocabSize(65) in records
    assert Start("scratch", None) in records
    assert records.count(CheckpointSaved("out-shakespeare-char")) == 4


def test_resumed_log_says_resume_and_starts_at_the_checkpoint_step():
    records = parse_lines(real_log("resume.log"))
    starts = [r for r in records if isinstance(r, Start)]
    assert starts == [Start("resume", "out-shakespeare-char")]
    first_metric = next(r for r in records if isinstance(r, (IterLine, EvalLine)))
    assert first_metric == EvalLine(40, 3.5999, 3.6191)
    assert ConfigValue("init_from", "resume", "argv") in records
    assert [r.step for r in records if isinstance(r, IterLine)] == list(range(40, 71))


def test_garbage_and_near_misses_are_ignored():
    parser = LineParser()
    lines = [
        "", "\x00\xff binary", "Traceback (most recent call last):", "iter x: loss 1.0, time 2ms, mfu 3%",
        "iter 5: loss", "step 10: train loss 1.0", "x = 1", "Overriding:", "number of parameters: many",
        "tokens per iteration will be: ", "iter 1: loss 1.0, time 2.0ms, mfu 3.0% trailing", "a" * 100_000,
    ]
    assert [parser.parse(line) for line in lines] == [None] * len(lines)


def test_assignments_count_only_inside_an_echoed_config_file():
    parser = LineParser()
    assert parser.parse("batch_size = 8") is None
    parser.parse("Overriding config with my.py:")
    assert parser.parse("batch_size = 8 # small") == ConfigValue("batch_size", 8, "my.py")
    assert parser.parse("wandb_run_name = 'run' + str(time.time())") is None  # computed: skipped
    assert parser.parse("tokens per iteration will be: 12,288") == TokensPerIter(12288)
    assert parser.parse("batch_size = 9") is None  # the echo has ended


def test_nan_and_inf_losses_are_kept_as_numbers():
    iter_nan = LineParser().parse("iter 7: loss nan, time 12.00ms, mfu 1.50%")
    assert math.isnan(iter_nan.loss) and iter_nan.mfu == pytest.approx(0.015)
    assert LineParser().parse("step 9: train loss inf, val loss nan").train_loss == math.inf


def test_gpt2_init_and_crlf_line_endings():
    parser = LineParser()
    assert parser.parse("Initializing from OpenAI GPT-2 weights: gpt2-xl\r\n") == Start("gpt2-xl", None)
    assert parser.parse("Overriding: wandb_log = True\r") == ConfigValue("wandb_log", True, "argv")
