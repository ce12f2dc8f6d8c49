"""runs.py: model args from a run or its checkpoint, and configuration changes across resumes."""

import pytest
import torch

from model import GPT, GPTConfig
from nanogpt_dash.runs import CheckpointError, ConfigChange, changes_between, config_changes, model_args_for
from nanogpt_dash.tracking import Run

ARGS = dict(n_layer=1, n_head=2, n_embd=16, block_size=8, bias=False, vocab_size=10, dropout=0.0)


def record(run_dir, **kwargs) -> None:
    with Run(run_dir, **kwargs) as run:
        run.log({"train/loss": 1.0}, step=kwargs.get("resume_step") or 0)


def nanogpt_checkpoint(path) -> None:
    """A checkpoint as nanoGPT's train.py writes it (model, optimizer, model_args, iter_num, ...)."""
    model = GPT(GPTConfig(**ARGS))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "optimizer": {}, "model_args": ARGS, "iter_num": 3,
                "best_val_loss": torch.tensor(2.0), "config": {}}, path)


def test_recorded_model_args_win(runs_dir):
    record(runs_dir / "a", model_args={"n_layer": 4})
    nanogpt_checkpoint(runs_dir / "a" / "ckpt.pt")
    assert model_args_for(runs_dir / "a") == {"n_layer": 4}


def test_a_run_recorded_without_model_args_gets_them_from_its_checkpoint(runs_dir):
    record(runs_dir / "wrapped")
    assert model_args_for(runs_dir / "wrapped") == {}
    nanogpt_checkpoint(runs_dir / "wrapped" / "ckpt.pt")
    assert model_args_for(runs_dir / "wrapped") == ARGS


def test_the_checkpoint_may_live_where_a_checkpoint_event_says(runs_dir, tmp_path):
    elsewhere = tmp_path / "nanoGPT" / "out" / "ckpt.pt"
    nanogpt_checkpoint(elsewhere)
    with Run(runs_dir / "train") as run:
        run.event("checkpoint", {"path": str(tmp_path / "gone.pt")}, step=5)
        run.event("checkpoint", {"path": str(elsewhere)}, step=10)
    assert model_args_for(runs_dir / "train") == ARGS


def test_an_unreadable_checkpoint_is_named(runs_dir):
    record(runs_dir / "broken")
    (runs_dir / "broken" / "ckpt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken/ckpt.pt"):
        model_args_for(runs_dir / "broken")


def test_config_changes_lists_each_changed_key_at_the_resume_step(runs_dir):
    base = {"learning_rate": 1e-3, "batch_size": 12, "init_from": "scratch", "seed": 1}
    record(runs_dir / "r", config=base)
    record(runs_dir / "r", config={**base, "learning_rate": 5e-4, "init_from": "resume"}, resume_step=20)
    record(runs_dir / "r", config={"learning_rate": 5e-4, "batch_size": 24, "init_from": "resume", "seed": 1,
                                   "grad_clip": 0.5}, resume_step=35)
    assert config_changes(runs_dir / "r") == [
        ConfigChange(20, "init_from", "scratch", "resume"),
        ConfigChange(20, "learning_rate", 1e-3, 5e-4),
        ConfigChange(35, "batch_size", 12, 24),
        ConfigChange(35, "grad_clip", None, 0.5),
    ]


def test_a_run_with_one_segment_has_no_config_changes(runs_dir):
    record(runs_dir / "once", config={"seed": 1})
    assert config_changes(runs_dir / "once") == []
    assert changes_between([]) == []
