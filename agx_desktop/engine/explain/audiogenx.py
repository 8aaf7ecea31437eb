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

Execution modes:
  * ``reference``: as the reference code runs it — separate factual and counterfactual passes,
    each with the unconditional CFG half in the batch, lr 1e-3, 50 epochs. Kept to measure
    speed-ups against;
  * ``fast``: the same optimisation (same loss, same masks up to float rounding), run as one
    batch of 2 (factual, counterfactual), conditional branch only (the unconditional CFG half
    never enters the loss), with the explainers laid out as one GEMM (:class:`FlatStepExplainers`)
    and the fused Adam kernel (on small models the explainers and Adam, not the LM, dominate an
    epoch: 12.6 M explainer weights for the bundled model's 128 steps);
  * ``quick`` (default): ``fast``'s execution with lr 5e-3 decayed ×0.95 per epoch
    (``QUICK_LR``, ``QUICK_DECAY``) and a convergence stop: after ``min_epochs`` (5), training
    stops once the holistic token importance (mean over steps of p_t, what the user reads) has
    moved less than ``tol`` (0.02, max over tokens) for ``patience`` (2) epochs in a row;
    ``epochs`` (50) is then a maximum. The stop was chosen on the bundled model in latent space,
    before any classifier metric: on 8 held-out takes the paper's objective terms with the final
    masks (mean cos(e, ẽ^F) 0.9957, cos(e, ẽ^CF) 0.9729) equal the reference mode's (0.9959,
    0.9729); correlation with the reference masks 0.965 per step, 0.997 holistic; 12.2 epochs on
    average against 18.0 for the earlier tol 0.01 / patience 3. Its classifier-measured
    faithfulness against ``reference`` comes from ``benchmarks/bench_explainers.py ratio`` and
    ``agx evaluate`` (methods ``audiogenx`` and ``audiogenx-reference``).

Precision: where :attr:`LoadedModel.fast_bf16` says bf16 pays (large LMs on CPUs with AMX;
not CUDA, where float32 measured faster on an H100)
quick runs the teacher-forced passes, the target's included, under bf16 autocast (``amp``) with
the GEMM weights cast to bf16 once per explanation (:class:`teacher.Bf16Weights`); explainers,
masks, cross-attention weights, norms and the loss stay float32. The bundled model is small and
stays float32. At audiogen-medium's shape, ``benchmarks/bench_explainers.py medium`` measures the
bf16 mask gradient against float32's.

