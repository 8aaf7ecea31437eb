"""Shared machinery of the baseline explainers (random, Grad-CAM-e/-a, AtMan, Chefer, rollout).

* :func:`step_targets` (from :mod:`.base`, ``run.targets``) — the token each step actually generated
  (``z_t``, one per codebook), the class a gradient/perturbation baseline explains;
* :func:`target_scores` / :func:`target_nll` — per-step score of those tokens from LM logits;
* :class:`AttentionRecorder` — an *instance-level* capture of post-softmax attention weights
  (self- and/or cross-attention) with their gradients. Like :mod:`..intervention` it gives the
  chosen attention modules an explicit forward for the duration of the context (nothing of
  audiocraft is edited; the instance attribute is deleted on exit, even on error);
* :func:`minmax_rows` — the per-step normalisation every score-based baseline uses;
* :func:`chunk_option` / :func:`per_step_backward` — the batch-size setting and the one-step-per-row
  backward pass of the methods that need per-step gradients (Chefer, Grad-CAM-a);
* :func:`check_values` — a method's declared settings checked on their own (``{name: value}``).
"""
from __future__ import annotations

import typing as tp

import numpy as np

from .base import get_explainer, step_targets
from .settings import option

if tp.TYPE_CHECKING:  # audiocraft is imported when a method runs, not when the CLI reads the settings
    import torch
    from audiocraft.modules.transformer import StreamingMultiheadAttention

    from ..models import LoadedModel
    from ..teacher import TeacherInputs

MAX_CHUNK = 65536  # rows of one batched pass: far above what memory allows


def check_values(method: str, values: tp.Mapping[str, tp.Any]) -> None:
    """Refuse ``values`` that ``method``'s declared settings do not accept (NaN/inf, out of range,
    unknown names), with one line naming the option; None means the default."""
    get_explainer(method).Settings.from_values(values, method=method)


def chunk_option(default: int, what: str) -> tp.Any:
    """A batch size of a method's passes: how many ``what`` per pass (memory against speed; the result
    is the same whatever it is)."""
    return option(default, f"{what} per batched pass (memory against speed; same result)", low=1, high=MAX_CHUNK)


def per_step_backward(logits: torch.Tensor, targets: torch.Tensor, rows: torch.Tensor) -> None:
    """Back-propagate, in batch row b, only step ``rows[b]``'s score (rows are independent copies of
    the sequence, so each gets its own step's gradient)."""
    import torch
    target_scores(logits, targets)[torch.arange(len(rows)), rows].sum().backward()


