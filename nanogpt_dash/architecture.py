"""A GPT configuration as a graph of nanoGPT's modules: parameters, shapes, FLOPs, explanations.

Pure: no torch, no Dash. Node ids are nanoGPT module paths (`transformer.h.3.attn.c_attn`), so a
node's parameters are exactly the tensors `model.named_parameters()` lists under that prefix.
Parameter-free steps of the forward pass (the per-head attention, GELU, the residual additions)
get ids of the same shape (`transformer.h.3.attn.heads`, `transformer.h.3.add_1`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping

from .errors import NanogptDashError

MODEL_FIELDS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size", "bias", "dropout")


class ArchitectureError(NanogptDashError):
    """A model configuration that cannot describe a GPT; `field` names the offending setting."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class ModelConfig:
    """The architecture half of nanoGPT's model_args (GPTConfig)."""

    n_layer: int
    n_head: int
    n_embd: int
    block_size: int
    vocab_size: int
    bias: bool = True
    dropout: float = 0.0

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head


PRESETS: dict[str, ModelConfig] = {
    "gpt2": ModelConfig(12, 12, 768, 1024, 50257, True, 0.0),
    "gpt2-medium": ModelConfig(24, 16, 1024, 1024, 50257, True, 0.0),
    "gpt2-large": ModelConfig(36, 20, 1280, 1024, 50257, True, 0.0),
    "gpt2-xl": ModelConfig(48, 25, 1600, 1024, 50257, True, 0.0),
    # nanoGPT's config/train_shakespeare_char.py: 65 distinct characters
    "shakespeare-char": ModelConfig(6, 6, 384, 256, 65, False, 0.2),
    # train.py's defaults on python_char (97 characters with CPython 3.11's standard library)
    "cpu-default": ModelConfig(4, 4, 128, 128, 97, False, 0.0),
}

PRESET_LABELS: dict[str, str] = {
    "gpt2": "GPT-2 (124M)",
    "gpt2-medium": "GPT-2 medium (350M)",
    "gpt2-large": "GPT-2 large (774M)",
    "gpt2-xl": "GPT-2 XL (1.5B)",
    "shakespeare-char": "Shakespeare baby GPT 6/6/384",
    "cpu-default": "CPU default (train.py)",
}


def model_config(values: Mapping[str, Any]) -> ModelConfig:
    """A validated ModelConfig from model_args or form values; ArchitectureError names the bad field."""
    kwargs: dict[str, Any] = {}
    for name in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
        kwargs[name] = _positive_int(name, values.get(name))
    kwargs["bias"] = _bool("bias", values.get("bias", True))
    kwargs["dropout"] = _dropout(values.get("dropout", 0.0))
    if kwargs["n_embd"] % kwargs["n_head"]:
        raise ArchitectureError(
            "n_embd",
            f"{kwargs['n_embd']} is not divisible by n_head={kwargs['n_head']}: every head gets an equal "
            f"slice of the embedding; try n_embd={kwargs['n_head'] * max(1, round(kwargs['n_embd'] / kwargs['n_head']))}",
        )
    return ModelConfig(**kwargs)


def _positive_int(name: str, value: Any) -> int:
    if value is None or value == "":
        raise ArchitectureError(name, "is missing; give a positive whole number")
    if isinstance(value, bool):
        raise ArchitectureError(name, f"must be a positive whole number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ArchitectureError(name, f"must be a positive whole number, got {value!r}") from None
    if not number.is_integer():
        raise ArchitectureError(name, f"must be a whole number, got {value!r}")
    if number <= 0:
        raise ArchitectureError(name, f"must be positive, got {int(number)}")
    return int(number)


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "True", 1):
        return True
    if value in ("false", "False", 0):
        return False
    raise ArchitectureError(name, f"must be true or false, got {value!r}")


