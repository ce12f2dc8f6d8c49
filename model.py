"""
A GPT language model in one file, written to be read.

The module names, parameter layout and checkpoint format follow nanoGPT, so a
`ckpt.pt` written here loads there and the other way round. References:
1) OpenAI's GPT-2 paper and TensorFlow release (architecture, initialisation)
2) "Attention Is All You Need" (the attention block itself)
3) PaLM, appendix B (the FLOPs count used by estimate_mfu)
"""

from __future__ import annotations

import inspect
import math
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2's 50257 padded up to a multiple of 64: faster matmuls
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # False: no bias in Linear and LayerNorm, a little better and faster


class LayerNorm(nn.Module):
    """LayerNorm whose bias can be switched off (nn.LayerNorm could not, before torch 2.1)."""

    def __init__(self, ndim: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_embd % config.n_head != 0:
            raise ValueError(
                f"n_embd={config.n_embd} must be divisible by n_head={config.n_head}: "
                "each head gets an equal slice of the embedding"
            )
        # one matmul makes query, key and value for every head at once
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()  # batch, sequence length, embedding width (n_embd)

        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        # move the head into the batch dimension so every head attends independently
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)

        # softmax(q k^T / sqrt(hs)) v with a causal mask: position t sees only 0..t.
        # The fused kernel (flash attention on GPU) never materialises the (T, T) matrix.
        # attn_dropout is the module nanoGPT's manual path uses; here its rate goes to the kernel.
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=True,
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again

        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c_fc(x)  # (B, T, 4C): widen, think per token, narrow back
        x = self.gelu(x)
        x = self.c_proj(x)  # (B, T, C)
        return self.dropout(x)


class Block(nn.Module):
    """Attention lets tokens communicate; the MLP lets each token compute on what it gathered."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # pre-LayerNorm: normalise the input of each branch, never the residual stream itself,
        # so gradients flow straight through the additions from the loss to the embeddings
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config

        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),  # token embedding
            wpe=nn.Embedding(config.block_size, config.n_embd),  # learned position embedding
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: the matrix that turns a token into a vector also scores vectors
        # against every token. Saves vocab_size * n_embd parameters and trains at least as well.
        self.transformer.wte.weight = self.lm_head.weight

        self.apply(self._init_weights)
        # GPT-2 scales down the layers that write into the residual stream: with 2 such writes
        # per block, the stream's variance would otherwise grow with depth
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

        print(f"number of parameters: {self.get_num_params() / 1e6:.2f}M")

    def get_num_params(self, non_embedding: bool = True) -> int:
        """Parameter count; by default without position embeddings, as nanoGPT reports it.

        Token embeddings stay in the count: they are tied to lm_head, which does real work.
        """
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for token ids `idx` (B, T); with `targets` (B, T), also the cross-entropy loss."""
        device = idx.device
        b, t = idx.size()
        if t > self.config.block_size:
            raise ValueError(
                f"sequence length {t} exceeds block_size {self.config.block_size}: "
                "crop the input to the last block_size tokens"
            )
        pos = torch.arange(0, t, dtype=torch.long, device=device)  # (T,)

        tok_emb = self.transformer.wte(idx)  # (B, T, C)
        pos_emb = self.transformer.wpe(pos)  # (T, C), broadcast over the batch
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)  # (B, T, C)

        if targets is not None:
            logits = self.lm_head(x)  # (B, T, vocab_size)
            # -1 marks positions that should not count (padding), as in nanoGPT
            loss = F.cross_entropy(
                logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1
            )
        else:
            # generating only needs the next token: project the last position alone.
            # The list index [-1] keeps the time dimension, so logits are (B, 1, vocab_size).
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def crop_block_size(self, block_size: int) -> None:
        """Shrink the context length, e.g. to fine-tune a pretrained model on shorter blocks."""
        if block_size > self.config.block_size:
            raise ValueError(
                f"cannot grow block_size from {self.config.block_size} to {block_size}: "
                "cropping only shrinks the position embedding"
            )
        self.config.block_size = block_size
        self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size])

    def configure_optimizers(
        self,
        weight_decay: float,
        learning_rate: float,
        betas: tuple[float, float],
        device_type: str,
    ) -> torch.optim.AdamW:
        """AdamW with weight decay on matrices and embeddings only."""
        param_dict = {n: p for n, p in self.named_parameters() if p.requires_grad}
        # Decay pulls weights toward zero. That regularises matmul weights and embeddings (2D+)
        # but would only fight biases and LayerNorm gains (1D), which set scales and offsets.
        decay_params = [p for p in param_dict.values() if p.dim() >= 2]
        nodecay_params = [p for p in param_dict.values() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        num_decay_params = sum(p.numel() for p in decay_params)
        num_nodecay_params = sum(p.numel() for p in nodecay_params)
        print(f"num decayed parameter tensors: {len(decay_params)}, "
              f"with {num_decay_params:,} parameters")
        print(f"num non-decayed parameter tensors: {len(nodecay_params)}, "
              f"with {num_nodecay_params:,} parameters")
        # the fused CUDA kernel updates all parameters in one launch instead of one per tensor
        fused_available = "fused" in inspect.signature(torch.optim.AdamW).parameters
        use_fused = fused_available and device_type == "cuda"
        extra_args = {"fused": True} if use_fused else {}
        optimizer = torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)
        print(f"using fused AdamW: {use_fused}")
        return optimizer

    def estimate_mfu(
        self,
        fwdbwd_per_iter: int,
        dt: float,
        device: torch.device | str | None = None,
        dtype: torch.dtype | str | None = None,
    ) -> float | None:
        """Model FLOPs utilisation: achieved FLOP/s over the peak of the device in use.

        None when there is no honest peak to divide by (CPU, MPS, an unknown GPU, float32).
        """
        peak = peak_flops(device, dtype)
        if peak is None or dt <= 0:
            return None
        # PaLM appendix B: each parameter costs 6 FLOPs per token for forward plus backward
        # (2 forward, 4 backward), and attention adds 12 * L * H * Q * T for the scores
        # and the weighted sum over a context of T tokens.
        N = self.get_num_params()
        cfg = self.config
        L, H, Q, T = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head, cfg.block_size
        flops_per_token = 6 * N + 12 * L * H * Q * T
        flops_per_fwdbwd = flops_per_token * T
        flops_per_iter = flops_per_fwdbwd * fwdbwd_per_iter
        return (flops_per_iter / dt) / peak

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
    ) -> torch.Tensor:
        """Extend `idx` (B, T) by sampling `max_new_tokens` tokens; returns (B, T + max_new_tokens).

        Call model.eval() first so dropout is off.
        """
        for _ in range(max_new_tokens):
            # the model has position embeddings for block_size positions only
            idx_cond = idx if idx.size(1) <= self.config.block_size \
                else idx[:, -self.config.block_size:]
            logits, _ = self(idx_cond)  # (B, 1, vocab_size)
            # temperature < 1 sharpens the distribution, > 1 flattens it
            logits = logits[:, -1, :] / temperature  # (B, vocab_size)
            if top_k is not None:
                # keep only the k most likely tokens: the long tail is where nonsense lives
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)  # (B, 1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