def _gather(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """logits [B, K, S, card], targets [K, S] → (chosen [B, K, S] with 0 at invalid, valid [K, S])."""
    valid = targets >= 0
    idx = targets.clamp(min=0)[None, :, :, None].expand(logits.shape[0], -1, -1, 1)
    return logits.gather(-1, idx).squeeze(-1) * valid.to(logits), valid


def target_scores(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[B, S]: sum over codebooks of the logit of the generated code (the "class score" y_t)."""
    chosen, _ = _gather(logits.float(), targets)
    return chosen.sum(1)


def target_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """[B, S]: sum over codebooks of −log p(generated code) (AtMan's loss)."""
    import torch
    chosen, valid = _gather(torch.log_softmax(logits.float(), dim=-1), targets)
    return -(chosen * valid.to(chosen)).sum(1)


def lm_logits(model: "LoadedModel", inputs: "TeacherInputs", batch: int = 1,
              condition: dict | None = None) -> torch.Tensor:
    """Teacher-forced logits [batch, K, S, card] of the conditional branch."""
    from .. import teacher
    return teacher.forward(model, inputs, batch=batch, condition=condition)[1]


def minmax_rows(scores: np.ndarray) -> np.ndarray:
    """Per-step min-max normalisation to [0, 1]; a constant row (no evidence) becomes all 0."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64))
    lo = s.min(axis=-1, keepdims=True)
    span = s.max(axis=-1, keepdims=True) - lo
    return np.where(span > 1e-12, (s - lo) / np.where(span > 1e-12, span, 1.0), 0.0)


# --------------------------------------------------------------------------- attention capture

def _explicit_self_attention(mod: "StreamingMultiheadAttention", x: torch.Tensor,
                             record: tp.Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Causal self-attention of ``mod`` on [B, T, D] with its weights passed through ``record``."""
    import torch
    import torch.nn.functional as F
    if getattr(mod, "rope", None) is not None or getattr(mod, "kv_repeat", 1) != 1:
        raise ValueError("attention capture supports sinusoidal positions and kv_repeat=1 only")
    if getattr(mod, "past_context", None) is not None:
        raise ValueError("attention capture does not support a finite past_context")
    from ..intervention import _projections
    weight, bias, out_proj = _projections(mod)
    dim = weight.shape[0] // 3
    qkv = F.linear(x, weight, bias)
    q, k, v = qkv[..., :dim], qkv[..., dim:2 * dim], qkv[..., 2 * dim:]
    if getattr(mod, "qk_layer_norm", False):
        q, k = mod.q_layer_norm(q), mod.k_layer_norm(k)
    B, T, _ = q.shape
    H = mod.num_heads
    q, k, v = (t.reshape(B, T, H, -1).transpose(1, 2) for t in (q, k, v))
    dtype = q.dtype
    if getattr(mod, "attention_as_float32", False):
        q, k, v = q.float(), k.float(), v.float()
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    if mod.causal:
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    w = record(torch.softmax(scores, dim=-1))
    out = (w @ v).to(dtype).transpose(1, 2).reshape(B, T, -1)
    return out_proj(out)


class AttentionRecorder:
    """Context manager recording the post-softmax attention weights [B, H, T, S] of every layer.

    Args:
        lm: the audiocraft LM.
        self_attention / cross_attention: which maps to record (``self_maps`` / ``cross_maps``,
            one entry per layer in order).
        layers: restrict recording to these layer indices (others run unmodified).
        grad: keep each map's gradient (``.grad`` after ``backward``).
        cross_mask: optional mask multiplied onto the cross-attention weights (as the intervention).
    The forward of a recorded module is replaced on the instance only while inside the context.
    """

    def __init__(self, lm: tp.Any, self_attention: bool = True, cross_attention: bool = True,
                 layers: tp.Sequence[int] | None = None, grad: bool = False) -> None:
        import torch
        self.lm = lm
        self.want_self, self.want_cross = self_attention, cross_attention
        n = len(lm.transformer.layers)
        self.layers = list(range(n)) if layers is None else [i % n for i in layers]
        self.grad = grad
        self.self_maps: list[torch.Tensor] = []
        self.cross_maps: list[torch.Tensor] = []
        self._mods: list["StreamingMultiheadAttention"] = []

    def _record(self, store: list) -> tp.Callable[[torch.Tensor], torch.Tensor]:
        import torch
        def rec(w: torch.Tensor) -> torch.Tensor:
            if self.grad:
                if w.requires_grad:
                    w.retain_grad()
                else:  # nothing upstream needs grad (frozen LM): a leaf loses no gradient path
                    w = w.detach().requires_grad_(True)
            store.append(w)
            return w
        return rec

    def __enter__(self) -> "AttentionRecorder":
        from ..intervention import masked_cross_attention
        if self.lm._is_streaming:
            raise RuntimeError("attention capture works on teacher-forced (non-streaming) passes only")
        try:
            for i in self.layers:
                layer = self.lm.transformer.layers[i]
                if self.want_self:
                    mod = layer.self_attn
                    rec = self._record(self.self_maps)

                    def sa_forward(query, key, value, key_padding_mask=None, need_weights=False, attn_mask=None,
                                   average_attn_weights=True, is_causal=False, _mod=mod, _rec=rec):
                        return _explicit_self_attention(_mod, query, _rec), None
                    mod.forward = sa_forward
                    self._mods.append(mod)
                cross = getattr(layer, "cross_attention", None)
                if self.want_cross and cross is not None:
                    rec = self._record(self.cross_maps)

                    def ca_forward(query, key, value, key_padding_mask=None, need_weights=False, attn_mask=None,
                                   average_attn_weights=True, is_causal=False, _mod=cross, _rec=rec):
                        return masked_cross_attention(_mod, query, key, value, on_weights=_rec), None
                    cross.forward = ca_forward
                    self._mods.append(cross)
        except Exception:
            self._restore()
            raise
        return self

    def _restore(self) -> None:
        for mod in self._mods:
            mod.__dict__.pop("forward", None)
        self._mods.clear()

    def __exit__(self, *exc: tp.Any) -> None:
        self._restore()


__all__ = ["AttentionRecorder", "step_targets", "target_scores", "target_nll", "lm_logits", "minmax_rows",
           "check_values", "chunk_option", "per_step_backward"]
