"""Layer statistics: values checked by hand on a tiny GPT, then through the real train.py (plain, DDP, compile)."""

import numpy as np
import pytest
import torch

from model import GPT, GPTConfig
from nanogpt_dash.architecture import activation_key, param_key, parse_stat_key
from nanogpt_dash.layer_stats import LayerStats, probe_tokens, underlying
from nanogpt_dash.store import RunReader, read_arrays

from helpers import run_torchrun, run_train, torchrun_failure


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=8, block_size=6, vocab_size=11, bias=True, dropout=0.0))
    idx = torch.randint(0, 11, (3, 6))
    return model, idx


def test_activation_statistics_are_those_of_the_residual_stream_after_each_block(tiny):
    model, idx = tiny
    got = LayerStats(model, interval=1).activations(idx)
    with torch.no_grad():
        x = model.transformer.wte(idx) + model.transformer.wpe(torch.arange(6))
        for i, block in enumerate(model.transformer.h):
            x = block(x)
            a = x.numpy().astype(np.float64)
            assert got[activation_key(i, "act_mean")] == pytest.approx(a.mean(), abs=1e-6)
            assert got[activation_key(i, "act_std")] == pytest.approx(np.sqrt(((a - a.mean()) ** 2).mean()), rel=1e-5)
            assert got[activation_key(i, "act_absmax")] == pytest.approx(np.abs(a).max(), rel=1e-6)
    assert len(got) == 2 * 3


def test_gradient_norms_and_update_ratios_of_one_sgd_step_match_hand_computation(tiny):
    model, idx = tiny
    stats = LayerStats(model, interval=1)
    lr = 0.1
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)  # plain SGD: w_new = w - lr * g
    _, loss = model(idx, idx)
    loss.backward()
    grads = {name: p.grad.numpy().astype(np.float64).copy() for name, p in model.named_parameters()}
    weights = {name: p.detach().numpy().astype(np.float64).copy() for name, p in model.named_parameters()}
    got = stats.gradients()
    stats.before_update()
    optimizer.step()
    got.update(stats.after_update())
    after = {name: p.detach().numpy().astype(np.float64) for name, p in model.named_parameters()}
    for name in grads:
        g, w = grads[name], weights[name]
        assert got[param_key(name, "grad_norm")] == pytest.approx(np.sqrt((g ** 2).sum()), rel=1e-5)
        ratio = got[param_key(name, "update_ratio")]
        if not w.any():  # biases start at zero: any update is infinitely large relative to them
            assert ratio == np.inf
            continue
        assert ratio == pytest.approx(np.sqrt(((after[name] - w) ** 2).sum()) / np.sqrt((w ** 2).sum()), rel=1e-6)
        # SGD moved w by lr * g, up to float32 rounding of the stored weights
        assert ratio == pytest.approx(lr * np.sqrt((g ** 2).sum()) / np.sqrt((w ** 2).sum()), rel=1e-2)
    assert param_key("transformer.wte.weight", "grad_norm") in got  # the tied lm_head weight, once
    assert not any("lm_head" in key for key in got)


def test_attention_rows_sum_to_one_are_causal_and_reproduce_the_models_attention(tiny):
    model, idx = tiny
    maps = LayerStats(model, interval=1).attention(idx[:1])
    assert maps.shape == (2, 2, 6, 6)
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-6)
    assert np.all(np.triu(maps, k=1) == 0)
    # weighting the values by these maps gives exactly what the fused kernel computed in block 0
    attn = model.transformer.h[0].attn
    with torch.no_grad():
        x = model.transformer.h[0].ln_1(model.transformer.wte(idx[:1]) + model.transformer.wpe(torch.arange(6)))
        v = attn.c_attn(x).split(8, dim=2)[2].view(1, 6, 2, 4).transpose(1, 2)  # (1, nh, T, hs)
        y = (torch.from_numpy(maps[0])[None] @ v).transpose(1, 2).reshape(1, 6, 8)
        torch.testing.assert_close(attn.c_proj(y), attn(x), atol=1e-5, rtol=1e-5)


def test_statistics_leave_the_model_in_training_mode(tiny):
    model, idx = tiny
    model.train()
    stats = LayerStats(model, interval=1)
    stats.activations(idx)
    stats.attention(idx[:1])
    assert model.training


def test_underlying_unwraps_compile():
    model = GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=4, vocab_size=5))
    assert underlying(torch.compile(model)) is model
    assert underlying(model) is model


