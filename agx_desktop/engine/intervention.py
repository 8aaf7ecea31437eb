"""Run-time intervention on an unmodified audiocraft LM: scale post-softmax cross-attention weights.

AudioGenX perturbs every cross-attention layer as ``(softmax(QKᵀ/√d) ⊙ M) · V`` with no
renormalisation. audiocraft's ``StreamingMultiheadAttention`` never exposes those weights, so for
the duration of the context each cross-attention *instance* gets a forward that computes them
explicitly (text sequences are short, so this is cheap) and applies the mask. Nothing of
audiocraft is edited: the instance attribute is deleted on exit and the class method is back.

Mask shapes:
  * ``[L]``: one weight per text token for every query step (word weights when generating);
  * ``[S, L]``: one row per query step (AudioGenX's per-step explanation), shared by all batch rows;
  * ``[B, S, L]``: one mask per batch row (factual and counterfactual in one batch).
Query step ``s`` is the position in the LM's pattern sequence; in streaming generation the
current position is read from the transformer's streaming offset, so one context covers a whole
generation. Steps beyond the mask's rows are left untouched (weight 1).
"""
from __future__ import annotations

import contextlib
import typing as tp

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

if tp.TYPE_CHECKING:  # types only: importing audiocraft (~20 s on a slow machine) waits for a run
    from audiocraft.models.lm import LMModel
    from audiocraft.modules.transformer import StreamingMultiheadAttention


def cross_attention_modules(lm: LMModel) -> list[StreamingMultiheadAttention]:
    """Every cross-attention module of ``lm``'s transformer, in layer order."""
    return [layer.cross_attention for layer in lm.transformer.layers
            if getattr(layer, "cross_attention", None) is not None]


class _StepState:
    """Where the current LM call starts in the pattern sequence (0 outside streaming)."""

    def __init__(self) -> None:
        self.offset = 0


def _projections(mod: StreamingMultiheadAttention) -> tuple[torch.Tensor, torch.Tensor | None, nn.Linear]:
    if mod.custom:
        return mod.in_proj_weight, mod.in_proj_bias, mod.out_proj
    return mod.mha.in_proj_weight, mod.mha.in_proj_bias, mod.mha.out_proj