def _dropout(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ArchitectureError("dropout", f"must be a number in [0, 1), got {value!r}") from None
    if not 0.0 <= number < 1.0:
        raise ArchitectureError("dropout", f"must be in [0, 1), got {number}")
    return number


@dataclass(frozen=True)
class ParamTensor:
    """One parameter tensor; a tied one (`lm_head.weight`) names the tensor it shares storage with."""

    name: str
    shape: tuple[int, ...]
    tied_to: str | None = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    kind: str
    block: int | None
    params: tuple[ParamTensor, ...]
    activation_shape: tuple[int, ...]
    flops_per_token: int
    explanation: str

    @property
    def param_count(self) -> int:
        """Parameters owned by this node (a tied tensor is counted where it is owned)."""
        return sum(p.numel for p in self.params if p.tied_to is None)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "data", "residual" (the skip path around a branch) or "tied" (shared weights)


@dataclass(frozen=True)
class ParamTotals:
    """`total` = sum(p.numel() for p in model.parameters()); `reported` = nanoGPT's get_num_params()."""

    total: int
    position_embedding: int
    tied_saved: int

    @property
    def reported(self) -> int:
        return self.total - self.position_embedding


@dataclass(frozen=True)
class Architecture:
    config: ModelConfig
    batch_size: int
    nodes: tuple[Node, ...]
    totals: ParamTotals
    forward_flops_per_token: int
    training_flops_per_token: int
    _by_id: dict[str, Node] = field(default_factory=dict, repr=False, compare=False)

    def node(self, node_id: str) -> Node:
        """The node with this id (a module path); KeyError says which ids exist nearby."""
        try:
            return self._by_id[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id!r} in this GPT (n_layer={self.config.n_layer})") from None

    def has(self, node_id: str) -> bool:
        return node_id in self._by_id

    def share(self, node: Node) -> float:
        return node.param_count / self.totals.total


def block_id(i: int) -> str:
    return f"transformer.h.{i}"


def describe(config: ModelConfig, batch_size: int = 1) -> Architecture:
    """Every node of the expanded graph with its parameters, output shape, FLOPs and explanation."""
    c = config
    B, T, C, V, L, H, hs = batch_size, c.block_size, c.n_embd, c.vocab_size, c.n_layer, c.n_head, c.head_size
    nodes: list[Node] = []

    def linear(prefix: str, n_in: int, n_out: int, bias: bool) -> tuple[ParamTensor, ...]:
        tensors = [ParamTensor(f"{prefix}.weight", (n_out, n_in))]
        if bias:
            tensors.append(ParamTensor(f"{prefix}.bias", (n_out,)))
        return tuple(tensors)

    def layernorm(prefix: str) -> tuple[ParamTensor, ...]:
        tensors = [ParamTensor(f"{prefix}.weight", (C,))]
        if c.bias:
            tensors.append(ParamTensor(f"{prefix}.bias", (C,)))
        return tuple(tensors)

    nodes.append(Node("idx", "input tokens", "input", None, (), (B, T), 0, _explain_input(c)))
    nodes.append(Node("transformer.wte", "wte (token embedding)", "embedding", None,
                      (ParamTensor("transformer.wte.weight", (V, C)),), (B, T, C), 0, _explain_wte(c)))
    nodes.append(Node("transformer.wpe", "wpe (position embedding)", "embedding", None,
                      (ParamTensor("transformer.wpe.weight", (T, C)),), (T, C), 0, _explain_wpe(c)))
    nodes.append(Node("transformer.drop", "tok_emb + pos_emb", "add", None, (), (B, T, C), 0, _explain_embed_add(c)))
    for i in range(L):
        p = block_id(i)
        nodes += [
            Node(f"{p}.ln_1", "ln_1", "layernorm", i, layernorm(f"{p}.ln_1"), (B, T, C), 0, _explain_ln(c, "attention")),
            Node(f"{p}.attn.c_attn", "attn.c_attn (q, k, v)", "linear", i, linear(f"{p}.attn.c_attn", C, 3 * C, c.bias),
                 (B, T, 3 * C), 2 * C * 3 * C, _explain_c_attn(c)),
            Node(f"{p}.attn.heads", f"{H} heads × {hs}: softmax(qkᵀ/√{hs})·v", "attention", i, (), (B, H, T, T),
                 4 * T * C, _explain_heads(c)),
            Node(f"{p}.attn.c_proj", "attn.c_proj", "linear", i, linear(f"{p}.attn.c_proj", C, C, c.bias),
                 (B, T, C), 2 * C * C, _explain_attn_proj(c)),
            Node(f"{p}.add_1", "+ (residual)", "add", i, (), (B, T, C), 0, _explain_residual("attention")),
            Node(f"{p}.ln_2", "ln_2", "layernorm", i, layernorm(f"{p}.ln_2"), (B, T, C), 0, _explain_ln(c, "MLP")),
            Node(f"{p}.mlp.c_fc", "mlp.c_fc", "linear", i, linear(f"{p}.mlp.c_fc", C, 4 * C, c.bias),
                 (B, T, 4 * C), 2 * C * 4 * C, _explain_c_fc(c)),
            Node(f"{p}.mlp.gelu", "GELU", "activation", i, (), (B, T, 4 * C), 0, _explain_gelu()),
            Node(f"{p}.mlp.c_proj", "mlp.c_proj", "linear", i, linear(f"{p}.mlp.c_proj", 4 * C, C, c.bias),
                 (B, T, C), 2 * 4 * C * C, _explain_mlp_proj(c)),
            Node(f"{p}.add_2", "+ (residual)", "add", i, (), (B, T, C), 0, _explain_residual("MLP")),
        ]
    nodes.append(Node("transformer.ln_f", "ln_f", "layernorm", None, layernorm("transformer.ln_f"), (B, T, C), 0,
                      _explain_ln_f()))
    nodes.append(Node("lm_head", "lm_head (logits)", "linear", None,
                      (ParamTensor("lm_head.weight", (V, C), tied_to="transformer.wte.weight"),),
                      (B, T, V), 2 * C * V, _explain_lm_head(c)))

    total = sum(n.param_count for n in nodes)
    forward = sum(n.flops_per_token for n in nodes)
    totals = ParamTotals(total=total, position_embedding=T * C, tied_saved=V * C)
    # PaLM appendix B, as model.estimate_mfu counts it: 6 FLOPs per (reported) parameter per token
    # for forward and backward, plus 12 * L * H * hs * T for attention over a full context
    training = 6 * totals.reported + 12 * L * H * hs * T
    arch = Architecture(c, B, tuple(nodes), totals, forward, training)
    arch._by_id.update({n.id: n for n in nodes})
    return arch


@dataclass(frozen=True)
class BlockSummary:
    """A collapsed block: one node standing for its ten."""

    id: str
    index: int
    param_count: int
    flops_per_token: int
    params: tuple[ParamTensor, ...]


def block_summary(arch: Architecture, i: int) -> BlockSummary:
    """The totals of block `i`, shown when it is collapsed."""
    members = [n for n in arch.nodes if n.block == i]
    return BlockSummary(block_id(i), i, sum(n.param_count for n in members),
                        sum(n.flops_per_token for n in members), tuple(p for n in members for p in n.params))


@dataclass(frozen=True)
class GraphView:
    """What to draw: leaf node ids, compound parents (expanded blocks) and edges."""

    leaves: tuple[str, ...]
    parents: dict[str, str]  # leaf id -> expanded block id
    blocks_expanded: tuple[int, ...]
    blocks_collapsed: tuple[int, ...]
    edges: tuple[Edge, ...]


def view(arch: Architecture, expanded: Iterable[int] = ()) -> GraphView:
    """The graph with blocks in `expanded` drawn in full and every other block as one node."""
    L = arch.config.n_layer
    open_ = sorted({i for i in expanded if 0 <= i < L})
    closed = [i for i in range(L) if i not in open_]
    leaves = ["idx", "transformer.wte", "transformer.wpe", "transformer.drop"]
    parents: dict[str, str] = {}
    edges = [Edge("idx", "transformer.wte", "data"), Edge("transformer.wte", "transformer.drop", "data"),
             Edge("transformer.wpe", "transformer.drop", "data")]
    prev = "transformer.drop"
    for i in range(L):
        p = block_id(i)
        if i in closed:
            leaves.append(p)
            edges.append(Edge(prev, p, "data"))
            prev = p
            continue
        inner = [f"{p}.{s}" for s in ("ln_1", "attn.c_attn", "attn.heads", "attn.c_proj", "add_1",
                                       "ln_2", "mlp.c_fc", "mlp.gelu", "mlp.c_proj", "add_2")]
        leaves += inner
        parents.update({n: p for n in inner})
        edges += [Edge(prev, f"{p}.ln_1", "data"), Edge(prev, f"{p}.add_1", "residual")]
        edges += [Edge(a, b, "data") for a, b in zip(inner[:4], inner[1:5])]
        edges += [Edge(f"{p}.add_1", f"{p}.ln_2", "data"), Edge(f"{p}.add_1", f"{p}.add_2", "residual")]
        edges += [Edge(a, b, "data") for a, b in zip(inner[5:9], inner[6:10])]
        prev = f"{p}.add_2"
    leaves += ["transformer.ln_f", "lm_head"]
    edges += [Edge(prev, "transformer.ln_f", "data"), Edge("transformer.ln_f", "lm_head", "data"),
              Edge("transformer.wte", "lm_head", "tied")]
    return GraphView(tuple(leaves), parents, tuple(open_), tuple(closed), tuple(edges))


def config_dict(config: ModelConfig) -> dict[str, Any]:
    """The config as model_args-style plain values."""
    return {f.name: getattr(config, f.name) for f in fields(config)}


def with_values(config: ModelConfig, **changes: Any) -> ModelConfig:
    """A validated copy of `config` with some fields changed."""
    return model_config({**config_dict(config), **changes})


def human(n: float) -> str:
    """1234567 -> '1.23M': parameter counts and FLOPs at a glance."""
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:g}"