# Dense (no sparsity) bf16/fp16 tensor-core peak FLOP/s, from NVIDIA's datasheets, keyed by a
# name as it appears in torch.cuda.get_device_name(). GeForce figures are with fp32 accumulate,
# which is what PyTorch's matmuls use.
PEAK_FLOPS: dict[str, float] = {
    "B200": 2250e12,
    "H200": 989e12,
    "GH200": 989e12,
    "H100": 989e12,  # SXM; "NVIDIA H100 80GB HBM3"
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H800": 989e12,
    "A100": 312e12,
    "A800": 312e12,
    "A10G": 125e12,
    "A10": 125e12,
    "L40S": 362e12,
    "L40": 181e12,
    "L4": 121e12,
    "A6000": 155e12,
    "V100": 125e12,
    "T4": 65e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
}

# Volta and Turing tensor cores do fp16 only; bf16 there runs without them.
_FP16_ONLY = ("V100", "T4")


def _match_gpu(device_name: str) -> str | None:
    """The most specific PEAK_FLOPS key found in `device_name` as a whole word, if any.

    Whole words keep "A10" from matching "A100" and "L4" from matching "L40S".
    """
    for key in sorted(PEAK_FLOPS, key=len, reverse=True):
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(key)}(?![A-Za-z0-9])", device_name):
            return key
    return None


def peak_flops(
    device: torch.device | str | None = None, dtype: torch.dtype | str | None = None
) -> float | None:
    """Peak dense FLOP/s for training in `dtype` on `device`; None when not known honestly."""
    if device is None:
        device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if device.type != "cuda":
        return None
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    if dtype not in (torch.bfloat16, torch.float16):
        # float32 runs on TF32 tensor cores or plain CUDA cores, depending on settings:
        # there is no single peak to compare against
        return None
    key = _match_gpu(torch.cuda.get_device_name(device))
    if key is None:
        return None
    if dtype == torch.bfloat16 and key in _FP16_ONLY:
        return None
    return PEAK_FLOPS[key]


def clean_state_dict(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Strip the `_orig_mod.` prefix that torch.compile adds to every key.

    Also drops `attn.bias`, the causal-mask buffer nanoGPT saves when it runs without flash
    attention: it is not a weight, and this model's attention has no such buffer.
    """
    prefix = "_orig_mod."
    cleaned = {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state_dict.items()}
    return {k: v for k, v in cleaned.items() if not k.endswith(".attn.bias")}


def _plain(value: Any) -> Any:
    """`value` as plain Python data that torch.load(weights_only=True) accepts."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)  # paths, dtypes, devices: kept readable rather than dropped


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    model_args: dict[str, Any],
    iter_num: int,
    best_val_loss: float | torch.Tensor,
    config: dict[str, Any],
) -> None:
    """Write a nanoGPT-format checkpoint atomically: readers see the old file or the new one."""
    path = Path(path)
    checkpoint = {
        "model": clean_state_dict(model.state_dict()),
        "optimizer": optimizer.state_dict(),
        "model_args": _plain(model_args),
        "iter_num": int(iter_num),
        "best_val_loss": float(best_val_loss),
        "config": _plain(config),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write a temp file and rename it over ckpt.pt, so a crash mid-save never leaves half a file.
    # Created with mode 0666 and the process umask applied (0644 under the usual 022), like
    # nanoGPT's torch.save; tempfile.mkstemp would make it 0600, unreadable to the rest of a team.
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, device: torch.device | str) -> dict[str, Any]:
    """Read a checkpoint written by save_checkpoint (or nanoGPT) onto `device`.

    The model state dict comes back with any torch.compile prefix removed.
    """
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    checkpoint["model"] = clean_state_dict(checkpoint["model"])
    return checkpoint
