import math

import pytest
import torch

import model
from model import GPT, GPTConfig, clean_state_dict, load_checkpoint, peak_flops, save_checkpoint

VOCAB = 65
TINY = dict(block_size=16, vocab_size=VOCAB, n_layer=2, n_head=2, n_embd=32, dropout=0.0,
            bias=True)


@pytest.fixture
def gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**TINY))


def batch(b: int = 4, t: int = 16, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, VOCAB, (b, t + 1), generator=g)
    return x[:, :-1], x[:, 1:]


def test_forward_with_targets_gives_full_logits_and_a_loss_near_ln_vocab(gpt):
    x, y = batch()
    logits, loss = gpt(x, y)
    assert logits.shape == (4, 16, VOCAB)
    # a freshly initialised model is close to uniform over the vocabulary
    assert loss.item() == pytest.approx(math.log(VOCAB), abs=0.15)


def test_forward_without_targets_gives_logits_for_the_last_position_only(gpt):
    x, _ = batch()
    logits, loss = gpt(x)
    assert logits.shape == (4, 1, VOCAB)
    assert loss is None


def test_targets_of_minus_one_are_ignored(gpt):
    x, y = batch()
    masked = y.clone()
    masked[:, 8:] = -1
    _, loss_masked = gpt(x, masked)
    logits, _ = gpt(x, y)
    expected = torch.nn.functional.cross_entropy(logits[:, :8].reshape(-1, VOCAB),
                                                 y[:, :8].reshape(-1))
    assert loss_masked.item() == pytest.approx(expected.item(), rel=1e-5)


def test_sequence_longer_than_block_size_raises_value_error_naming_the_limit(gpt):
    x = torch.zeros((1, 17), dtype=torch.long)
    with pytest.raises(ValueError, match="block_size 16"):
        gpt(x)


def test_module_names_match_nanogpt(gpt):
    names = {name for name, _ in gpt.named_modules()}
    expected = {"transformer.wte", "transformer.wpe", "transformer.drop", "transformer.ln_f",
                "lm_head"}
    for i in range(2):
        h = f"transformer.h.{i}"
        expected |= {f"{h}.ln_1", f"{h}.attn.c_attn", f"{h}.attn.c_proj",
                     f"{h}.attn.attn_dropout", f"{h}.attn.resid_dropout", f"{h}.ln_2",
                     f"{h}.mlp.c_fc", f"{h}.mlp.gelu", f"{h}.mlp.c_proj", f"{h}.mlp.dropout"}
    assert expected <= names
    assert isinstance(gpt.transformer, torch.nn.ModuleDict)
    assert isinstance(gpt.transformer.h, torch.nn.ModuleList)


def test_lm_head_is_tied_to_the_token_embedding(gpt):
    assert gpt.lm_head.weight is gpt.transformer.wte.weight


def test_bias_false_removes_every_bias():
    m = GPT(GPTConfig(**{**TINY, "bias": False}))
    assert not [n for n, _ in m.named_parameters() if n.endswith(".bias")]


def test_residual_projections_get_the_scaled_down_init():
    torch.manual_seed(0)
    m = GPT(GPTConfig(**{**TINY, "n_layer": 4, "n_embd": 64}))
    std = m.transformer.h[0].mlp.c_proj.weight.std().item()
    assert std == pytest.approx(0.02 / math.sqrt(2 * 4), rel=0.1)
    assert m.transformer.h[0].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert m.transformer.h[0].mlp.c_fc.bias.abs().max().item() == 0.0


def test_num_params_excludes_position_embeddings_by_default(gpt):
    total = sum(p.numel() for p in gpt.parameters())
    assert gpt.get_num_params(non_embedding=False) == total
    assert gpt.get_num_params() == total - 16 * 32


def test_a_few_optimiser_steps_on_a_fixed_batch_reduce_the_loss(gpt, capsys):
    optimizer = gpt.configure_optimizers(0.1, 1e-2, (0.9, 0.99), "cpu")
    out = capsys.readouterr().out
    assert "num decayed parameter tensors: " in out
    assert "num non-decayed parameter tensors: " in out
    assert "using fused AdamW: False" in out
    x, y = batch()
    _, first = gpt(x, y)
    for _ in range(10):
        _, loss = gpt(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _, last = gpt(x, y)
    assert last.item() < first.item() - 0.5


def test_optimiser_decays_matrices_and_not_biases_or_layernorms(gpt):
    optimizer = gpt.configure_optimizers(0.1, 1e-3, (0.9, 0.95), "cpu")
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decayed["params"])
    assert all(p.dim() < 2 for p in plain["params"])


def test_generate_appends_max_new_tokens_beyond_the_block_size(gpt):
    gpt.eval()
    idx = torch.zeros((2, 3), dtype=torch.long)
    out = gpt.generate(idx, max_new_tokens=20, temperature=0.8, top_k=5)
    assert out.shape == (2, 23)
    assert torch.equal(out[:, :3], idx)
    assert int(out.max()) < VOCAB


