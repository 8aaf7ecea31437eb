"""AudioGenX (Kang et al., AAAI 2025): factual + counterfactual soft masks on cross-attention.

Faithful to the paper and to its reference code (github.com/hjkng/audiogenX, ``explain.py`` and
``mask.py``):

* one Explainer per generation step t: Linear(d→512) → PReLU → Linear(512→1) → sigmoid on the
  text tokens U gives p_t (one value per token); a 2-class Gumbel-softmax over (1−p, p) (τ = 1,
  soft by default as in the reference) gives the training mask m_t;
* every cross-attention layer computes ``softmax(QKᵀ/√d) ⊙ m_t · V`` (factual) and the same with
  ``1 − m_t`` (counterfactual), see :mod:`..intervention`;
* loss = Σ_t −cos(e_t, ẽ_t^F) + Σ_t cos(e_t, ẽ_t^CF) + α‖p‖₁ + β‖p‖₂ with α = 1e-3, β = 1e-1,
  the cosine terms summed over steps and the norms over all steps and tokens (as the reference
  does); Adam, lr 1e-3 (weight decay 1e-3, as the reference), 50 epochs;
* all steps train together in one teacher-forced pass over the generated sequence; e_t is the
  LM's final hidden state (after ``out_norm``) of the conditional branch.

Two execution modes give the same loss:
  * ``fast`` (default): factual and counterfactual in one batch of 2, conditional branch only
    (the unconditional CFG half never enters the loss);
  * ``reference``: as the reference code runs it — separate factual and counterfactual passes,
    each with the unconditional CFG half in the batch. Kept to measure speed-ups against.

The reported mask is p_t (the explainer's probability after training, no Gumbel noise): it is
deterministic for a given seed, and it is what regeneration uses as M (and 1 − M).
"""
from __future__ import annotations

import math
import time
import typing as tp

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..jobs import CancelToken, ProgressFn, check, report
from ..models import LoadedModel
from ..take import Take
from .. import teacher
from .base import Explanation

NAME = "audiogenx"
DEFAULTS = dict(epochs=50, lr=1e-3, alpha=1e-3, beta=1e-1, weight_decay=1e-3, tau=1.0, hard=False,
                hidden=512, seed=0, mode="fast")


class StepExplainers(nn.Module):
    """``steps`` independent Explainer MLPs evaluated in one batched einsum.

    Each has its own Linear(d→hidden), PReLU and Linear(hidden→1), initialised like ``nn.Linear``.
    """

    def __init__(self, steps: int, dim: int, hidden: int, generator: torch.Generator) -> None:
        super().__init__()

        def uniform(shape: tuple, fan_in: int) -> nn.Parameter:
            bound = 1.0 / math.sqrt(fan_in)
            return nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))

        self.w1 = uniform((steps, dim, hidden), dim)
        self.b1 = uniform((steps, 1, hidden), dim)
        self.prelu = nn.Parameter(torch.full((steps, 1, 1), 0.25))
        self.w2 = uniform((steps, hidden, 1), hidden)
        self.b2 = uniform((steps, 1, 1), hidden)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [L, d] → p [steps, L] in (0, 1)."""
        h = torch.einsum("ld,sdh->slh", tokens, self.w1) + self.b1
        h = torch.where(h >= 0, h, self.prelu * h)
        return torch.sigmoid(torch.bmm(h, self.w2) + self.b2).squeeze(-1)


def gumbel_mask(p: torch.Tensor, tau: float, hard: bool, generator: torch.Generator) -> torch.Tensor:
    """Sample of the 2-class Gumbel-softmax over (1 − p, p); returns the "keep" probability."""
    logits = torch.log(torch.stack([1 - p, p], dim=-1) + 1e-9)
    u = torch.rand(logits.shape, generator=generator).to(p).clamp_(1e-10, 1 - 1e-10)
    y = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)
    if hard:
        index = y.argmax(-1, keepdim=True)
        y = torch.zeros_like(y).scatter_(-1, index, 1.0) - y.detach() + y
    return y[..., 1]


def explain_audiogenx(model: LoadedModel, take: Take, *, progress: ProgressFn | None = None,
                      cancel: CancelToken | None = None, **params: tp.Any) -> Explanation:
    """Train AudioGenX's per-step explainers on ``take`` and return their masks.

    Args:
        params: any of ``DEFAULTS`` (epochs, lr, alpha, beta, weight_decay, tau, hard, hidden,
            seed, mode='fast'|'reference').
        progress: called as ``progress('explain', epoch, epochs)``.
        cancel: checked before every epoch.
    """
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown AudioGenX parameter(s): {', '.join(sorted(unknown))}")
    cfg = {**DEFAULTS, **params}
    if cfg["mode"] not in ("fast", "reference"):
        raise ValueError("mode must be 'fast' or 'reference'")
    if int(cfg["epochs"]) < 1:
        raise ValueError("epochs must be >= 1")
    start = time.perf_counter()
    inputs = teacher.prepare(model, take)
    lm = model.lm
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    U = inputs.text_embeddings.float()
    steps, L = inputs.n_steps, U.shape[0]
    explainers = StepExplainers(steps, U.shape[1], int(cfg["hidden"]), gen).to(model.device)
    optim = torch.optim.Adam(explainers.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"], foreach=True)
    epochs = int(cfg["epochs"])
    history: list[float] = []
    with model.threads(), teacher.frozen(lm):
        with torch.no_grad():
            target = teacher.latents(model, inputs)[0]  # [steps, D], the unperturbed e_t
        if cfg["mode"] == "reference":
            from ..generation import conditions_for
            provider = lm.condition_provider
            cfg_condition = provider(provider.tokenize(conditions_for(take.prompt) + conditions_for(None)))
        for epoch in range(epochs):
            check(cancel)
            p = explainers(U)  # [steps, L]
            m = gumbel_mask(p, cfg["tau"], cfg["hard"], gen)
            if cfg["mode"] == "fast":
                out = teacher.latents(model, inputs, torch.stack([m, 1 - m]), batch=2)
                h_f, h_cf = out[0], out[1]
            else:
                h_f = teacher.latents(model, inputs, m, batch=2, condition=cfg_condition)[0]
                h_cf = teacher.latents(model, inputs, 1 - m, batch=2, condition=cfg_condition)[0]
            loss_f = -F.cosine_similarity(target, h_f, dim=-1, eps=1e-6).sum()
            loss_cf = F.cosine_similarity(target, h_cf, dim=-1, eps=1e-6).sum()
            loss = loss_f + loss_cf + cfg["alpha"] * p.abs().sum() + cfg["beta"] * torch.sqrt((p ** 2).sum())
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            history.append(float(loss.detach()))
            report(progress, "explain", epoch + 1, epochs)
        with torch.no_grad():
            final = explainers(U).float().cpu().numpy()
    check(cancel)
    return Explanation(method=NAME, model_id=model.id, prompt=take.prompt, take_id=take.id, text=take.text,
                       step_masks=final.astype(np.float64), step_frames=inputs.step_frames,
                       n_frames=inputs.n_frames, frame_rate=model.frame_rate,
                       params={**cfg, "take_seed": int(take.params.seed)},
                       seconds=time.perf_counter() - start, extras={"loss_history": history})