# -- the plain-language paragraphs ------------------------------------------------------------

def _explain_input(c: ModelConfig) -> str:
    return (f"The input: a batch of sequences of {c.block_size} token ids, each a whole number below "
            f"{c.vocab_size}. For a character-level model a token is one character. The model is trained to "
            "predict, at every position, the token that comes next.")


def _explain_wte(c: ModelConfig) -> str:
    return (f"The token embedding is a lookup table with one row of {c.n_embd} numbers per token in the "
            f"vocabulary ({c.vocab_size} rows). Looking up a token costs no arithmetic. Training moves tokens "
            "that behave alike close together. This same matrix is reused by lm_head at the end (weight "
            "tying), so it is counted once.")


def _explain_wpe(c: ModelConfig) -> str:
    return (f"The position embedding: one learned vector of {c.n_embd} numbers for each of the "
            f"{c.block_size} positions. Attention by itself does not know the order of tokens; adding this "
            "vector tells every token where it sits. nanoGPT's get_num_params() leaves these parameters out "
            "of the count it prints.")


def _explain_embed_add(c: ModelConfig) -> str:
    return ("Token and position vectors are added: the sum is the start of the residual stream, the "
            f"{c.n_embd}-wide vector per token that every block reads from and writes back into"
            + (f". Dropout ({c.dropout:g}) zeroes random entries during training." if c.dropout else "."))


