"""Counterfactual occlusion: what would the take sound like, moment by moment, without each token?

Not the paper's method (a documented alternative; see the bundled model card): AudioGenX compares
teacher-forced hidden states, in which the model reads the take's own audio so far; this method
regenerates the take once per prompt token with that token muted (cross-attention weight 0 at every
step), and a token's importance at a frame is how far the regenerated audio is from the take there
(log-mel distance). So it explains generated *sound*, including what a word set in motion earlier.

Regenerating with a mute and a fresh random draw would change every frame, whatever the token
(sampling noise alone makes a different take). So each counterfactual reuses the take's own
randomness as far as it can: sampling at step t is the Gumbel-max choice argmax_k(log p_t(k) +
g_t(k)), and the noise g_t that produced the take's code at each step is drawn from its posterior
given that code (the top-down truncated-Gumbel construction of Oberst & Sontag, ICML 2019,
"Counterfactual off-policy evaluation with Gumbel-max structural causal models"), then kept fixed
under the mute. A token that barely moves the distributions keeps the take's codes; one that
decides what sounds changes them from where it matters. With no token muted the take's codes come
back exactly (``extras['reproduced']`` says whether they did). One posterior draw is one possible
counterfactual: a mute that shifts the distributions a little flips a sampled code at some step or
not, depending on the draw, and from that step on the take is a different take. ``draws`` (default
3) averages the distances over independent posterior draws, an estimate of the expected change; on
the bundled model's held-out single-event captions it took the own-word-first rate from 27/30 with
one draw to 30/30 (model card). Every draw costs one regeneration per token, batched.

Muting one token at a time misses redundancy: in "a dog barks" muting "dog" leaves "barks" to make
the bark, so both words look unimportant. ``coalitions='shapley'`` regenerates along random orders
in which the tokens are switched on one by one, and credits each token with the average change its
arrival makes (a sampled Shapley value; see ``_plan``).

The distributions are the take's own: guidance, temperature and top-k from its parameters.
``focus=(start, end)`` anchors a region: every counterfactual keeps the take's codes before
``start`` (only the region and what follows are regenerated), so the region's explanation says what
drove the region given what was heard before it.
"""
from __future__ import annotations

import dataclasses
import typing as tp

import numpy as np

from .. import limits
from ..progress import CancelToken, check
from .base import Explainer, Run, register
from .settings import ExplainerSettings, option, seed_option
from ._common import MAX_CHUNK
from ..explanation import Explanation

if tp.TYPE_CHECKING:  # audiocraft is imported when the method runs, not when the CLI reads the settings
    import torch
    from .. import teacher
    from ..models import LoadedModel
    from ..take import Take

COALITIONS = ("single", "shapley")
_BIG_LM_DIM = 1024  # audiogen-medium (1536): 8 rows at a time keep the streaming caches to a few GB
_NEG = -1e9  # "never": finite, so guidance arithmetic on it stays finite


@dataclasses.dataclass(frozen=True)
class OcclusionSettings(ExplainerSettings):
    seed: int = seed_option("the first posterior noise draw")
    draws: int = option(3, "posterior noise draws averaged (each regenerates the take once per word)",
                        low=1, high=limits.MAX_DRAWS)
    focus: tuple[float, float] | None = option(
        None, "anchor a region: the take's codes are kept before START, only the region and what follows "
              "are regenerated")
    window: float = option(0.5, "seconds of spectrum averaged in the distance", low=1e-3)
    max_batch: int | None = option(None, "regenerations run together (default 32, 8 for LMs of dim >= 1024)",
                                   low=1, high=MAX_CHUNK)
    coalitions: str = option("single", "mute each word alone (single) or estimate Shapley values from words "
                                       "switched on one by one in random orders (shapley: words that say the "
                                       "same thing share the credit instead of hiding each other)",
                             choices=COALITIONS)
    permutations: int = option(4, "--coalitions shapley: orders sampled (each regenerates the take once per "
                                  "word + 1)", low=1, high=limits.MAX_PERMUTATIONS)

    def resolved(self, model: "LoadedModel | None" = None) -> "OcclusionSettings":
        if self.max_batch is not None or model is None:
            return self
        return dataclasses.replace(self, max_batch=8 if int(getattr(model.lm, "dim", 0)) >= _BIG_LM_DIM else 32)


