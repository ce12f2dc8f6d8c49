"""nanoGPT's own command lines, configs and checkpoints work here, and ours work there.

The nanoGPT-layout checkpoint is written by this project's code under the state-dict key names
karpathy/nanoGPT publishes (its model.py module names); no nanoGPT code is used.
"""

import os
import pickle
import subprocess
import sys

import pytest
import torch

from model import GPT, GPTConfig, load_checkpoint, save_checkpoint
from nanogpt_dash.store import RunReader

from helpers import REPO, TINY_TRAIN_ARGS

MODEL_ARGS = dict(n_layer=2, n_head=2, n_embd=32, block_size=16, bias=True, vocab_size=12, dropout=0.0)
CHARS = "\n abcdefghij"  # 12 characters: the vocabulary of the fixture's meta.pkl
NANOGPT_CHECKPOINT_KEYS = {"model", "optimizer", "model_args", "iter_num", "best_val_loss", "config"}
NANOGPT_MODEL_ARGS = {"n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size", "dropout"}


def nanogpt_state_dict_keys(n_layer: int, bias: bool, flash: bool = True) -> set[str]:
    """The keys of nanoGPT's GPT.state_dict(): module names from its model.py.

    Without flash attention (PyTorch < 2.0) each block also saves its causal mask as `attn.bias`.
    """
    keys = {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight", "lm_head.weight"}
    if bias:
        keys.add("transformer.ln_f.bias")
    for i in range(n_layer):
        block = f"transformer.h.{i}."
        for layer in ("ln_1", "ln_2", "attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            keys.add(block + layer + ".weight")
            if bias:
                keys.add(block + layer + ".bias")
        if not flash:
            keys.add(block + "attn.bias")
    return keys


def write_nanogpt_checkpoint(out_dir, compiled: bool = True, flash: bool = False) -> dict:
    """A ckpt.pt laid out as nanoGPT's train.py saves it (torch.compile prefix, mask buffers, tensor loss)."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(**MODEL_ARGS))
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    state = dict(model.state_dict())
    if not flash:
        mask = torch.tril(torch.ones(16, 16)).view(1, 1, 16, 16)
        for i in range(MODEL_ARGS["n_layer"]):
            state[f"transformer.h.{i}.attn.bias"] = mask
    assert set(state) == nanogpt_state_dict_keys(2, bias=True, flash=flash)
    if compiled:
        state = {f"_orig_mod.{k}": v for k, v in state.items()}
    checkpoint = {
        "model": state, "optimizer": optimizer.state_dict(), "model_args": dict(MODEL_ARGS), "iter_num": 500,
        "best_val_loss": torch.tensor(1.4697),  # nanoGPT saves the eval loss as a 0-d tensor
        "config": {"out_dir": str(out_dir), "dataset": "tinychars", "wandb_log": False, "wandb_project": "owt",
                   "wandb_run_name": "gpt2", "dtype": "bfloat16", "compile": True},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out_dir / "ckpt.pt")
    data = out_dir.parent / "data" / "tinychars"
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": 12, "itos": dict(enumerate(CHARS)), "stoi": {c: i for i, c in enumerate(CHARS)}}, f)
    return {k: v for k, v in model.state_dict().items()}


def test_a_nanogpt_checkpoint_loads_here_weights_only_with_identical_weights(tmp_path):
    expected = write_nanogpt_checkpoint(tmp_path / "out", compiled=True, flash=False)
    checkpoint = load_checkpoint(tmp_path / "out" / "ckpt.pt", "cpu")
    model = GPT(GPTConfig(**checkpoint["model_args"]))
    model.load_state_dict(checkpoint["model"])  # strict: every key matched, none left over
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu").load_state_dict(checkpoint["optimizer"])


def test_our_checkpoint_has_exactly_what_nanogpt_reads(tmp_path):
    model = GPT(GPTConfig(**MODEL_ARGS))
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    save_checkpoint(tmp_path / "ckpt.pt", model, optimizer, MODEL_ARGS, 7, 2.0, {"dataset": "tinychars"})
    raw = torch.load(tmp_path / "ckpt.pt", map_location="cpu", weights_only=True)
    assert set(raw) == NANOGPT_CHECKPOINT_KEYS
    assert set(raw["model_args"]) == NANOGPT_MODEL_ARGS
    assert set(raw["model"]) == nanogpt_state_dict_keys(2, bias=True)  # what nanoGPT's strict load expects
    shapes = {k: tuple(v.shape) for k, v in raw["model"].items()}
    assert shapes["transformer.h.0.attn.c_attn.weight"] == (96, 32)  # nn.Linear(C, 3C): (out, in)
    assert shapes["transformer.h.1.mlp.c_proj.weight"] == (32, 128)
    assert shapes["lm_head.weight"] == (12, 32)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_checkpoints_are_written_with_the_umask_like_torch_save(tmp_path, umask, mode):
    model = GPT(GPTConfig(**MODEL_ARGS))
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    previous = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "ckpt.pt", model, optimizer, MODEL_ARGS, 0, 1e9, {})
    finally:
        os.umask(previous)
    assert (tmp_path / "ckpt.pt").stat().st_mode & 0o777 == mode
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


@pytest.fixture(scope="module")
def nanogpt_style_run(tmp_path_factory):
    """train.py driven the way a nanoGPT user would: a config with wandb keys, --dtype=float16 on a CPU."""
    root = tmp_path_factory.mktemp("nanogpt_style")
    config = root / "train_tiny_char.py"
    config.write_text("# as in nanoGPT's config/train_shakespeare_char.py\n"
                      "wandb_log = True # override via command line if you like\n"
                      "wandb_project = 'shakespeare-char'\nwandb_run_name = 'mini-gpt'\n")
    out_dir = root / "runs" / "nanogpt-style"
    cmd = [sys.executable, "train.py", str(config), *TINY_TRAIN_ARGS, f"--out_dir={out_dir}", "--max_iters=10",
           "--dtype=float16", "--dashboard_autostart=False"]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240,
                            preexec_fn=lambda: os.umask(0o022))
    return out_dir, result


def test_nanogpt_config_keys_and_float16_on_cpu_train_instead_of_stopping(nanogpt_style_run):
    out_dir, result = nanogpt_style_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dtype='float16' has no effect on cpu (autocast is CUDA-only here): training in float32" in result.stdout
    assert "wandb_log=True: metrics go to the nanogpt_dash dashboard, not Weights & Biases" in result.stdout
    with RunReader(out_dir) as reader:
        meta = reader.meta()
    assert meta.name == "mini-gpt"  # wandb_run_name names the run
    assert meta.config["dtype"] == "float32" and meta.config["wandb_project"] == "shakespeare-char"
    assert (out_dir / "ckpt.pt").stat().st_mode & 0o777 == 0o644


def run_sample(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "sample.py", *args], cwd=REPO, capture_output=True, text=True, timeout=240)


def test_sample_py_reads_a_file_prompt_and_samples_from_our_checkpoint(nanogpt_style_run, tmp_path):
    out_dir, result = nanogpt_style_run
    assert result.returncode == 0, result.stderr[-2000:]
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("def ")
    sample = run_sample(f"--out_dir={out_dir}", f"--start=FILE:{prompt}", "--num_samples=2",
                        "--max_new_tokens=20", "--device=cpu")
    assert sample.returncode == 0, sample.stderr[-2000:]
    samples = sample.stdout.split("---------------\n")
    assert len(samples) == 3 and samples[-1] == ""
    body = [s.split("number of parameters")[-1] for s in samples[:2]]
    assert all("def " in s for s in body)


def test_sample_py_samples_from_a_nanogpt_checkpoint_repeatably(tmp_path):
    write_nanogpt_checkpoint(tmp_path / "out-tiny", compiled=True, flash=False)
    args = [f"--out_dir={tmp_path / 'out-tiny'}", "--start=abc", "--num_samples=1", "--max_new_tokens=30",
            "--seed=7", "--top_k=5", "--temperature=1.0", "--device=cpu"]
    first, second = run_sample(*args), run_sample(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    text = first.stdout.split("number of parameters")[1].split("\n", 1)[1].split("---------------")[0]
    assert text.startswith("abc") and len(text) == 3 + 30 + 1 and set(text) <= set(CHARS)
    assert first.stdout == second.stdout  # same seed, same sample


def test_sample_py_names_what_is_missing(tmp_path):
    result = run_sample(f"--out_dir={tmp_path}")
    assert result.returncode != 0 and f"no checkpoint at {tmp_path}/ckpt.pt" in result.stderr
    result = run_sample("--init_from=gpt2")
    assert result.returncode != 0 and "not supported here" in result.stderr


# the module-level config names of karpathy/nanoGPT's train.py
NANOGPT_TRAIN_KEYS = (
    "out_dir eval_interval log_interval eval_iters eval_only always_save_checkpoint init_from wandb_log "
    "wandb_project wandb_run_name dataset gradient_accumulation_steps batch_size block_size n_layer n_head "
    "n_embd dropout bias learning_rate max_iters weight_decay beta1 beta2 grad_clip decay_lr warmup_iters "
    "lr_decay_iters min_lr backend device dtype compile"
).split()


def test_train_py_accepts_every_config_key_of_nanogpts_train_py():
    result = subprocess.run([sys.executable, "train.py", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    listed = {line.split("=")[0].strip().lstrip("-") for line in result.stderr.splitlines() if line.startswith("  --")}
    assert set(NANOGPT_TRAIN_KEYS) - listed == set()