def _explain_ln(c: ModelConfig, branch: str) -> str:
    return ("LayerNorm rescales each token's vector to mean 0 and variance 1, then applies a learned gain"
            + (" and bias" if c.bias else "") + f" per channel. It normalises what goes into the {branch}, "
            "not the residual stream itself (pre-norm), so gradients flow straight through the additions "
            "and deep stacks stay trainable.")


def _explain_c_attn(c: ModelConfig) -> str:
    return (f"One matrix multiply makes three vectors per token: a query (what am I looking for?), a key "
            f"(what do I contain?) and a value (what do I pass on if chosen). Each is {c.n_embd} wide and is "
            f"split into {c.n_head} heads of {c.head_size}.")


def _explain_heads(c: ModelConfig) -> str:
    return (f"Each of the {c.n_head} heads scores every earlier token by the dot product of its query with "
            f"their keys, scaled by 1/√{c.head_size}; a causal mask hides later tokens, and softmax turns the "
            "scores into weights that sum to 1. The output is the weighted sum of the values. Different heads "
            "learn different habits: look at the previous character, at the last space, at the start. Cost "
            "grows with the context length, not with parameters.")


def _explain_attn_proj(c: ModelConfig) -> str:
    return (f"The heads' outputs are placed side by side ({c.n_head} × {c.head_size} = {c.n_embd}) and mixed "
            "by this projection into what the attention writes into the residual stream. GPT-2 starts it "
            "with smaller weights so many blocks' contributions do not blow up the stream.")