def test_crop_block_size_shrinks_the_context(gpt):
    gpt.crop_block_size(8)
    assert gpt.transformer.wpe.weight.shape == (8, 32)
    with pytest.raises(ValueError):
        gpt(torch.zeros((1, 9), dtype=torch.long))


def test_checkpoint_round_trip_restores_identical_outputs(gpt, tmp_path):
    optimizer = gpt.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    x, y = batch()
    _, loss = gpt(x, y)
    loss.backward()
    optimizer.step()
    gpt.eval()
    expected, _ = gpt(x)

    path = tmp_path / "ckpt.pt"
    config = {"dataset": "shakespeare_char", "out_dir": tmp_path, "dtype": torch.bfloat16}
    save_checkpoint(path, gpt, optimizer, TINY, 1, torch.tensor(2.5), config)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temp file left behind

    checkpoint = load_checkpoint(path, "cpu")  # weights_only=True inside
    assert set(checkpoint) == {"model", "optimizer", "model_args", "iter_num", "best_val_loss",
                               "config"}
    assert checkpoint["best_val_loss"] == 2.5 and type(checkpoint["best_val_loss"]) is float
    assert checkpoint["config"]["out_dir"] == str(tmp_path)

    restored = GPT(GPTConfig(**checkpoint["model_args"]))
    restored.load_state_dict(checkpoint["model"])
    restored.eval()
    actual, _ = restored(x)
    assert torch.equal(actual, expected)
    fresh_optimizer = restored.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    fresh_optimizer.load_state_dict(checkpoint["optimizer"])


def test_checkpoint_loads_with_plain_torch_load_weights_only(gpt, tmp_path):
    optimizer = gpt.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    save_checkpoint(tmp_path / "ckpt.pt", gpt, optimizer, TINY, 0, 1e9, {"seed": 1337})
    raw = torch.load(tmp_path / "ckpt.pt", map_location="cpu", weights_only=True)
    assert raw["iter_num"] == 0 and raw["config"] == {"seed": 1337}


def test_clean_state_dict_strips_the_torch_compile_prefix():
    cleaned = clean_state_dict({"_orig_mod.lm_head.weight": 1, "transformer.wte.weight": 2})
    assert cleaned == {"lm_head.weight": 1, "transformer.wte.weight": 2}


def test_clean_state_dict_drops_nanogpts_causal_mask_buffer_but_keeps_biases():
    cleaned = clean_state_dict({"transformer.h.0.attn.bias": 0,
                                "transformer.h.0.attn.c_attn.bias": 1})
    assert cleaned == {"transformer.h.0.attn.c_attn.bias": 1}


def test_estimate_mfu_is_none_on_cpu(gpt):
    assert gpt.estimate_mfu(12, 0.5, device="cpu", dtype=torch.bfloat16) is None


@pytest.fixture
def gpu_named(monkeypatch):
    def set_name(name: str) -> None:
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args, **kwargs: name)
    return set_name


def test_estimate_mfu_divides_by_the_peak_of_a_known_gpu(gpt, gpu_named):
    gpu_named("NVIDIA H100 80GB HBM3")
    mfu = gpt.estimate_mfu(12, 0.5, device="cuda", dtype="bfloat16")
    n, L, H, Q, T = gpt.get_num_params(), 2, 2, 16, 16
    expected = (6 * n + 12 * L * H * Q * T) * T * 12 / 0.5 / 989e12
    assert mfu == pytest.approx(expected)


def test_estimate_mfu_is_none_for_unknown_gpus_and_float32(gpt, gpu_named):
    gpu_named("NVIDIA Imaginary 9000")
    assert gpt.estimate_mfu(12, 0.5, device="cuda", dtype=torch.bfloat16) is None
    gpu_named("NVIDIA A100-SXM4-80GB")
    assert gpt.estimate_mfu(12, 0.5, device="cuda", dtype=torch.float32) is None


@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 PCIe", 756e12),
    ("NVIDIA H100 80GB HBM3", 989e12),
    ("NVIDIA A100-SXM4-40GB", 312e12),
    ("NVIDIA A10", 125e12),
    ("NVIDIA L40S", 362e12),
    ("NVIDIA L4", 121e12),
    ("NVIDIA GeForce RTX 4090", 165e12),
    ("NVIDIA RTX A6000", 155e12),
    ("NVIDIA RTX A4000", None),
])
def test_peak_flops_matches_the_most_specific_gpu_name(gpu_named, name, peak):
    gpu_named(name)
    assert peak_flops("cuda", torch.float16) == peak


def test_peak_flops_has_no_bf16_peak_on_fp16_only_tensor_cores(gpu_named):
    gpu_named("Tesla T4")
    assert peak_flops("cuda:0", torch.float16) == model.PEAK_FLOPS["T4"]
    assert peak_flops("cuda:0", torch.bfloat16) is None
