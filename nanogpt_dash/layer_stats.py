"""What every layer does while a GPT trains: residual-stream statistics, gradient norms,
update-to-weight ratios and attention maps, collected every few steps by train.py.

Everything works on the *underlying* module (DDP's `.module`, torch.compile's `_orig_mod`), whose
parameters are the very tensors the wrappers train. Activation statistics come from forward hooks
during an extra no-grad forward of that module on the step's batch: hooks added to a compiled
module would make it recompile, and a no-grad forward costs about a third of a training step,
once every `interval` steps. Each collection ends in one device-to-host copy.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .architecture import ATTENTION_KIND, activation_key, param_key

MAX_PROBE_TOKENS = 128  # a 1024-token probe would be 151M numbers per eval for GPT-2; the page draws 128


def underlying(model: nn.Module) -> nn.Module:
    """The plain GPT inside DDP and torch.compile wrappers (in any order)."""
    while True:
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


class LayerStats:
    """Collects layer statistics of a nanoGPT-style GPT every `interval` steps (0: never)."""

    def __init__(self, model: nn.Module, interval: int) -> None:
        if interval < 0:
            raise ValueError(f"layer_stats_interval must be >= 0 (0 turns statistics off), got {interval}")
        self.model = underlying(model)
        self.interval = interval
        blocks = getattr(getattr(self.model, "transformer", None), "h", None)
        if blocks is None:
            raise ValueError(f"{type(self.model).__name__} has no transformer.h: layer statistics need nanoGPT's module names")
        self.blocks: Sequence[nn.Module] = list(blocks)
        self.params = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
        self._before: list[torch.Tensor] | None = None

    def due(self, step: int) -> bool:
        """Whether statistics are collected at this step."""
        return self.interval > 0 and step % self.interval == 0

    @torch.no_grad()
    def activations(self, idx: torch.Tensor, context: Any = None) -> dict[str, float]:
        """Mean, std and max |x| of the residual stream after each block, for token ids `idx` (B, T)."""
        outputs: list[torch.Tensor] = []

        def record(module: nn.Module, args: Any, output: torch.Tensor) -> None:
            x = output.detach().float()
            outputs.append(torch.stack([x.mean(), x.std(correction=0), x.abs().max()]))

        self._forward_with_hooks(idx, [(b, record) for b in self.blocks], context)
        numbers = torch.stack(outputs).tolist()
        return {activation_key(i, stat): v for i, row in enumerate(numbers)
                for stat, v in zip(("act_mean", "act_std", "act_absmax"), row)}

    @torch.no_grad()
    def gradients(self) -> dict[str, float]:
        """The gradient norm of every parameter tensor; call after backward (and unscale_), before clipping."""
        named = [(name, p.grad) for name, p in self.params if p.grad is not None]
        if not named:
            return {}
        norms = torch.stack([g.detach().float().norm() for _, g in named]).tolist()
        return {param_key(name, "grad_norm"): v for (name, _), v in zip(named, norms)}

    @torch.no_grad()
    def before_update(self) -> None:
        """Remember the weights; call right before optimizer.step()."""
        self._before = [p.detach().clone() for _, p in self.params]

    @torch.no_grad()
    def after_update(self) -> dict[str, float]:
        """‖w_after − w_before‖ / ‖w_before‖ for every parameter tensor (inf for a zero tensor that moved).

        Call right after optimizer.step().
        """
        if self._before is None:
            raise RuntimeError("after_update() needs before_update() right before optimizer.step()")
        ratios = torch.stack([
            (p.detach().float() - w.float()).norm() / w.float().norm()
            for (_, p), w in zip(self.params, self._before)
        ]).tolist()
        self._before = None
        return {param_key(name, "update_ratio"): v for (name, _), v in zip(self.params, ratios)}

    @torch.no_grad()
    def attention(self, idx: torch.Tensor, context: Any = None) -> np.ndarray:
        """Attention probabilities (n_layer, n_head, T, T) of every layer and head for one sequence `idx` (1, T).

        The model's fused attention never materialises them, so each layer's are recomputed from
        the input of its attention module: softmax(q kᵀ / √hs) with the causal mask.
        """
        maps: list[torch.Tensor] = []

        def record(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            x = args[0]
            B, T, C = x.shape
            nh = module.n_head
            q, k, _ = module.c_attn(x).split(C, dim=2)
            q = q.view(B, T, nh, C // nh).transpose(1, 2).float()  # (B, nh, T, hs)
            k = k.view(B, T, nh, C // nh).transpose(1, 2).float()  # (B, nh, T, hs)
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(C // nh)  # (B, nh, T, T)
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            maps.append(F.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)[0])

        self._forward_with_hooks(idx, [(b.attn, record) for b in self.blocks], context, pre=True)
        return torch.stack(maps).cpu().numpy()

    def _forward_with_hooks(self, idx: torch.Tensor, hooks: list[tuple[nn.Module, Callable]], context: Any,
                            pre: bool = False) -> None:
        was_training = self.model.training
        handles = [m.register_forward_pre_hook(fn) if pre else m.register_forward_hook(fn) for m, fn in hooks]
        self.model.eval()  # no dropout: the numbers describe the model, not one random mask
        try:
            if context is None:
                self.model(idx)
            else:
                with context:
                    self.model(idx)
        finally:
            for h in handles:
                h.remove()
            self.model.train(was_training)


def probe_tokens(val_ids: np.ndarray, block_size: int) -> np.ndarray:
    """The attention probe: the first block_size tokens of the validation split (at most MAX_PROBE_TOKENS)."""
    n = min(block_size, MAX_PROBE_TOKENS, len(val_ids))
    if n < 2:
        raise ValueError(f"the validation split has {len(val_ids)} tokens; the attention probe needs at least 2")
    return np.asarray(val_ids[:n], dtype=np.int64)


def log_attention(run: Any, stats: LayerStats, probe: torch.Tensor, tokens: list[str], step: int,
                  context: Any = None) -> None:
    """Compute the probe's attention maps and log them with the probe's tokens (stored as float16)."""
    maps = stats.attention(probe, context)
    run.log_array(ATTENTION_KIND, maps.astype(np.float16), step=step, meta={"tokens": tokens})
