"""Prompt → :class:`Take`: sampling with audiocraft's own ``LMModel.generate``, optionally under a
cross-attention intervention (word weights, or AudioGenX's per-step factual/counterfactual mask).
"""
from __future__ import annotations

import contextlib
from dataclasses import replace as dataclasses_replace
import time
import typing as tp

import numpy as np
import torch

from . import limits
from .errors import CheckpointError, DurationError, ParameterError
from .intervention import HiddenCapture, cross_attention_mask
from .live import LiveAttention, LiveFn
from .lean_step import lean_transformer
from . import speed
from .progress import CancelToken, ProgressFn, check, report
from .model_inputs import check_model, conditions_for
from .models import LoadedModel
from .safetext import check_prompt_chars
from .streaming import AudioFn, StreamingDecoder
from .take import GenerationParams, Take


def validate_duration(model: LoadedModel, duration: float) -> int:
    """Number of frames for ``duration`` seconds; raises :class:`DurationError` when out of range."""
    try:
        duration = limits.check_duration(duration)
    except ParameterError as exc:
        raise DurationError(str(exc)) from None
    if duration > model.max_duration + 1e-9:
        raise DurationError(f"duration {duration:g} s is above model {model.id}'s maximum of "
                            f"{model.max_duration:g} s: ask for less")
    frames = int(duration * model.frame_rate)
    if frames < 1:
        raise DurationError(f"duration {duration:g} s is shorter than one frame ({1 / model.frame_rate:g} s)")
    return frames


def generate(model: LoadedModel, prompt: str, params: GenerationParams = GenerationParams(), *,
             word_weights: tp.Sequence[float] | None = None, step_mask: np.ndarray | None = None,
             kind: str | None = None, parent: str | None = None,
             progress: ProgressFn | None = None, cancel: CancelToken | None = None,
             on_live: LiveFn | None = None, on_audio: AudioFn | None = None) -> Take:
    """Generate one take.

    Args:
        word_weights: one weight per word of the prompt (0 mutes, >1 boosts), applied to the
            post-softmax cross-attention weights of every layer at every step.
        step_mask: a per-step token mask [steps, L] (AudioGenX's M or 1 - M).
        progress: called as ``progress('generate', step, steps)``.
        cancel: checked at every step; raises :class:`~agx_desktop.engine.errors.Cancelled`.
        on_live: ``on_live(step, word_scores)`` after every step: the provisional live map
            (:mod:`.live`); the take is the same with or without it.
        on_audio: ``on_audio(end_sample, chunk)`` as frames complete (:mod:`.streaming`); chunks
            are previews, the take's audio is the whole decode, same as without it.
    Raises:
        PromptError, DurationError, ParameterError, Cancelled; CheckpointError when the model's
        weights give non-finite probabilities or audio (corrupt weights).
    """
    if isinstance(prompt, str):
        check_prompt_chars(prompt)
    text = model.text_tokens(prompt)
    params.validate()
    frames = validate_duration(model, params.duration)
    lm = model.lm
    mask: torch.Tensor | None = None
    if word_weights is not None:
        if len(word_weights) != len(text.words):
            raise ParameterError(f"expected {len(text.words)} word weights (one per word), got {len(word_weights)}")
        word_weights = [limits.check_word_weight(w, word) for w, word in zip(word_weights, text.words)]
        mask = torch.tensor(text.word_token_mask(word_weights), dtype=torch.float32, device=model.device)
    if step_mask is not None:
        sm = torch.as_tensor(np.asarray(step_mask), dtype=torch.float32, device=model.device)
        if sm.dim() != 2 or sm.shape[1] != len(text.tokens):
            raise ParameterError(f"step mask must be [steps, {len(text.tokens)}], got {tuple(sm.shape)}")
        if not bool(torch.isfinite(sm).all()) or bool((sm < 0).any()) or bool((sm > 1).any()):
            raise ParameterError("step mask values must be finite and within [0, 1]: explain the take again")
        mask = sm if mask is None else sm * mask
    start = time.perf_counter()
    intervention = cross_attention_mask(lm, mask) if mask is not None else contextlib.nullcontext()
    codes, latents, audio = sample(model, prompt, params, frames, intervention=intervention,
                                   progress=progress, cancel=cancel, on_live=on_live, on_audio=on_audio)
    if kind is None:
        kind = "weighted" if word_weights is not None else ("masked" if step_mask is not None else "original")
    return Take(prompt=prompt, model_id=model.id, params=params, sample_rate=model.sample_rate,
                frame_rate=model.frame_rate, audio=audio, codes=codes, latents=latents, text=text,
                word_weights=None if word_weights is None else [float(w) for w in word_weights],
                step_mask=None if step_mask is None else np.asarray(step_mask, dtype=np.float32),
                kind=kind, parent=parent, seconds=time.perf_counter() - start,
                model_fingerprint=model.fingerprint, speed=None if model.speed.is_default else model.speed.to_dict())


