"""architecture.py against model.py itself and the published GPT-2 sizes."""

import pytest
import torch

from model import GPT, GPTConfig
from nanogpt_dash.architecture import (
    PRESETS, ArchitectureError, ModelConfig, block_id, block_summary, config_dict, describe, model_config, view,
)

SMALL_CONFIGS = [
    ModelConfig(1, 1, 8, 4, 11, True, 0.0),
    ModelConfig(2, 2, 32, 32, 65, False, 0.0),
    ModelConfig(3, 4, 48, 16, 97, True, 0.1),
    PRESETS["cpu-default"],
]


def gpt(config: ModelConfig) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**config_dict(config)))


@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=lambda c: f"{c.n_layer}-{c.n_head}-{c.n_embd}-bias{c.bias}")
def test_totals_equal_the_parameters_of_model_py(config):
    model = gpt(config)
    arch = describe(config)
    assert arch.totals.total == sum(p.numel() for p in model.parameters())
    assert arch.totals.reported == model.get_num_params()
    assert arch.totals.total - arch.totals.reported == model.transformer.wpe.weight.numel()


@pytest.mark.parametrize("config", SMALL_CONFIGS[:3], ids=str)
def test_every_parameter_tensor_is_on_its_module_node_with_its_shape(config):
    model = gpt(config)
    arch = describe(config)
    owned = {p.name: p.shape for n in arch.nodes for p in n.params if p.tied_to is None}
    assert owned == {name: tuple(p.shape) for name, p in model.named_parameters()}
    for node in arch.nodes:
        for tensor in node.params:
            assert tensor.name.startswith(node.id + "."), (tensor.name, node.id)


def test_lm_head_is_tied_to_the_token_embedding():
    model = gpt(SMALL_CONFIGS[1])
    assert model.lm_head.weight is model.transformer.wte.weight
    lm_head = describe(SMALL_CONFIGS[1]).node("lm_head")
    assert lm_head.params[0].tied_to == "transformer.wte.weight" and lm_head.param_count == 0


@pytest.mark.parametrize("preset, total, reported_millions", [
    ("gpt2", 124_439_808, 123.65),
    ("gpt2-medium", 354_823_168, 353.77),
    ("gpt2-large", 774_030_080, 772.72),
    ("gpt2-xl", 1_557_611_200, 1555.97),
    ("shakespeare-char", 10_745_088, 10.65),  # nanoGPT prints "number of parameters: 10.65M"
])
def test_presets_have_the_published_sizes(preset, total, reported_millions):
    totals = describe(PRESETS[preset]).totals
    assert totals.total == total
    assert round(totals.reported / 1e6, 2) == reported_millions


def test_training_flops_match_model_py_estimate_mfu_formula():
    config = PRESETS["gpt2"]
    model_n = describe(config).totals.reported
    L, H, Q, T = 12, 12, 64, 1024
    assert describe(config).training_flops_per_token == 6 * model_n + 12 * L * H * Q * T


def test_forward_flops_are_two_per_weight_plus_attention():
    c = SMALL_CONFIGS[1]
    arch = describe(c)
    matmul_weights = 12 * c.n_embd ** 2 * c.n_layer + c.vocab_size * c.n_embd
    assert arch.forward_flops_per_token == 2 * matmul_weights + 4 * c.block_size * c.n_embd * c.n_layer


def test_activation_shapes_follow_the_batch():
    arch = describe(PRESETS["gpt2"], batch_size=8)
    assert arch.node("transformer.h.0.attn.c_attn").activation_shape == (8, 1024, 3 * 768)
    assert arch.node("transformer.h.0.attn.heads").activation_shape == (8, 12, 1024, 1024)
    assert arch.node("lm_head").activation_shape == (8, 1024, 50257)


def test_every_node_explains_itself():
    for node in describe(PRESETS["cpu-default"]).nodes:
        assert len(node.explanation.split()) >= 15, node.id


def test_collapsed_view_has_one_node_per_block():
    arch = describe(PRESETS["gpt2-xl"])
    v = view(arch, expanded=())
    assert [leaf for leaf in v.leaves if leaf.startswith("transformer.h.")] == [block_id(i) for i in range(48)]
    assert len(v.leaves) == 48 + 6 and not v.parents
    chain = [(e.source, e.target) for e in v.edges if e.kind == "data"]
    assert ("transformer.h.0", "transformer.h.1") in chain and ("transformer.h.47", "transformer.ln_f") in chain


def test_expanding_one_block_shows_its_ten_parts_and_the_skip_paths():
    arch = describe(PRESETS["gpt2-xl"])
    v = view(arch, expanded=[3])
    inside = sorted(n for n, parent in v.parents.items() if parent == "transformer.h.3")
    assert len(inside) == 10 and "transformer.h.3.attn.heads" in inside
    assert "transformer.h.3" not in v.leaves and "transformer.h.2" in v.leaves
    residual = {(e.source, e.target) for e in v.edges if e.kind == "residual"}
    assert residual == {("transformer.h.2", "transformer.h.3.add_1"), ("transformer.h.3.add_1", "transformer.h.3.add_2")}
    assert v.blocks_expanded == (3,) and len(v.blocks_collapsed) == 47
    ids = set(v.leaves)
    assert all(e.source in ids and e.target in ids for e in v.edges)


def test_every_expanded_node_is_described():
    arch = describe(SMALL_CONFIGS[2])
    v = view(arch, expanded=range(3))
    assert set(v.leaves) == {n.id for n in arch.nodes}


def test_block_summary_adds_up_its_parts():
    c = SMALL_CONFIGS[1]
    summary = block_summary(describe(c), 1)
    assert summary.param_count == 12 * c.n_embd ** 2 + 2 * c.n_embd  # bias=False: two LayerNorm gains
    model = gpt(c)
    assert summary.param_count == sum(p.numel() for p in model.transformer.h[1].parameters())


@pytest.mark.parametrize("changes, field, words", [
    ({"n_embd": 100, "n_head": 3}, "n_embd", "not divisible by n_head=3"),
    ({"n_layer": 0}, "n_layer", "must be positive"),
    ({"n_head": -2}, "n_head", "must be positive"),
    ({"block_size": "abc"}, "block_size", "positive whole number"),
    ({"vocab_size": 2.5}, "vocab_size", "whole number"),
    ({"vocab_size": None}, "vocab_size", "missing"),
    ({"dropout": 1.5}, "dropout", "[0, 1)"),
    ({"bias": "maybe"}, "bias", "true or false"),
])
def test_invalid_configurations_name_the_field(changes, field, words):
    values = {**config_dict(PRESETS["cpu-default"]), **changes}
    with pytest.raises(ArchitectureError) as info:
        model_config(values)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ") and words in str(info.value)


def test_form_strings_are_accepted():
    config = model_config({"n_layer": "2", "n_head": "2", "n_embd": "32", "block_size": "8", "vocab_size": "65",
                           "bias": "false", "dropout": "0.1"})
    assert config == ModelConfig(2, 2, 32, 8, 65, False, 0.1)