def _explain_residual(branch: str) -> str:
    return (f"The residual addition: the {branch}'s output is added to the stream it read from. Every block "
            "only adds a correction, so information and gradients pass through the whole depth unchanged "
            "when a block has nothing to say.")


def _explain_c_fc(c: ModelConfig) -> str:
    return (f"The MLP works on each token by itself, after attention has gathered context into it. First "
            f"it widens the vector four times, from {c.n_embd} to {4 * c.n_embd}, giving room to detect many "
            "patterns at once.")


def _explain_gelu() -> str:
    return ("GELU is the non-linearity: it lets positive signals through and softly silences negative ones. "
            "Without it, the two matrices of the MLP would collapse into one linear map.")


def _explain_mlp_proj(c: ModelConfig) -> str:
    return (f"Narrows the {4 * c.n_embd} detected features back to {c.n_embd} and writes the result into the "
            "residual stream. Together the MLPs hold about two thirds of a block's parameters: much of what a "
            "GPT memorises lives here.")


def _explain_ln_f() -> str:
    return "A last LayerNorm on the residual stream, so the final scores get inputs of a steady scale."


def _explain_lm_head(c: ModelConfig) -> str:
    return (f"Scores every token of the vocabulary ({c.vocab_size}) against each position's final vector: "
            "the logits. Softmax of the logits is the predicted distribution of the next token. Its weight is "
            "the token embedding matrix itself (weight tying), so a token's embedding both encodes it and "
            "recognises it.")


def explain_block(c: ModelConfig, i: int) -> str:
    """The paragraph for a collapsed block."""
    return (f"Block {i} of {c.n_layer}: attention lets each token gather information from earlier tokens "
            f"({c.n_head} heads), then the MLP lets each token compute on what it gathered. Both read a "
            "normalised copy of the residual stream and add their result back. Expand it to see its parts.")


# -- keys of the layer statistics train.py logs (nanogpt_dash/layer_stats.py) ------------------

ACTIVATION_STATS = ("act_mean", "act_std", "act_absmax")
PARAM_STATS = ("grad_norm", "update_ratio")
ATTENTION_KIND = "attention"
STAT_LABELS = {
    "act_mean": "residual stream mean",
    "act_std": "residual stream std",
    "act_absmax": "residual stream max |x|",
    "grad_norm": "gradient norm",
    "update_ratio": "update / weight ‖Δw‖/‖w‖",
}


def activation_key(block: int, stat: str) -> str:
    """The scalar key of a residual-stream statistic after block `block`: 'layers/h.3/act_std'."""
    return f"layers/h.{block}/{stat}"


def param_key(tensor: str, stat: str) -> str:
    """The scalar key of a parameter-tensor statistic: 'params/transformer.h.3.attn.c_attn.weight/grad_norm'."""
    return f"params/{tensor}/{stat}"


@dataclass(frozen=True)
class StatKey:
    node: str  # the graph node the number belongs to
    stat: str
    tensor: str | None  # the parameter tensor, for parameter statistics
    block: int | None


def parse_stat_key(key: str) -> StatKey | None:
    """What a layer-statistics key is about; None for any other metric."""
    parts = key.split("/")
    if len(parts) != 3:
        return None
    family, subject, stat = parts
    if family == "layers" and stat in ACTIVATION_STATS and subject.startswith("h.") and subject[2:].isdigit():
        i = int(subject[2:])
        return StatKey(block_id(i), stat, None, i)
    if family == "params" and stat in PARAM_STATS and "." in subject:
        module = subject.rsplit(".", 1)[0]
        block = None
        if module.startswith("transformer.h."):
            index = module.split(".")[2]
            block = int(index) if index.isdigit() else None
        return StatKey(module, stat, subject, block)
    return None