def sample(model: LoadedModel, prompt: str, params: GenerationParams, frames: int, *,
           intervention: tp.ContextManager[tp.Any] | None = None, prompt_codes: torch.Tensor | None = None,
           progress: ProgressFn | None = None, cancel: CancelToken | None = None,
           on_live: LiveFn | None = None, on_audio: AudioFn | None = None
           ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """One seeded run of audiocraft's ``LMModel.generate`` and the codec: (codes [K, frames],
    latents [steps, D] of the conditional branch, audio float32 [channels, samples]).

    The building block of :func:`generate`, region regeneration and the prompt timeline
    (:mod:`.region`, :mod:`.timeline`), so all three sample exactly alike for one seed.

    Args:
        prompt: the text handed to the LM as its condition (an ``intervention`` may swap it per step).
        frames: code frames to produce (prompt frames included).
        intervention: a context active around the LM (a cross-attention mask or per-step conditioning).
        prompt_codes: [K, T0] codes kept as they are and continued from (audiocraft's continuation:
            the first T0 frames are forced, sampling starts after them); ``None`` starts from nothing.
            The random draws the T0 skipped steps would have made are drawn and discarded first, so
            every later step samples with the noise it had when the whole clip was generated with
            this seed: with unchanged words a continuation gives the same codes back, and an
            edited region differs from its parent by the edit, not by new noise.
        on_live: per-step live map of the cross-attention (:class:`.live.LiveAttention`).
        on_audio: preview chunks as frames complete (:class:`.streaming.StreamingDecoder`); then
            the whole decode's remaining samples, so the stream ends at the returned audio's length.
    Neither callback changes the codes, latents or audio returned.
    """
    lm = model.lm
    live = LiveAttention(lm, model.text_tokens(prompt), on_live) if on_live is not None else None
    stream = None if on_audio is None else \
        StreamingDecoder(model, frames, on_audio, lambda codes: decode(model, codes), prompt_codes=prompt_codes)

    def on_step(done: int, total: int) -> None:
        check(cancel)
        if live is not None:
            live.flush(final=done >= total)
        if stream is not None:
            stream.step_done()
        report(progress, "generate", done, total)

    check(cancel)
    prompt_batch = None if prompt_codes is None or prompt_codes.shape[-1] == 0 else \
        prompt_codes.to(model.device).long().unsqueeze(0)
    intervention = intervention if intervention is not None else contextlib.nullcontext()
    cuda = [model.device] if model.device.type == "cuda" else []
    # the seed drives audiocraft's sampling; fork_rng leaves the caller's random state untouched;
    # inference_mode, not no_grad: no autograd bookkeeping per op (the same arithmetic, ~8 % less time
    # over the bundled model's 128 steps of tiny kernels); what leaves it is cloned into plain tensors
    with torch.random.fork_rng(devices=cuda), model.threads(), torch.inference_mode(), intervention, \
            HiddenCapture(lm) as hidden, live or contextlib.nullcontext(), stream or contextlib.nullcontext():
        torch.manual_seed(int(params.seed))
        if prompt_batch is not None and params.temperature > 0:
            _skip_draws(model, int(prompt_batch.shape[-1]))
        codes = _lm_generate(model, prompt_batch, conditions_for(prompt), frames, params, on_step)
        check(cancel)
        report(progress, "decode", 0, 1)
        audio = decode(model, codes[0])
        if stream is not None:
            stream.finish(audio)
    report(progress, "decode", 1, 1)
    # each streaming call saw [cond, uncond] x S positions; keep the conditional rows
    latents = torch.cat([h[:1] for h in hidden.outputs], dim=1)[0].float().cpu()
    return _plain(codes[0].cpu()), _plain(latents), audio


def _plain(tensor: torch.Tensor) -> torch.Tensor:
    """A tensor made under ``torch.inference_mode`` as an ordinary one (a copy when it is an inference
    tensor), so a take's codes and latents can enter autograd (explanations) and be edited in place."""
    return tensor.clone() if tensor.is_inference() else tensor


def _lm_generate(model: LoadedModel, prompt_batch: torch.Tensor | None, conditions: list, frames: int,
                 params: GenerationParams, on_step: tp.Callable[[int, int], None]) -> torch.Tensor:
    """One run of audiocraft's ``LMModel.generate`` with the take's sampling settings (speed settings'
    autocast around it: off by default; the exact float32 cross-attention K/V cache on LMs wide enough
    to gain from it, :func:`speed.cross_kv_cache`, or the lean transformer step where it applies: on the
    CPU while nothing hooks the transformer, :func:`.lean_step.lean_transformer`, the same numbers without
    audiocraft's per-step Python, the condition's K/V projected once); non-finite probabilities, which
    only corrupt weights give, become a :class:`CheckpointError` that says what to do."""
    try:
        steps = frames + int(model.lm.num_codebooks)  # the delay pattern's extra steps, at most
        with speed.autocast(model.speed, model.device), lean_transformer(model.lm, steps) as lean, \
                (contextlib.nullcontext() if lean else speed.cross_kv_cache(model.lm)):  # lean keeps its own K/V
            return model.lm.generate(prompt_batch, conditions, max_gen_len=frames,
                                     use_sampling=params.temperature > 0,
                                     temp=max(float(params.temperature), 1e-6),
                                     top_k=min(int(params.top_k), model.card), top_p=float(params.top_p),
                                     cfg_coef=float(params.cfg_coef), two_step_cfg=False, callback=on_step)
    except RuntimeError as exc:
        if "probability tensor contains" not in str(exc):
            raise
        raise CheckpointError(f"model {model.id} gave non-finite probabilities (its weights look corrupt): "
                              "restore or re-download them") from exc


def _skip_draws(model: LoadedModel, steps: int, generator: torch.Generator | None = None) -> None:
    """Consume the random numbers ``steps`` sampling steps of ``LMModel.generate`` draw.

    Each step samples one code per codebook with ``torch.multinomial`` over [K, card] probabilities
    (top-k and top-p zero some of them first); without replacement its draw depends on the shape
    only, so the same call on uniform probabilities advances the generator identically
    (checked by tests/test_region.py: unchanged words give the parent's codes back).
    """
    probs = torch.ones(int(model.lm.num_codebooks), int(model.card), device=model.device)
    for _ in range(steps):
        torch.multinomial(probs, num_samples=1, generator=generator)


def decode(model: LoadedModel, codes: torch.Tensor) -> np.ndarray:
    """The codec's audio for ``codes`` [K, T] as float32 [channels, samples]; non-finite audio is a
    :class:`CheckpointError` (corrupt codec weights)."""
    with torch.no_grad():
        audio = model.compression_model.decode(codes.unsqueeze(0).to(model.codec_device), None)
    if not bool(torch.isfinite(audio).all()):
        raise CheckpointError(f"model {model.id} decoded non-finite audio (its codec weights look corrupt): "
                              "restore or re-download them")
    return audio[0].float().cpu().numpy().astype(np.float32)


Variant = tp.Literal["factual", "counterfactual", "weighted"]


def regenerate(model: LoadedModel, take: Take, variant: Variant, *, explanation: tp.Any = None,
               word_weights: tp.Sequence[float] | None = None, seed: int | None = None,
               progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Take:
    """Regenerate ``take``'s prompt with its parameters (and seed unless given) under a mask.

    * ``factual``: the explanation's per-step mask M (only what it found important is heard);
    * ``counterfactual``: 1 − M (what it found important is removed);
    * ``weighted``: the user's per-word weights (0 mutes, >1 boosts).
    """
    from dataclasses import replace

    check_model(model, take)
    params = take.params if seed is None else replace(take.params, seed=limits.check_seed(seed))
    if variant in ("factual", "counterfactual"):
        if explanation is None:
            raise ParameterError(f"a {variant} take needs an explanation of the take: explain it first")
        if explanation.take_id and explanation.take_id != take.id:
            raise ParameterError("this explanation belongs to another take: explain this take first")
        mask = np.asarray(explanation.step_masks, dtype=np.float32)
        mask = mask if variant == "factual" else 1.0 - mask
        return generate(model, take.prompt, params, step_mask=mask, kind=variant, parent=take.id,
                        progress=progress, cancel=cancel)
    if variant == "weighted":
        if word_weights is None:
            raise ParameterError("weighted regeneration needs one weight per word")
        return generate(model, take.prompt, params, word_weights=word_weights, kind="weighted", parent=take.id,
                        progress=progress, cancel=cancel)
    raise ParameterError(f"unknown variant '{variant}': use factual, counterfactual or weighted")


def sample_rows(model: LoadedModel, prompt: str, seeds: tp.Sequence[int], params: GenerationParams, frames: int, *,
                intervention: tp.ContextManager[tp.Any] | None = None, prompt_codes: torch.Tensor | None = None,
                progress: ProgressFn | None = None, cancel: CancelToken | None = None
                ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Several candidates in ONE run of ``LMModel.generate`` (a batch of ``len(seeds)`` rows): per row
    (codes [K, frames], latents [steps, D]); the caller decodes. Added for the guided edit's batch of
    candidates (issue 17); :func:`sample` is unchanged.

    Row ``b`` samples with its own generator seeded ``seeds[b]`` (audiocraft's ``utils.multinomial`` is
    swapped, for this call only, for one that draws each row from its own generator), so a row has the
    noise :func:`sample` would use with that seed, and the draws of the ``prompt_codes`` steps are skipped
    per row alike. The ``intervention`` sees a CFG batch of ``2 * len(seeds)`` rows ([conditional rows;
    null rows]) and may condition each row differently. One row delegates to :func:`sample`.
    """
    rows = len(seeds)
    if rows < 1:
        raise ParameterError("sample_rows needs at least one seed")
    if rows == 1:
        one = dataclasses_replace(params, seed=int(seeds[0]))
        codes, latents, _ = sample(model, prompt, one, frames, intervention=intervention, prompt_codes=prompt_codes,
                                   progress=progress, cancel=cancel)
        return [(codes, latents)]
    from audiocraft.utils import utils as ac_utils

    lm = model.lm
    generators = [torch.Generator(device=model.device).manual_seed(int(s)) for s in seeds]
    prompt_batch = None if prompt_codes is None or prompt_codes.shape[-1] == 0 else \
        prompt_codes.to(model.device).long().unsqueeze(0).expand(rows, -1, -1).contiguous()
    if prompt_batch is not None and params.temperature > 0:
        for gen in generators:
            _skip_draws(model, int(prompt_batch.shape[-1]), gen)
    original = ac_utils.multinomial

    def per_row(input: torch.Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> torch.Tensor:
        if input.shape[0] != rows:
            return original(input, num_samples, replacement, generator=generator)
        return torch.stack([original(input[b], num_samples, replacement, generator=generators[b])
                            for b in range(rows)])

    def on_step(done: int, total: int) -> None:
        check(cancel)
        report(progress, "generate", done, total)

    check(cancel)
    intervention = intervention if intervention is not None else contextlib.nullcontext()
    with model.threads(), torch.inference_mode(), intervention, HiddenCapture(lm) as hidden:
        ac_utils.multinomial = per_row
        try:
            codes = _lm_generate(model, prompt_batch, [c for _ in range(rows) for c in conditions_for(prompt)],
                                 frames, params, on_step)
        finally:
            ac_utils.multinomial = original
    check(cancel)
    out = []
    for b in range(rows):
        latents = torch.cat([h[b:b + 1] for h in hidden.outputs], dim=1)[0].float().cpu()
        out.append((_plain(codes[b].cpu()), _plain(latents)))
    return out