def guided_log_probs(model: LoadedModel, take: Take, inputs: teacher.TeacherInputs) -> torch.Tensor:
    """[K, steps, card]: log-probabilities the take's codes were sampled from (guidance, temperature
    and top-p or top-k applied as ``LMModel.generate`` applies them; codes they rule out: ``_NEG``)."""
    import torch
    from .. import teacher
    from ..model_inputs import conditions_for
    p = take.params
    provider = model.lm.condition_provider
    null = provider(provider.tokenize(conditions_for(None)))
    with torch.no_grad():
        cond = teacher.forward(model, inputs)[1][0].float()
        uncond = teacher.forward(model, inputs, condition=null)[1][0].float()
    logits = uncond + (cond - uncond) * float(p.cfg_coef)
    return _restrict(logits / max(float(p.temperature), 1e-6), min(int(p.top_k), model.card), float(p.top_p))


def _restrict(scaled: torch.Tensor, top_k: int, top_p: float = 0.0) -> torch.Tensor:
    """Log-softmax over the codes audiocraft's sampler may pick: the nucleus when top_p > 0 (it wins
    over top-k there, as in ``LMModel._sample_next_token``), else the top-k; the rest get ``_NEG``."""
    import torch
    if top_p > 0:
        probs = torch.softmax(scaled, dim=-1)
        srt, idx = probs.sort(dim=-1, descending=True)
        outside = (srt.cumsum(-1) - srt) > top_p  # audiocraft.utils.sample_top_p's rule
        scaled = scaled.masked_fill(outside.scatter(-1, idx, outside), _NEG)
    elif 0 < top_k < scaled.shape[-1]:
        kth = scaled.topk(top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, _NEG)
    return torch.log_softmax(scaled, dim=-1).clamp(min=_NEG)