def test_interval_zero_is_off_and_negative_is_refused(tiny):
    model, _ = tiny
    assert not any(LayerStats(model, 0).due(step) for step in range(10))
    assert [s for s in range(10) if LayerStats(model, 4).due(s)] == [0, 4, 8]
    with pytest.raises(ValueError, match="layer_stats_interval must be >= 0"):
        LayerStats(model, -1)


def test_probe_is_the_start_of_the_validation_text_capped():
    val = np.arange(1000, dtype=np.uint16)
    assert probe_tokens(val, 32).tolist() == list(range(32))
    assert len(probe_tokens(val, 1024)) == 128


def test_keys_parse_back_to_their_graph_nodes():
    k = parse_stat_key(param_key("transformer.h.3.attn.c_attn.weight", "grad_norm"))
    assert (k.node, k.stat, k.tensor, k.block) == ("transformer.h.3.attn.c_attn", "grad_norm",
                                                   "transformer.h.3.attn.c_attn.weight", 3)
    k = parse_stat_key(activation_key(11, "act_std"))
    assert (k.node, k.stat, k.block) == ("transformer.h.11", "act_std", 11)
    assert parse_stat_key("train/loss") is None and parse_stat_key("layers/h.x/act_std") is None


# -- through the real train.py ------------------------------------------------------------------

def recorded(out_dir):
    with RunReader(out_dir) as reader:
        batch = reader.scalars_since(0)
        maps = read_arrays(reader, "attention")
        meta = reader.meta()
    steps = {key: sorted(int(s) for s, k in zip(batch.step, batch.key) if k == key) for key in set(batch.key)}
    return meta, steps, maps


def assert_statistics(out_dir, stat_steps, eval_steps, n_layer=2, n_head=2, block_size=32):
    meta, steps, maps = recorded(out_dir)
    assert meta.status == "finished"
    for i in range(n_layer):
        for stat in ("act_mean", "act_std", "act_absmax"):
            assert steps[activation_key(i, stat)] == stat_steps
    for tensor in ("transformer.wte.weight", "transformer.h.1.mlp.c_fc.weight", "transformer.ln_f.weight"):
        assert steps[param_key(tensor, "grad_norm")] == stat_steps
        assert steps[param_key(tensor, "update_ratio")] == stat_steps
    assert [m.step for m in maps] == eval_steps
    for m in maps:
        assert m.array.shape == (n_layer, n_head, block_size, block_size)
        assert len(m.meta["tokens"]) == block_size and all(isinstance(t, str) for t in m.meta["tokens"])
        np.testing.assert_allclose(m.array.astype(np.float32).sum(-1), 1.0, atol=5e-3)  # stored as float16


def test_train_py_logs_statistics_at_the_interval_and_attention_at_each_eval(tmp_path):
    out_dir = tmp_path / "runs" / "stats"
    result = run_train(out_dir, "--max_iters=20", "--layer_stats_interval=4", "--dashboard_autostart=False")
    assert result.returncode == 0, result.stderr[-2000:]
    assert_statistics(out_dir, [0, 4, 8, 12, 16, 20], [0, 10, 20])


def test_layer_stats_interval_zero_logs_none(tmp_path):
    out_dir = tmp_path / "runs" / "off"
    result = run_train(out_dir, "--max_iters=4", "--layer_stats_interval=0", "--dashboard_autostart=False")
    assert result.returncode == 0, result.stderr[-2000:]
    _, steps, maps = recorded(out_dir)
    assert not any(k.startswith(("layers/", "params/")) for k in steps) and maps == []


def test_ddp_run_records_statistics_from_rank_zero(tmp_path):
    out_dir = tmp_path / "runs" / "ddp"
    result = run_torchrun(out_dir, "--max_iters=4", "--gradient_accumulation_steps=2", "--layer_stats_interval=2",
                          "--dashboard_autostart=False")
    assert result.returncode == 0, torchrun_failure(result)
    assert_statistics(out_dir, [0, 2, 4], [0])


def test_compiled_run_records_statistics(tmp_path):
    # torch.compile on CPU builds C++ kernels: about a minute and a half on a shared 2-core machine
    out_dir = tmp_path / "runs" / "compiled"
    result = run_train(out_dir, "--max_iters=4", "--layer_stats_interval=2", "--compile=True",
                       "--dashboard_autostart=False", timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_statistics(out_dir, [0, 2, 4], [0])
