"""Chefer et al. (ICCV 2021, "Generic attention-model explainability for ... encoder-decoder
transformers") on AudioGen's decoder: gradient-weighted relevance through self- and cross-attention.

Per step t the explained output is y_t = Σ_k logit_k(z_{t,k}), the generated tokens' logits (as the
Grad-CAM baselines). Relevance maps, initialised R^{aa} = I (audio queries × audio positions) and
R^{at} = 0 (audio × text), are updated layer by layer in forward order with
Ā = E_heads[(∇A ⊙ A)⁺] (their Eq. 5):
  * self-attention (their Eqs. 6-7): R^{aa} += Ā·R^{aa}, R^{at} += Ā·R^{at};
  * cross-attention (their Eq. 10, text side R^{tt} = I): R^{at} += R̄^{aa}·Ā, with R̄^{aa} the
    residual-normalised R^{aa} (R − I, rows normalised to sum 1, + I; their Eqs. 8-9).
The text encoder (T5 / MiniLM) is outside the LM and frozen, so the text self-relevance is the
identity. Choice: Eq. 10 writes (R̄^{aa})ᵀ; for a *causal* decoder and a per-step target, row t of
the transpose would read future positions (whose gradients for y_t are zero), so we use R̄^{aa}·Ā,
the same orientation as their self-attention rule. The explanation of step t is row t of R^{at}.

Per-step targets need per-step gradients: ``chunk`` steps run as one batch of independent rows,
row b back-propagating only its own y_t (steps / chunk forward+backward passes, every attention
map and its gradient kept: the most memory of all methods, as in the paper's Table 2).
Each step is min-max normalised to [0, 1]. Deterministic.
"""
from __future__ import annotations

import dataclasses
import typing as tp

import numpy as np

from .base import Explainer, Run, register
from .settings import ExplainerSettings
from ._common import AttentionRecorder, chunk_option, lm_logits, minmax_rows, per_step_backward
from ..explanation import Explanation

if tp.TYPE_CHECKING:
    import torch


@dataclasses.dataclass(frozen=True)
class CheferSettings(ExplainerSettings):
    chunk: int = chunk_option(16, "steps back-propagated")


def _residual_normalise(R: torch.Tensor) -> torch.Tensor:
    """Chefer et al. Eqs. 8-9: (R − I) with rows summing to 1, plus I. R: [B, S, S]."""
    import torch
    eye = torch.eye(R.shape[-1], dtype=R.dtype, device=R.device)
    hat = R - eye
    sums = hat.sum(-1, keepdim=True)
    hat = torch.where(sums.abs() > 1e-12, hat / torch.where(sums.abs() > 1e-12, sums, torch.ones_like(sums)), hat)
    return hat + eye


def relevance(self_maps: list[tuple[torch.Tensor, torch.Tensor]],
              cross_maps: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """(A, ∇A) pairs per layer ([B, H, S, S] and [B, H, S, L]) → R^{at} [B, S, L]."""
    import torch
    B, _, S, _ = self_maps[0][0].shape
    L = cross_maps[0][0].shape[-1]
    dev = self_maps[0][0].device
    R_aa = torch.eye(S, device=dev).expand(B, S, S).clone()
    R_at = torch.zeros(B, S, L, device=dev)
    for (A_s, G_s), (A_c, G_c) in zip(self_maps, cross_maps):
        cam = (G_s * A_s).clamp(min=0).mean(1)
        R_at = R_at + cam @ R_at
        R_aa = R_aa + cam @ R_aa
        cam_c = (G_c * A_c).clamp(min=0).mean(1)
        R_at = R_at + _residual_normalise(R_aa) @ cam_c
    return R_at


@register
class Chefer(Explainer):
    name = "chefer"
    label = "Chefer et al."
    summary = "Chefer et al.: gradient-weighted attention relevance through the layers"
    Settings = CheferSettings
    needs_grad = True

    def compute(self, run: Run) -> Explanation:
        import torch
        out = np.zeros((run.inputs.n_steps, run.n_tokens))
        for rows in run.chunks(run.inputs.n_steps, run.settings.chunk):
            rows = torch.arange(rows.start, rows.stop)
            B = len(rows)
            rec = AttentionRecorder(run.model.lm, self_attention=True, cross_attention=True, grad=True)
            with rec:
                logits = lm_logits(run.model, run.inputs, batch=B)
            per_step_backward(logits, run.targets, rows)
            sm = [(a.detach().float(), a.grad.float()) for a in rec.self_maps]
            cm = [(a.detach().float(), a.grad.float()) for a in rec.cross_maps]
            del rec, logits
            with torch.no_grad():
                R = relevance(sm, cm)
            out[rows.numpy()] = R[torch.arange(B), rows].cpu().numpy()
        return run.result(minmax_rows(out))