def posterior_gumbel(log_p: torch.Tensor, chosen: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Gumbel noise g [..., card] such that argmax(log_p + g) == chosen, drawn from its posterior.

    ``chosen`` [...] is the observed code (-1: none observed, plain Gumbel noise). Top-down: the
    maximum is Gumbel(logsumexp log_p) = Gumbel(0) and belongs to ``chosen``; every other perturbed
    value is a Gumbel(log_p[k]) truncated below that maximum.
    """
    import torch
    def gumbel(shape: tuple) -> torch.Tensor:
        u = torch.rand(shape, generator=gen, dtype=torch.float64).clamp_(1e-12, 1 - 1e-12)
        return -torch.log(-torch.log(u))
    lp = log_p.double()
    top = gumbel(lp.shape[:-1])[..., None]  # the maximum perturbed value
    others = lp + gumbel(lp.shape)
    truncated = -torch.logaddexp(-top, -others)  # Gumbel(lp) conditioned on < top (stable at lp = _NEG)
    observed = chosen >= 0
    idx = chosen.clamp(min=0)[..., None]
    values = truncated.scatter(-1, idx, top)
    noise = torch.where(observed[..., None], values - lp, gumbel(lp.shape))
    return noise.float()


def _noise_hook(noise: torch.Tensor, forced: torch.Tensor, top_k: int, top_p: float, temp: float, cfg_coef: float,
                batch: int):
    """Forward hook on the LM for ``LMModel.generate`` run greedily: at streaming call t it turns the
    guided logits into ``guided/temp`` restricted as the sampler restricts them (top-p or top-k), plus
    the step's noise, so that audiocraft's argmax is the Gumbel-max sample; codes where ``forced`` get
    only the take's own."""
    import torch
    state = {"t": 0}

    def hook(module: torch.nn.Module, args: tuple, logits: torch.Tensor) -> torch.Tensor:
        t = state["t"]
        state["t"] += 1
        if t >= noise.shape[2]:
            return logits
        cond, uncond = logits[:batch, :, -1].float(), logits[batch:, :, -1].float()  # [B, K, card]
        guided = uncond + (cond - uncond) * cfg_coef
        target = _restrict(guided / temp, top_k, top_p) + noise[:, :, t]  # [B, K, card]
        target = torch.where(forced[:, t][None, :, None], noise[:, :, t], target)
        # audiocraft computes uncond + (cond - uncond) * c: shifting both rows by d shifts it by d
        shift = (target - guided).to(logits.dtype)
        out = logits.clone()
        out[:batch, :, -1] += shift
        out[batch:, :, -1] += shift
        return out
    return hook


def counterfactual_codes(model: LoadedModel, take: Take, masks: torch.Tensor, noise: torch.Tensor,
                         forced: torch.Tensor, cancel: CancelToken | None = None,
                         on_step: tp.Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Codes [B, K, T] generated under each token mask in ``masks`` [B, L] with the fixed ``noise``
    ([K, steps, card] for every row, or [B, K, steps, card] one per row)."""
    import torch
    from ..generation import validate_duration
    from ..intervention import cross_attention_mask
    from ..model_inputs import conditions_for
    lm, p = model.lm, take.params
    frames = validate_duration(model, p.duration)
    B = masks.shape[0]
    steps = noise.shape[-2]
    noise = noise.expand(B, *noise.shape[-3:]) if noise.dim() == 3 else noise
    full = torch.cat([masks, masks], dim=0)[:, None, :].expand(-1, steps, -1).contiguous().to(model.device)

    def callback(done: int, total: int) -> None:
        check(cancel)
        if on_step is not None:
            on_step(done, total)
    hook = lm.register_forward_hook(_noise_hook(noise.to(model.device), forced.to(model.device),
                                                min(int(p.top_k), model.card), float(p.top_p),
                                                max(float(p.temperature), 1e-6),
                                                float(p.cfg_coef), B))
    try:
        with torch.no_grad(), cross_attention_mask(lm, full):
            return lm.generate(None, [conditions_for(take.prompt)[0] for _ in range(B)], max_gen_len=frames,
                               use_sampling=False, cfg_coef=float(p.cfg_coef), two_step_cfg=False,
                               callback=callback)
    finally:
        hook.remove()


def frame_distance(model: LoadedModel, take: Take, codes: torch.Tensor, window: float = 0.5) -> np.ndarray:
    """[B, frames]: distance per frame between the take's audio and each decoded ``codes``: the RMS
    difference of log-mel spectra, each first averaged (in power) over ``window`` seconds around the
    frame. The averaging is what makes the distance about *which* sounds play: two takes of the same
    event differ frame by frame (a bark a few frames later) but not in their spectrum over half a
    second, while a different event (or none) does."""
    import torch
    import torchaudio

    hop = int(round(model.sample_rate / model.frame_rate))
    mel = torchaudio.transforms.MelSpectrogram(model.sample_rate, n_fft=4 * hop, hop_length=hop, n_mels=64)
    width = max(1, int(round(window * model.frame_rate)) | 1)  # odd, centred

    def smoothed_logmel(audio: torch.Tensor) -> torch.Tensor:
        power = mel(audio.float().cpu())  # [..., mels, frames + 1]
        flat = power.reshape(-1, 1, power.shape[-1])
        avg = torch.nn.functional.avg_pool1d(flat, width, stride=1, padding=width // 2, count_include_pad=False)
        return torch.log(avg.reshape(power.shape) + 1e-5)

    with torch.no_grad():
        audio = model.compression_model.decode(codes.to(model.codec_device), None)[:, 0]
    ref = smoothed_logmel(torch.as_tensor(take.audio).reshape(-1))
    n = take.codes.shape[-1]
    return ((smoothed_logmel(audio) - ref[None]) ** 2).mean(1).sqrt()[:, :n].numpy()


class _Plan(tp.NamedTuple):
    """Which token masks to regenerate under (``masks`` [R, L]), with which posterior draw (``draw``
    [R]), and how to turn the rows' distances to the take into per-token importances."""
    masks: torch.Tensor
    draw: torch.Tensor
    attribute: tp.Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _plan(L: int, settings: OcclusionSettings) -> _Plan:
    """``single``: per draw, nothing muted then each token muted alone; a token's importance is the
    distance its mute makes, averaged over draws. Words that say the same thing ("dog" and "barks")
    cover for each other there: muting one leaves the other to make the sound, so both look small.

    ``shapley``: per permutation of the tokens (alternately a random one and its reverse, which
    halves the variance of the estimate), the tokens are switched on one by one from all muted to
    none muted; a token's importance at a frame is how much switching it on brings the regenerated
    audio closer to the take there, averaged over permutations (each with its own posterior draw): a
    sampled Shapley value (Štrumbelj & Kononenko 2014) of the distance to the take. Per frame the
    importances add up to how far the unconditioned regeneration is from the take, and redundant
    words share the credit instead of hiding each other. Cost: (tokens + 1) regenerations per
    permutation.
    """
    import torch
    if settings.coalitions == "single":
        draws = settings.draws
        one = torch.ones(L + 1, L)
        one[1:] -= torch.eye(L)

        def single(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            d = dist.reshape(draws, L + 1, -1).mean(0)
            return d[1:], d[0]
        return _Plan(one.repeat(draws, 1), torch.arange(draws).repeat_interleave(L + 1), single)
    n = settings.permutations
    gen = torch.Generator().manual_seed(settings.seed)
    orders: list[torch.Tensor] = []
    for i in range(n):
        orders.append(torch.randperm(L, generator=gen) if i % 2 == 0 else orders[-1].flip(0))
    masks = torch.zeros(n, L + 1, L)
    for i, order in enumerate(orders):
        for j in range(1, L + 1):
            masks[i, j:, order[j - 1]] = 1.0  # row j: the first j tokens of the order on

    def shapley(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = dist.reshape(n, L + 1, -1)
        phi = np.zeros((L, d.shape[-1]))
        for i, order in enumerate(orders):
            phi[order.numpy()] += d[i, :-1] - d[i, 1:]  # switching token order[j] on: row j -> j + 1
        return phi / n, d[:, -1].mean(0)
    return _Plan(masks.reshape(n * (L + 1), L), torch.arange(n).repeat_interleave(L + 1), shapley)


def _forced_steps(run: Run) -> torch.Tensor:
    """[K, steps] codes every counterfactual keeps as the take's: those of frames before ``focus``'s start."""
    import torch
    anchor = 0 if run.settings.focus is None else int(round(run.settings.focus[0] * run.model.frame_rate))
    K, S = int(run.take.codes.shape[0]), run.inputs.n_steps
    pattern = run.model.lm.pattern_provider.get_pattern(run.inputs.n_frames)
    forced = torch.zeros(K, S, dtype=torch.bool)
    for s in range(S):
        for coord in pattern.layout[s + 1]:
            if coord.t < anchor:
                forced[coord.q, s] = True
    return forced


def _posterior_noises(run: Run, forced: torch.Tensor, draws: int) -> torch.Tensor:
    """[draws, K, steps, card] fixed sampling noise per posterior draw; forced codes get the take's own
    code 0 and every other one ``_NEG``."""
    import torch
    log_p = guided_log_probs(run.model, run.take, run.inputs).cpu()  # [K, S, card]
    targets = run.targets.cpu()
    keep = torch.full(log_p.shape, _NEG)
    keep.scatter_(-1, targets.clamp(min=0)[..., None], 0.0)
    return torch.stack([torch.where(forced[..., None], keep,
                                    posterior_gumbel(log_p, targets, torch.Generator().manual_seed(run.settings.seed + d)))
                        for d in range(draws)])


def _distances(run: Run, plan: _Plan, noises: torch.Tensor, forced: torch.Tensor) -> tuple[np.ndarray, bool]:
    """(distance to the take per plan row and frame, whether the unmuted rows gave the take back)."""
    import torch
    batch, n_rows = run.settings.max_batch, plan.masks.shape[0]
    n_batches = -(-n_rows // batch)
    rows: list[np.ndarray] = []
    reproduced = True
    for i, c0 in enumerate(range(0, n_rows, batch)):
        def on_step(done: int, total: int, i: int = i) -> None:
            run.report(i * total + done, n_batches * total)
        sel = slice(c0, c0 + batch)
        codes = counterfactual_codes(run.model, run.take, plan.masks[sel], noises[plan.draw[sel]], forced, run.cancel,
                                     on_step)
        for r in range(c0, min(c0 + batch, n_rows)):
            if bool(plan.masks[r].all()):  # nothing muted: must give the take back
                reproduced &= bool(torch.equal(codes[r - c0].cpu(), run.take.codes.cpu().long()))
        rows.append(frame_distance(run.model, run.take, codes, run.settings.window))
    return np.concatenate(rows), reproduced


def _per_step(per_frame: np.ndarray, step_frames: list[list[int]]) -> np.ndarray:
    """[steps, L] from [L, frames]: each step the mean over the frames it predicts (0 where none)."""
    L, n = per_frame.shape
    return np.stack([per_frame[:, [f for f in frames if 0 <= f < n]].mean(1)
                     if any(0 <= f < n for f in frames) else np.zeros(L) for frames in step_frames])


@register
class Occlusion(Explainer):
    """Counterfactual occlusion (module docstring)."""

    name = "occlusion"
    summary = ("counterfactual occlusion (not the paper's): regenerates the take without each word, with its "
               "own sampling noise, and measures how the sound changes; slower (3 × words regenerations)")
    Settings = OcclusionSettings

    def compute(self, run: Run) -> Explanation:
        plan = _plan(len(run.take.text.tokens), run.settings)
        forced = _forced_steps(run)
        noises = _posterior_noises(run, forced, int(plan.draw.max()) + 1)
        distances, reproduced = _distances(run, plan, noises, forced)
        per_frame, reference = plan.attribute(distances)  # [L, frames], [frames]
        run.check()
        per_frame = np.clip(per_frame, 0.0, None)  # a word whose presence moves away from the take explains none of it
        step_values = _per_step(per_frame, run.inputs.step_frames)
        scale = float(step_values.max())
        run.report(1, 1)
        return run.result(step_values / scale if scale > 0 else step_values,
                          extras={"reproduced": reproduced, "max_distance": scale,
                                  "reference_distance": float(reference.max())})
