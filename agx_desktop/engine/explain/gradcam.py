"""Grad-CAM baselines (Selvaraju et al. 2017) as the AudioGenX paper adapts them: Grad-CAM-e and -a.

The class explained at step t is the audio token the model generated, z_t: its score is
y_t = Σ_k logit_k(z_{t,k}) over the codebooks predicted at step t (conditional branch, teacher
forced; the logit heads are linear in e_t, so gradients reach everything through e_t).

**Grad-CAM-e** (``gradcam-e``, "gradients of the last cross-attention map"): the feature map is
the last layer's post-softmax cross-attention A ∈ [heads, steps, L] and the "channels" are heads.
For step t: α_{h,t} = mean_i ∂y_t/∂A_{h,t,i} (Grad-CAM's global-average-pooled gradient, pooled
over text tokens); cam_t = ReLU(Σ_h α_{h,t} · A_{h,t,:}). One forward + one backward of Σ_t y_t
gives every step's gradient exactly: in the last layer, cross-attention row t only reaches output
t (the feed-forward, output norm and heads are position-wise).

**Grad-CAM-a** (``gradcam-a``, "gradients of e_t ... w.r.t. the tokens"): the feature map is the
text token matrix U ∈ [L, d] (channels = embedding dimensions, "spatial" = tokens). For step t:
α_{t,c} = mean_i ∂y_t/∂U_{i,c}; cam_t[i] = ReLU(Σ_c α_{t,c} U_{i,c}). U is shared by all steps, so
per-step gradients need one backward per step: we batch ``chunk`` steps per pass, each batch
row with its own copy of U and its own target y_t (rows are independent), i.e. steps / chunk
forward+backward passes (this is why it is the most memory-hungry baseline, as in the paper).

Both: per-step min-max normalisation to [0, 1] (a step with no positive evidence is all 0).
Deterministic (no randomness).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .base import Explainer, Run, register
from .settings import ExplainerSettings
from ._common import AttentionRecorder, chunk_option, lm_logits, minmax_rows, per_step_backward, target_scores
from ..explanation import Explanation


@register
class GradCamE(Explainer):
    name = "gradcam-e"
    label = "Grad-CAM-e"
    summary = "Grad-CAM on the last cross-attention map (heads as channels, one backward pass)"
    needs_grad = True

    def compute(self, run: Run) -> Explanation:
        import torch
        rec = AttentionRecorder(run.model.lm, self_attention=False, cross_attention=True, layers=[-1], grad=True)
        with rec:
            logits = lm_logits(run.model, run.inputs)
        target_scores(logits, run.targets).sum().backward()
        A = rec.cross_maps[-1].detach()[0].float()  # [H, S, L]
        G = rec.cross_maps[-1].grad[0].float()
        alpha = G.mean(dim=-1, keepdim=True)  # [H, S, 1]
        cam = torch.relu((alpha * A).sum(0)).cpu().numpy()  # [S, L]
        run.report(1, 1)
        return run.result(minmax_rows(cam))


@dataclasses.dataclass(frozen=True)
class GradCamASettings(ExplainerSettings):
    chunk: int = chunk_option(32, "steps back-propagated")


@register
class GradCamA(Explainer):
    name = "gradcam-a"
    label = "Grad-CAM-a"
    summary = "Grad-CAM on the text token embeddings (gradients of each step's output)"
    Settings = GradCamASettings
    needs_grad = True

    def compute(self, run: Run) -> Explanation:
        import torch
        from .. import teacher
        inputs = run.inputs
        key = next(iter(inputs.condition))
        U, umask = inputs.condition[key]  # [1, L, D], [1, L]
        cams = np.zeros((inputs.n_steps, U.shape[1]))
        for rows in run.chunks(inputs.n_steps, run.settings.chunk):
            rows = torch.arange(rows.start, rows.stop)
            B = len(rows)
            Ub = U.detach().expand(B, -1, -1).clone().requires_grad_(True)
            cond = dict(teacher.expand_condition(inputs.condition, B))
            cond[key] = (Ub, umask.expand(B, -1))
            per_step_backward(lm_logits(run.model, inputs, batch=B, condition=cond), run.targets, rows)
            alpha = Ub.grad.float().mean(dim=1, keepdim=True)  # [B, 1, D]
            cams[rows.numpy()] = torch.relu((alpha * U.detach().float()).sum(-1)).cpu().numpy()
        return run.result(minmax_rows(cams))
