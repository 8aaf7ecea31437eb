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

import time
import typing as tp

import numpy as np
import torch

from ..progress import CancelToken, ProgressFn, check, report
from ..models import LoadedModel
from ..take import Take
from .. import teacher
from ._common import AttentionRecorder, check_params, lm_logits, make_explanation, minmax_rows, step_targets, \
    target_scores
from .base import Explanation


def explain_gradcam_e(model: LoadedModel, take: Take, *, progress: ProgressFn | None = None,
                      cancel: CancelToken | None = None, **params: tp.Any) -> Explanation:
    name = "gradcam-e"
    cfg = check_params(name, params, {})
    start = time.perf_counter()
    check(cancel)
    inputs = teacher.prepare(model, take)
    targets = step_targets(model, take)
    with model.threads(), teacher.Frozen(model.lm), torch.enable_grad():
        rec = AttentionRecorder(model.lm, self_attention=False, cross_attention=True, layers=[-1], grad=True)
        with rec:
            logits = lm_logits(model, inputs)
        target_scores(logits, targets).sum().backward()
        A = rec.cross_maps[-1].detach()[0].float()  # [H, S, L]
        G = rec.cross_maps[-1].grad[0].float()
    alpha = G.mean(dim=-1, keepdim=True)  # [H, S, 1]
    cam = torch.relu((alpha * A).sum(0)).cpu().numpy()  # [S, L]
    report(progress, "explain", 1, 1)
    return make_explanation(name, model, take, inputs, minmax_rows(cam), cfg, start)


def explain_gradcam_a(model: LoadedModel, take: Take, *, progress: ProgressFn | None = None,
                      cancel: CancelToken | None = None, **params: tp.Any) -> Explanation:
    name = "gradcam-a"
    cfg = check_params(name, params, {"chunk": 32})
    chunk = max(1, int(cfg["chunk"]))
    start = time.perf_counter()
    inputs = teacher.prepare(model, take)
    targets = step_targets(model, take)
    S = inputs.n_steps
    key = next(iter(inputs.condition))
    U, umask = inputs.condition[key]  # [1, L, D], [1, L]
    cams = np.zeros((S, U.shape[1]))
    n_chunks = (S + chunk - 1) // chunk
    with model.threads(), teacher.Frozen(model.lm), torch.enable_grad():
        for c in range(n_chunks):
            check(cancel)
            rows = torch.arange(c * chunk, min(S, (c + 1) * chunk))
            B = len(rows)
            Ub = U.detach().expand(B, -1, -1).clone().requires_grad_(True)
            cond = dict(teacher.expand_condition(inputs.condition, B))
            cond[key] = (Ub, umask.expand(B, -1))
            logits = lm_logits(model, inputs, batch=B, condition=cond)
            scores = target_scores(logits, targets)  # [B, S]
            scores[torch.arange(B), rows].sum().backward()
            G = Ub.grad.float()  # [B, L, D]
            alpha = G.mean(dim=1, keepdim=True)  # [B, 1, D]
            cams[rows.numpy()] = torch.relu((alpha * U.detach().float()).sum(-1)).cpu().numpy()
            report(progress, "explain", c + 1, n_chunks)
    return make_explanation(name, model, take, inputs, minmax_rows(cams), cfg, start)
