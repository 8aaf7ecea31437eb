"""AtMan baseline (Deiseroth et al., NeurIPS 2023): suppress one text token at a time.

For each text token i, every cross-attention layer multiplies token i's attention weight by
(1 − f) for every query step, with f = 0.9 (AtMan's default suppression factor); the change of
the per-step loss of the generated tokens, Δ_{t,i} = NLL_t(i suppressed) − NLL_t(original),
NLL_t = −Σ_k log p(z_{t,k}), is token i's importance for step t (AtMan: "the change of loss in
the response"). All L suppressions are run teacher forced, batched ``chunk`` at a time, no
gradients (this is why it is the cheapest baseline, as in the paper's Table 2).

Choices (write-down): the suppression is applied to the post-softmax weights through the same
intervention as every other method (AtMan scales the pre-softmax scores of the token; with a
single token scaled by 0.1 the effect is the same in spirit and keeps all methods on one
mechanism); AtMan's "conceptual" suppression of correlated tokens (cosine similarity > κ of the
embeddings) is not used, as the AudioGenX paper describes AtMan as single-token. Negative Δ
(suppressing helps) is clipped to 0, then each step is min-max normalised to [0, 1].
Deterministic.
"""
from __future__ import annotations

import time
import typing as tp

import numpy as np
import torch

from ..errors import ParameterError
from ..intervention import cross_attention_mask
from ..progress import CancelToken, ProgressFn, check, report
from ..models import LoadedModel
from ..take import Take
from .. import teacher
from ._common import check_params, lm_logits, make_explanation, minmax_rows, step_targets, target_nll
from .base import Explanation

NAME = "atman"
DEFAULTS = dict(factor=0.9, chunk=16)


def explain_atman(model: LoadedModel, take: Take, *, progress: ProgressFn | None = None,
                  cancel: CancelToken | None = None, **params: tp.Any) -> Explanation:
    cfg = check_params(NAME, params, DEFAULTS)
    f, chunk = float(cfg["factor"]), max(1, int(cfg["chunk"]))
    if not 0.0 < f <= 1.0:
        raise ParameterError(f"AtMan factor must be in (0, 1], got {f}")
    start = time.perf_counter()
    inputs = teacher.prepare(model, take)
    targets = step_targets(model, take)
    S, L = inputs.n_steps, int(inputs.text_embeddings.shape[0])
    delta = np.zeros((S, L))
    n_chunks = (L + chunk - 1) // chunk
    with model.threads(), torch.no_grad():
        base = target_nll(lm_logits(model, inputs), targets)[0]  # [S]
        for c in range(n_chunks):
            check(cancel)
            toks = list(range(c * chunk, min(L, (c + 1) * chunk)))
            mask = torch.ones(len(toks), S, L, device=model.device)
            for b, i in enumerate(toks):
                mask[b, :, i] = 1.0 - f
            with cross_attention_mask(model.lm, mask):
                nll = target_nll(lm_logits(model, inputs, batch=len(toks)), targets)  # [B, S]
            delta[:, toks] = (nll - base[None]).T.cpu().numpy()
            report(progress, "explain", c + 1, n_chunks)
    return make_explanation(NAME, model, take, inputs, minmax_rows(np.maximum(delta, 0.0)), cfg, start)
