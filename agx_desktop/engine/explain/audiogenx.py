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

Execution modes (two readings of "one explainer per step"; the README's table "How the explanation
works" names every difference):
  * ``reference-code``: as github.com/hjkng/audiogenX ``explain.py`` runs it. The target e_t comes
    from the full generated sequence (the reference takes it from generation, with history); the
    factual and counterfactual passes explain each step as its OWN one-token sequence at position 0
    with NO audio history (the reference reshapes the sequence into a batch of steps), so the masks
    of different steps never meet in self-attention; Adam lr 1e-3, 50 epochs, the per-step
    explainer layout; the mask reported and used for regeneration/size/display is a Gumbel SAMPLE
    of the final p (``mask_used='sample'``, the reference's ``reparams``);
  * ``paper`` (old name ``reference``, still accepted): the paper's optimisation exactly (lr 1e-3,
    50 epochs, separate factual and counterfactual passes with the unconditional CFG half riding
    along) but in one teacher-forced pass with FULL causal history: step t's mask also moves later
    steps through self-attention. Not how the reference code runs; kept to measure speed-ups against;
  * ``fast``: ``paper``'s optimisation (same loss, same masks up to float rounding), run as one
    batch of 2 (factual, counterfactual), conditional branch only (the unconditional CFG half
    never enters the loss), with the explainers laid out as one matrix and trained in one pass over
    their weights per epoch (:class:`FusedStepExplainers`, torch's fused Adam kernel; on small
    models the explainers and Adam, not the LM, dominate an epoch: 12.6 M explainer weights for
    the bundled model's 128 steps);
  * ``quick`` (default): ``fast``'s execution with lr 1e-2 decayed ×0.85 per epoch
    (``QUICK_LR``, ``QUICK_DECAY``) and a convergence stop: after ``min_epochs`` (5), training
    stops once the holistic token importance (mean over steps of p_t, what the user reads) has
    moved less than ``tol`` (0.02, max over tokens) for ``patience`` (2) epochs in a row;
    ``epochs`` (50) is then a maximum. The stop was chosen on the bundled model in latent space,
    before any classifier metric (with the earlier schedule, lr 5e-3 ×0.95: on 8 held-out takes
    the paper's objective terms with the final masks, mean cos(e, ẽ^F) 0.9957 and cos(e, ẽ^CF)
    0.9729, equal the paper mode's 0.9959 and 0.9729; 12.2 epochs on average against 18.0 for the
    earlier tol 0.01 / patience 3). The schedule (2026-12-03) was chosen among four on held-out
    captions 81-100 and confirmed on 161-180, which no choice had seen
    (benchmarks/bench_bundled_explain_schedule.py, results/bundled_explain_schedule_{tune,confirm}.md):
    9.3 epochs on average against 12.4 for lr 5e-3 ×0.95, the same agreement with the paper
    mode's word scores (ρ 0.982 against 0.981), and faithfulness paired per caption within noise
    or better (Fid_CF +0.019 ± 0.021, KL_CF +0.143 ± 0.102, KL_F −0.065 ± 0.043).

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

The reported mask (``mask_used``): ``p`` (default except in reference-code) is p_t, the explainer's
probability after training, no Gumbel noise: deterministic for a given seed, not pulled toward 0.5,
and what regeneration uses as M (and 1 − M). ``sample`` (reference-code's default) is one Gumbel
sample of it, as the reference reports and regenerates with; its mean is pulled toward 0.5
(p = 0.1 → ≈0.18 at τ = 1), so sizes and factual/counterfactual audio differ from p's.
"""
from __future__ import annotations

import contextlib
import dataclasses
import typing as tp

from .. import limits
from .base import Explainer, Run, register
from .settings import ExplainerSettings, option, seed_option
from ..explanation import Explanation, steps_for_interval

if tp.TYPE_CHECKING:
    import torch
    from torch import nn

    from ..models import LoadedModel
    from ._audiogenx_nets import ChunkedAdam

PAPER_LR, QUICK_LR, QUICK_DECAY = 1e-3, 1e-2, 0.85
MODES = ("quick", "fast", "reference", "paper", "reference-code")  # reference: old name of paper, kept accepted
LEGACY_MODES = {"reference": "paper"}
MASKS_USED = ("p", "sample")
SPACES = ("latents", "probs")
_WIDE = 65536  # explainer width: far above the paper's 512


@dataclasses.dataclass(frozen=True)
class AudioGenXSettings(ExplainerSettings):
    epochs: int = option(50, "training epochs (50 as in the paper; the most for --mode quick)", low=1,
                         high=limits.MAX_EPOCHS, in_app=True, app_range=(1, 1000), label="Epochs")
    lr: float | None = option(None, "Adam learning rate (default: the mode's, 1e-2 quick, 1e-3 otherwise)",
                              low=0.0, high=1e6, low_open=True)
    alpha: float = option(1e-3, "weight of the masks' L1 norm in the loss")
    beta: float = option(1e-1, "weight of the masks' L2 norm in the loss")
    weight_decay: float = option(1e-3, "Adam weight decay (the reference code's)")
    tau: float = option(1.0, "Gumbel-softmax temperature", low=0.0, high=1e6, low_open=True)
    hard: bool = option(False, "straight-through hard Gumbel masks (the reference trains soft ones)")
    hidden: int = option(512, "hidden units of each step's explainer MLP", low=1, high=_WIDE)
    seed: int = seed_option("initialisation and Gumbel noise")
    mode: str = option("quick", "quick: the paper's loss, higher decaying lr, stops when the importances settle "
                                "(~8x faster, see benchmarks/results/explainers_ratio.md); fast: the paper's "
                                "optimisation exactly, factual+counterfactual in one batch (~2x faster); "
                                "paper (old name: reference): the paper's lr/epochs, separate passes, full "
                                "history; reference-code: as hjkng/audiogenX runs it (each step alone, no "
                                "history, Gumbel-sampled mask)", choices=MODES)
    mask_used: str | None = option(None, "mask reported and used to regenerate: p (the explainer's probability) "
                                         "or sample (a Gumbel sample of it, as the reference code); default: "
                                         "sample in reference-code, p otherwise", choices=MASKS_USED)
    min_epochs: int = option(5, "quick: epochs before the stop rule may stop", low=0, high=limits.MAX_EPOCHS)
    tol: float = option(0.02, "quick: the importances have settled when none moves more than this per epoch")
    patience: int = option(2, "quick: settled epochs in a row that stop the training", low=0,
                           high=limits.MAX_EPOCHS)
    lr_decay: float | None = option(None, "learning rate factor per epoch (default: 0.85 in quick mode, none "
                                          "otherwise)")
    amp: bool = option(True, "quick: bf16 passes where the model says bf16 pays (large LMs on CPUs with AMX)")
    focus: tuple[float, float] | None = option(
        None, "region-local variant: only the steps of START-END seconds enter the cosine terms")
    space: str = option("latents", "what the cosines compare: the LM's hidden states e_t (latents, the paper) "
                                   "or its next-code distributions (probs)", choices=SPACES)

    def resolved(self, model: "LoadedModel | None" = None) -> "AudioGenXSettings":
        mode = LEGACY_MODES.get(self.mode, self.mode)
        quick = mode == "quick"
        used = self.mask_used if self.mask_used is not None else ("sample" if mode == "reference-code" else "p")
        lr = self.lr if self.lr is not None else (QUICK_LR if quick else PAPER_LR)
        decay = self.lr_decay if self.lr_decay is not None or not quick else QUICK_DECAY
        return dataclasses.replace(self, mode=mode, lr=lr, lr_decay=decay, mask_used=used)


def gumbel_mask(p: torch.Tensor, tau: float, hard: bool, generator: torch.Generator) -> torch.Tensor:
    """Sample of the 2-class Gumbel-softmax over (1 − p, p); returns the "keep" probability."""
    import torch
    logits = torch.log(torch.stack([1 - p, p], dim=-1) + 1e-9)
    u = torch.rand(logits.shape, generator=generator).to(p).clamp_(1e-10, 1 - 1e-10)
    y = torch.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)
    if hard:
        index = y.argmax(-1, keepdim=True)
        y = torch.zeros_like(y).scatter_(-1, index, 1.0) - y.detach() + y
    return y[..., 1]


def uses_bf16(model: "LoadedModel", settings: AudioGenXSettings) -> bool:
    """Whether an explanation with ``settings`` runs its LM passes in bf16 on ``model``."""
    return settings.mode == "quick" and settings.amp and model.fast_bf16


class _Passes:
    """The teacher-forced passes the loss compares, in the run's space and precision: the unmasked
    target, and the factual (m) and counterfactual (1 − m) passes under a mask."""

    def __init__(self, run: Run, bf16: bool) -> None:
        from .. import teacher  # audiocraft: imported when the method runs, not when the CLI reads the settings
        from ..model_inputs import conditions_for
        self.run, self.bf16, self.forward, self.per_step = run, bf16, teacher.forward, teacher.forward_per_step
        self.space, self.mode = run.settings.space, run.settings.mode
        self.condition = None
        if self.mode == "paper":  # separate passes, the unconditional CFG half rides along
            provider = run.model.lm.condition_provider
            self.condition = provider(provider.tokenize(conditions_for(run.take.prompt) + conditions_for(None)))

    def autocast(self) -> tp.ContextManager:
        import torch
        device = self.run.model.device.type
        return torch.autocast(device, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()

    def observe(self, mask: torch.Tensor | None = None, batch: int = 1, condition: dict | None = None) -> torch.Tensor:
        """What the cosines compare, [batch, steps, ·]: e_t itself (the paper) or the next-code
        distributions the same pass gives (``space='probs'``)."""
        import torch
        if self.mode == "reference-code" and mask is not None:  # each step alone, no history
            hidden, logits = self.per_step(self.run.model, self.run.inputs, mask, batch=batch)
        else:
            hidden, logits = self.forward(self.run.model, self.run.inputs, mask, batch=batch, condition=condition)
        if self.space == "latents":
            return hidden
        return torch.softmax(logits.float(), dim=-1).transpose(1, 2).flatten(-2)  # [batch, steps, K·card]

    def target(self) -> torch.Tensor:
        """[steps, ·] the unperturbed e_t with full history (in reference-code too: the reference takes
        them from generation), in the same precision as the masked passes."""
        import torch
        with torch.no_grad(), self.autocast():
            return self.observe()[0].float()

    def masked(self, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(factual, counterfactual) [steps, ·] under mask ``m`` [steps, L]."""
        import torch
        if self.mode == "paper":
            return (self.observe(m, batch=2, condition=self.condition)[0],
                    self.observe(1 - m, batch=2, condition=self.condition)[0])
        with self.autocast():
            out = self.observe(torch.stack([m, 1 - m]), batch=2)
        return out[0].float(), out[1].float()


@dataclasses.dataclass
class _Trace:
    """What the optimisation did: the loss per epoch, quick mode's importance moves, where it stopped."""

    stopped_at: int
    history: list[float] = dataclasses.field(default_factory=list)
    moves: list[float] = dataclasses.field(default_factory=list)
    previous: torch.Tensor | None = None
    calm: int = 0
    final_p: torch.Tensor | None = None  # the trained explainers' p, when the stop rule already computed it

    def settled(self, p: torch.Tensor, epoch: int, cfg: AudioGenXSettings) -> bool:
        """quick's stop rule: the holistic importance moved less than ``tol`` for ``patience`` epochs
        in a row, and at least ``min_epochs`` ran."""
        importance = p.detach().mean(0)
        if self.previous is not None:
            move = float((importance - self.previous).abs().max())
            self.moves.append(move)
            self.calm = self.calm + 1 if move < cfg.tol else 0
            if self.calm >= cfg.patience and epoch >= cfg.min_epochs:
                return True
        self.previous = importance
        return False


def _explainer_net(run: Run, generator: torch.Generator) -> tuple[nn.Module, torch.optim.Optimizer | ChunkedAdam]:
    """The per-step explainers and their Adam: as the reference lays them out, or (fast, quick) the
    same initial values laid out as one matrix, trained in one pass per epoch
    (:class:`FusedStepExplainers`: the same values as autograd with torch's fused Adam)."""
    import torch
    from torch import nn
    from ._audiogenx_nets import FusedStepExplainers, StepExplainers
    cfg, U = run.settings, run.inputs.text_embeddings
    net: nn.Module = StepExplainers(run.inputs.n_steps, U.shape[1], cfg.hidden, generator).to(run.model.device)
    if cfg.mode in ("paper", "reference-code"):
        return net, torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    fused = FusedStepExplainers(net, U.float())
    return fused, fused.optimizer(lr=cfg.lr, weight_decay=cfg.weight_decay)


def _focus_steps(run: Run) -> torch.Tensor | None:
    """The steps that predict ``focus``'s region (the only ones in the cosine terms), or None."""
    import torch
    if run.settings.focus is None:
        return None
    steps = steps_for_interval(run.settings.focus, run.inputs.step_frames, run.inputs.n_frames,
                               run.model.frame_rate)
    return torch.as_tensor(steps, device=run.model.device)


def _loss(cfg: AudioGenXSettings, target: torch.Tensor, factual: torch.Tensor, counterfactual: torch.Tensor,
          p: torch.Tensor, focus: torch.Tensor | None) -> torch.Tensor:
    """Σ_t −cos(e_t, ẽ_t^F) + Σ_t cos(e_t, ẽ_t^CF) + α‖p‖₁ + β‖p‖₂ (over ``focus``'s steps only, if given)."""
    import torch
    import torch.nn.functional as F
    cos_f = F.cosine_similarity(target, factual, dim=-1, eps=1e-6)
    cos_cf = F.cosine_similarity(target, counterfactual, dim=-1, eps=1e-6)
    if focus is not None:
        cos_f, cos_cf = cos_f[focus], cos_cf[focus]
    return -cos_f.sum() + cos_cf.sum() + cfg.alpha * p.abs().sum() + cfg.beta * torch.sqrt((p ** 2).sum())


def _step(optim: torch.optim.Optimizer | ChunkedAdam, loss: torch.Tensor, decay: float | None) -> None:
    optim.zero_grad(set_to_none=True)
    loss.backward()
    optim.step()
    if decay:
        for group in optim.param_groups:
            group["lr"] *= decay


def _optimise(run: Run, net: nn.Module, optim: torch.optim.Optimizer | ChunkedAdam, passes: _Passes,
              generator: torch.Generator) -> _Trace:
    """Train the explainers for ``epochs`` (quick: until the importances settle)."""
    cfg, U = run.settings, run.inputs.text_embeddings.float()
    quick, focus, target = cfg.mode == "quick", _focus_steps(run), passes.target()
    trace = _Trace(stopped_at=cfg.epochs)
    for epoch in range(cfg.epochs):
        run.check()
        p = net(U)  # [steps, L]
        if quick and trace.settled(p, epoch, cfg):
            trace.stopped_at, trace.final_p = epoch, p.detach()  # no step since: p is the trained one
            break
        factual, counterfactual = passes.masked(gumbel_mask(p, cfg.tau, cfg.hard, generator))
        loss = _loss(cfg, target, factual, counterfactual, p, focus)
        _step(optim, loss, cfg.lr_decay if quick else None)
        trace.history.append(float(loss.detach()))
        run.report(epoch + 1, cfg.epochs)
    if trace.stopped_at < cfg.epochs:
        run.report(cfg.epochs, cfg.epochs)
    return trace


def _used_mask(p: torch.Tensor, cfg: AudioGenXSettings, generator: torch.Generator) -> torch.Tensor:
    """The mask reported and regenerated with: p itself, or (``mask_used='sample'``, the reference's
    ``reparams``) one Gumbel sample of it, drawn after training from the same generator."""
    return gumbel_mask(p, cfg.tau, cfg.hard, generator) if cfg.mask_used == "sample" else p


@register
class AudioGenX(Explainer):
    """Train AudioGenX's per-step explainers on the take and return their masks p_t (module docstring)."""

    name = "audiogenx"
    label = "AudioGenX"
    summary = "AudioGenX (the paper's): learns a soft mask per word and step, factual + counterfactual"
    Settings = AudioGenXSettings
    needs_grad = True

    def compute(self, run: Run) -> Explanation:
        import torch
        from .. import teacher
        bf16 = uses_bf16(run.model, run.settings)
        generator = torch.Generator().manual_seed(run.settings.seed)
        net, optim = _explainer_net(run, generator)
        with teacher.Bf16Weights(run.model.lm) if bf16 else contextlib.nullcontext():
            trace = _optimise(run, net, optim, _Passes(run, bf16), generator)
            with torch.no_grad():
                p = trace.final_p if trace.final_p is not None else net(run.inputs.text_embeddings.float())
                p = p.float()
                used = _used_mask(p, run.settings, generator)
        return run.result(used.cpu().numpy(), extras={
            "loss_history": trace.history, "epochs_run": trace.stopped_at, "bf16": bf16,
            "importance_moves": trace.moves, "p_importance": p.mean(0).cpu().tolist()})

    def provenance(self, settings: ExplainerSettings, model: "LoadedModel | None" = None) -> dict[str, tp.Any]:
        """All the resolved settings (so a change of the default mode's stop rule is seen) and, given the
        model, whether its passes run in bf16."""
        resolved = settings.resolved(model)
        record = resolved.to_dict()
        if model is not None:
            record["bf16"] = uses_bf16(model, resolved)
        return record


def __getattr__(name: str) -> tp.Any:
    """``audiogenx.StepExplainers`` / ``FusedStepExplainers``: the networks live in :mod:`._audiogenx_nets`
    (they subclass torch's ``nn.Module``, so this module imports them only when asked)."""
    if name in ("StepExplainers", "FusedStepExplainers", "ChunkedAdam"):
        from . import _audiogenx_nets
        return getattr(_audiogenx_nets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
