"""Attention rollout (Abnar & Zuidema 2020) extended through cross-attention to the text tokens.

One teacher-forced forward, no gradients. Nodes are the audio positions and the text tokens;
text tokens are sources (the text encoder is outside the LM and frozen). Each row of the joint
map [R^{aa} | R^{at}] is how much of position t's representation comes from each node; rows sum
to 1. Layer by layer, in forward order, with head-averaged post-softmax weights and Abnar &
Zuidema's residual correction (0.5·A + 0.5·I):
  * self-attention: Â = 0.5·mean_h A + 0.5·I;  R^{aa} ← Â·R^{aa},  R^{at} ← Â·R^{at};
  * cross-attention (residual + attention over text): R^{aa} ← 0.5·R^{aa},
    R^{at} ← 0.5·R^{at} + 0.5·mean_h A^{cross}.
The explanation of step t is row t of R^{at}, min-max normalised per step to [0, 1].
Choice: the paper notes rollout "struggles to integrate cross-attention weights"; this joint
rollout is our extension (the equal split of residual and attention is rollout's own rule).
Deterministic.
"""
from __future__ import annotations

from .base import Explainer, Run, register
from ._common import AttentionRecorder, lm_logits, minmax_rows
from ..explanation import Explanation


@register
class Rollout(Explainer):
    name = "rollout"
    label = "Attention rollout"
    summary = "attention rollout: attention maps multiplied through the layers"

    def compute(self, run: Run) -> Explanation:
        import torch
        rec = AttentionRecorder(run.model.lm, self_attention=True, cross_attention=True)
        with rec:
            lm_logits(run.model, run.inputs)
        S = rec.self_maps[0].shape[-1]
        L = rec.cross_maps[0].shape[-1]
        eye = torch.eye(S)
        R_aa, R_at = eye.clone(), torch.zeros(S, L)
        for A_s, A_c in zip(rec.self_maps, rec.cross_maps):
            A_hat = 0.5 * A_s[0].float().mean(0).cpu() + 0.5 * eye
            R_aa, R_at = A_hat @ R_aa, A_hat @ R_at
            R_aa, R_at = 0.5 * R_aa, 0.5 * R_at + 0.5 * A_c[0].float().mean(0).cpu()
        run.report(1, 1)
        return run.result(minmax_rows(R_at.numpy()))