def masked_cross_attention(mod: StreamingMultiheadAttention, query: torch.Tensor, key: torch.Tensor,
                           value: torch.Tensor, mask_rows: torch.Tensor | None = None,
                           on_weights: tp.Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Cross-attention of ``mod`` with post-softmax weights multiplied by ``mask_rows``.

    Args:
        query: [B, T, D] audio-side inputs; key/value: [B, L, D] text tokens.
        mask_rows: broadcastable to [B, T, L]; ``None`` leaves the weights as they are.
        on_weights: called with the post-softmax weights [B, H, T, L] before masking; what it
            returns is used instead (explainers record the maps and their gradients this way).
    Returns:
        [B, T, D], the module's output (before the layer's dropout/residual).
    """
    weight, bias, out_proj = _projections(mod)
    dim = weight.shape[0] // 3
    b_q, b_k, b_v = (None, None, None) if bias is None else (bias[:dim], bias[dim:2 * dim], bias[2 * dim:])
    q = F.linear(query, weight[:dim], b_q)
    k = F.linear(key, weight[dim:2 * dim], b_k)
    v = F.linear(value, weight[2 * dim:], b_v)
    if getattr(mod, "qk_layer_norm", False):
        q, k = mod.q_layer_norm(q), mod.k_layer_norm(k)
    heads = mod.num_heads
    B, T, _ = q.shape
    L = k.shape[1]
    q = q.view(B, T, heads, -1).transpose(1, 2)
    k = k.view(B, L, heads, -1).transpose(1, 2)
    v = v.view(B, L, heads, -1).transpose(1, 2)
    dtype = q.dtype
    # The weights themselves are tiny (L text tokens per query): compute them in float32 even
    # under autocast. Besides precision, CPU bf16 bmm on these thin shapes spends seconds copying
    # (measured 17x slower than float32 for a whole teacher-forced pass), while the big
    # projections around them stay in the autocast dtype.
    with torch.autocast(q.device.type, enabled=False):
        if q.dtype in (torch.float16, torch.bfloat16):  # float64 models keep their precision
            q, k, v = q.float(), k.float(), v.float()
        w = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)  # [B, H, T, L]
        if on_weights is not None:
            w = on_weights(w)
        if mask_rows is not None:
            w = w * mask_rows.to(w).unsqueeze(1)
        x = (w @ v.to(w.dtype)).transpose(1, 2).reshape(B, T, -1)
    return out_proj(x.to(dtype))


def _rows_for(mask: torch.Tensor, offset: int, T: int, B: int) -> torch.Tensor:
    """Slice the mask rows for query positions [offset, offset + T), padding with ones."""
    if mask.dim() == 1:
        return mask.view(1, 1, -1)
    steps = mask.shape[-2]
    lo, hi = min(offset, steps), min(offset + T, steps)
    rows = mask[..., lo:hi, :]
    if hi - lo < T:
        pad_shape = list(rows.shape)
        pad_shape[-2] = T - (hi - lo)
        rows = torch.cat([rows, rows.new_ones(pad_shape)], dim=-2)
    if rows.dim() == 2:
        rows = rows.unsqueeze(0)
    elif rows.shape[0] != B:
        raise ValueError(f"mask has {rows.shape[0]} batch rows but the LM batch has {B}")
    return rows


@contextlib.contextmanager
def cross_attention_mask(lm: LMModel, mask: torch.Tensor) -> tp.Iterator[None]:
    """Multiply the post-softmax cross-attention weights of every layer of ``lm`` by ``mask``.

    The mask may require grad (AudioGenX trains through it). On exit every module is restored:
    the instance-level ``forward`` overrides and the LM hooks are removed, even on error.
    """
    modules = cross_attention_modules(lm)
    if not modules:
        raise ValueError("this LM has no cross-attention layers: text is not conditioned by cross-attention")
    if mask.dim() not in (1, 2, 3):
        raise ValueError(f"mask must be [L], [steps, L] or [batch, steps, L], got shape {tuple(mask.shape)}")
    state = _StepState()

    def pre_hook(module: nn.Module, args: tuple) -> None:
        offsets = lm.transformer._streaming_state.get("offsets") if lm._is_streaming else None
        state.offset = int(offsets.view(-1)[0]) if offsets is not None else 0

    def make_forward(mod: StreamingMultiheadAttention) -> tp.Callable:
        def forward(query, key, value, key_padding_mask=None, need_weights=False, attn_mask=None,
                    average_attn_weights=True, is_causal=False):
            if key.shape[-1] == 0 or key.shape[1] != mask.shape[-1]:
                raise ValueError(f"mask has {mask.shape[-1]} text tokens, the condition has {key.shape[1]}")
            rows = _rows_for(mask, state.offset, query.shape[1], query.shape[0])
            return masked_cross_attention(mod, query, key, value, rows), None
        return forward

    handle = lm.register_forward_pre_hook(pre_hook)
    try:
        for mod in modules:
            mod.forward = make_forward(mod)  # instance attribute shadows the class method
        yield
    finally:
        handle.remove()
        for mod in modules:
            mod.__dict__.pop("forward", None)


class HiddenCapture:
    """Records the LM's final hidden states (after ``out_norm``, before the codebook heads).

    These are AudioGenX's latents e_t. Used as a context manager around LM calls; each call
    appends its output ([B, S, D]) to ``outputs``.
    """

    def __init__(self, lm: LMModel) -> None:
        if lm.out_norm is None:
            raise ValueError("this LM has no output norm; latents are taken after it")
        self.lm = lm
        self.outputs: list[torch.Tensor] = []
        self._handle: RemovableHandle | None = None

    def __enter__(self) -> "HiddenCapture":
        self._handle = self.lm.out_norm.register_forward_hook(lambda m, a, out: self.outputs.append(out))
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