Variants (not the paper's, documented with their measured effect in the bundled model card):
  * ``focus`` (region-local): only the steps predicting frames inside an interval enter the
    cosine terms (all masks still train, since earlier steps shape later ones through
    self-attention);
  * ``space='probs'``: the cosines compare each step's next-code distributions (softmax of the
    LM's codebook heads, concatenated) instead of e_t. e_t also carries what the LM plans for
    later steps; the distributions only what it is about to emit.

The reported mask is p_t (the explainer's probability after training, no Gumbel noise): it is
deterministic for a given seed, and it is what regeneration uses as M (and 1 − M).
"""
from __future__ import annotations

import contextlib
import math
import time
import typing as tp

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ParameterError
from ..progress import CancelToken, ProgressFn, check, report
from ..models import LoadedModel
from ..take import Take
from .. import teacher
from .base import Explanation, steps_for_interval

NAME = "audiogenx"
DEFAULTS = dict(epochs=50, lr=None, alpha=1e-3, beta=1e-1, weight_decay=1e-3, tau=1.0, hard=False,
                hidden=512, seed=0, mode="quick", min_epochs=5, tol=0.02, patience=2, lr_decay=None, amp=True,
                focus=None, space="latents")
SPACES = ("latents", "probs")
PAPER_LR, QUICK_LR, QUICK_DECAY = 1e-3, 5e-3, 0.95
MODES = ("quick", "fast", "reference")


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


class FlatStepExplainers(nn.Module):
    """The same ``steps`` Explainer MLPs (same initial values) laid out for speed (fast/quick modes).

    The first layers of all steps are one [d, steps·hidden] matrix, so U·W1 for every step is a
    single GEMM (and its weight gradient another) instead of ``steps`` small batched ones: about
    2.6× faster on the bundled model's shapes on one CPU thread. Adam is element-wise, so the
    layout changes nothing but float rounding.
    """

    def __init__(self, ref: StepExplainers) -> None:
        super().__init__()
        steps, dim, hidden = ref.w1.shape
        self.steps, self.hidden = steps, hidden
        self.w1 = nn.Parameter(ref.w1.detach().permute(1, 0, 2).reshape(dim, steps * hidden).contiguous())
        self.b1 = nn.Parameter(ref.b1.detach().clone())
        self.prelu = nn.Parameter(ref.prelu.detach().clone())
        self.w2 = nn.Parameter(ref.w2.detach().clone())
        self.b2 = nn.Parameter(ref.b2.detach().clone())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [L, d] → p [steps, L] in (0, 1)."""
        L = tokens.shape[0]
        h = (tokens @ self.w1).view(L, self.steps, self.hidden).transpose(0, 1) + self.b1
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


def resolve_params(params: tp.Mapping[str, tp.Any]) -> dict:
    """The full, validated settings an explanation with ``params`` runs with (defaults filled in).

    Raises :class:`ParameterError` for unknown names or out-of-range values. ``agx evaluate``
    records this, so results made with other settings are never mixed with new ones.
    """
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ParameterError(f"unknown AudioGenX parameter(s): {', '.join(sorted(unknown))}")
    cfg = {**DEFAULTS, **params}
    if cfg["mode"] not in MODES:
        raise ParameterError(f"AudioGenX mode must be 'quick', 'fast' or 'reference', got {cfg['mode']!r}")
    if cfg["lr"] is None:
        cfg["lr"] = QUICK_LR if cfg["mode"] == "quick" else PAPER_LR
    if cfg["lr_decay"] is None and cfg["mode"] == "quick":
        cfg["lr_decay"] = QUICK_DECAY
    if int(cfg["epochs"]) < 1:
        raise ParameterError(f"epochs must be >= 1, got {cfg['epochs']}")
    if cfg["focus"] is not None:
        try:
            start, end = (float(v) for v in cfg["focus"])
        except (TypeError, ValueError):
            raise ParameterError(f"focus must be (start, end) in seconds, got {cfg['focus']!r}") from None
        cfg["focus"] = [start, end]
    if cfg["space"] not in SPACES:
        raise ParameterError(f"AudioGenX space must be 'latents' or 'probs', got {cfg['space']!r}")
    return cfg


def uses_bf16(model: LoadedModel, cfg: tp.Mapping[str, tp.Any]) -> bool:
    """Whether an explanation with resolved settings ``cfg`` runs its LM passes in bf16 on ``model``."""
    return cfg["mode"] == "quick" and bool(cfg["amp"]) and model.fast_bf16


def explain_audiogenx(model: LoadedModel, take: Take, *, progress: ProgressFn | None = None,
                      cancel: CancelToken | None = None, **params: tp.Any) -> Explanation:
    """Train AudioGenX's per-step explainers on ``take`` and return their masks.

    Args:
        params: any of ``DEFAULTS`` (epochs, lr (None = the mode's: 5e-3 quick, 1e-3 otherwise),
            alpha, beta, weight_decay, tau, hard, hidden, seed, mode='quick'|'fast'|'reference',
            quick's min_epochs, tol, patience, lr_decay, amp, and ``focus``: an interval (seconds)
            whose steps alone enter the cosine terms, a region-local variant; None = the paper's
            whole-clip loss).
        progress: called as ``progress('explain', epoch, epochs)``.
        cancel: checked before every epoch.
    """
    cfg = resolve_params(params)
    quick = cfg["mode"] == "quick"
    start = time.perf_counter()
    inputs = teacher.prepare(model, take)
    lm = model.lm
    focus = None
    if cfg["focus"] is not None:  # the cosine terms over the steps that predict the region only
        focus = torch.as_tensor(steps_for_interval(tuple(cfg["focus"]), inputs.step_frames, inputs.n_frames,
                                                   model.frame_rate), device=model.device)
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    U = inputs.text_embeddings.float()
    steps, L = inputs.n_steps, U.shape[0]
    explainers: nn.Module = StepExplainers(steps, U.shape[1], int(cfg["hidden"]), gen).to(model.device)
    if cfg["mode"] == "reference":
        optim = torch.optim.Adam(explainers.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                                 foreach=True)
    else:  # same initial values and update rule; one-GEMM layout and the fused Adam kernel
        explainers = FlatStepExplainers(explainers)
        optim = torch.optim.Adam(explainers.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                                 fused=True)
    epochs = int(cfg["epochs"])
    history: list[float] = []
    importance_moves: list[float] = []
    stopped_at = epochs
    prev_importance: torch.Tensor | None = None
    calm = 0
    use_amp = uses_bf16(model, cfg)

    def autocast() -> tp.ContextManager:
        return (torch.autocast(model.device.type, dtype=torch.bfloat16) if use_amp else contextlib.nullcontext())

    precision = teacher.Bf16Weights(lm) if use_amp else contextlib.nullcontext()

    def observe(mask: torch.Tensor | None = None, batch: int = 1, condition: dict | None = None) -> torch.Tensor:
        """What the cosines compare, [batch, steps, ·]: e_t itself (the paper) or the next-code
        distributions the same pass gives (``space='probs'``)."""
        hidden, logits = teacher.forward(model, inputs, mask, batch=batch, condition=condition)
        if cfg["space"] == "latents":
            return hidden
        return torch.softmax(logits.float(), dim=-1).transpose(1, 2).flatten(-2)  # [batch, steps, K·card]

    with model.threads(), teacher.Frozen(lm), precision:
        with torch.no_grad(), autocast():  # the target in the same precision as the masked passes
            target = observe()[0].float()  # [steps, ·], the unperturbed e_t
        if cfg["mode"] == "reference":
            from ..generation import conditions_for
            provider = lm.condition_provider
            cfg_condition = provider(provider.tokenize(conditions_for(take.prompt) + conditions_for(None)))
        for epoch in range(epochs):
            check(cancel)
            p = explainers(U)  # [steps, L]
            if quick:
                importance = p.detach().mean(0)
                if prev_importance is not None:
                    move = float((importance - prev_importance).abs().max())
                    importance_moves.append(move)
                    calm = calm + 1 if move < cfg["tol"] else 0
                    if calm >= int(cfg["patience"]) and epoch >= int(cfg["min_epochs"]):
                        stopped_at = epoch
                        break
                prev_importance = importance
            m = gumbel_mask(p, cfg["tau"], cfg["hard"], gen)
            if cfg["mode"] in ("fast", "quick"):
                with autocast():
                    out = observe(torch.stack([m, 1 - m]), batch=2)
                h_f, h_cf = out[0].float(), out[1].float()
            else:
                h_f = observe(m, batch=2, condition=cfg_condition)[0]
                h_cf = observe(1 - m, batch=2, condition=cfg_condition)[0]
            cos_f = F.cosine_similarity(target, h_f, dim=-1, eps=1e-6)
            cos_cf = F.cosine_similarity(target, h_cf, dim=-1, eps=1e-6)
            if focus is not None:
                cos_f, cos_cf = cos_f[focus], cos_cf[focus]
            loss_f, loss_cf = -cos_f.sum(), cos_cf.sum()
            loss = loss_f + loss_cf + cfg["alpha"] * p.abs().sum() + cfg["beta"] * torch.sqrt((p ** 2).sum())
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            if quick and cfg["lr_decay"]:
                for group in optim.param_groups:
                    group["lr"] *= float(cfg["lr_decay"])
            history.append(float(loss.detach()))
            report(progress, "explain", epoch + 1, epochs)
        if stopped_at < epochs:
            report(progress, "explain", epochs, epochs)
        with torch.no_grad():
            final = explainers(U).float().cpu().numpy()
    check(cancel)
    return Explanation(method=NAME, model_id=model.id, prompt=take.prompt, take_id=take.id, text=take.text,
                       step_masks=final.astype(np.float64), step_frames=inputs.step_frames,
                       n_frames=inputs.n_frames, frame_rate=model.frame_rate,
                       params={**cfg, "take_seed": int(take.params.seed)},
                       seconds=time.perf_counter() - start,
                       extras={"loss_history": history, "epochs_run": stopped_at, "bf16": use_amp,
                               "importance_moves": importance_moves})
