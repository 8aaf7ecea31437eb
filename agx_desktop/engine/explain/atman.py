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

import dataclasses

import numpy as np

from .base import Explainer, Run, register
from .settings import ExplainerSettings, option
from ._common import chunk_option, lm_logits, minmax_rows, target_nll
from ..explanation import Explanation


@dataclasses.dataclass(frozen=True)
class AtManSettings(ExplainerSettings):
    factor: float = option(0.9, "how much of a word's attention is suppressed (AtMan's own default)",
                           low=0.0, high=1.0, low_open=True)
    chunk: int = chunk_option(16, "words suppressed")


@register
class AtMan(Explainer):
    name = "atman"
    label = "AtMan"
    summary = "AtMan: suppresses each word's attention and measures the change of loss (teacher-forced)"
    Settings = AtManSettings

    def compute(self, run: Run) -> Explanation:
        import torch
        from ..intervention import cross_attention_mask
        model, inputs, targets = run.model, run.inputs, run.targets
        S, L, f = inputs.n_steps, run.n_tokens, run.settings.factor
        delta = np.zeros((S, L))
        base = target_nll(lm_logits(model, inputs), targets)[0]  # [S]
        for toks in run.chunks(L, run.settings.chunk):
            mask = torch.ones(len(toks), S, L, device=model.device)
            for b, i in enumerate(toks):
                mask[b, :, i] = 1.0 - f
            with cross_attention_mask(model.lm, mask):
                nll = target_nll(lm_logits(model, inputs, batch=len(toks)), targets)  # [B, S]
            delta[:, list(toks)] = (nll - base[None]).T.cpu().numpy()
        return run.result(minmax_rows(np.maximum(delta, 0.0)))
