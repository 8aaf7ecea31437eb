"""Prompt → :class:`Take`: sampling with audiocraft's own ``LMModel.generate``, optionally under a
cross-attention intervention (word weights, or AudioGenX's per-step factual/counterfactual mask).
"""
from __future__ import annotations

import contextlib
import time
import typing as tp

import numpy as np
import torch

from audiocraft.modules.conditioners import ConditioningAttributes

from .errors import DurationError, ParameterError
from .intervention import HiddenCapture, cross_attention_mask
from .jobs import CancelToken, ProgressFn, check, report
from .models import LoadedModel
from .take import GenerationParams, Take


def conditions_for(prompt: str | None) -> list[ConditioningAttributes]:
    return [ConditioningAttributes(text={"description": prompt})]


def validate_duration(model: LoadedModel, duration: float) -> int:
    """Number of frames for ``duration`` seconds; raises :class:`DurationError` when out of range."""
    if not duration > 0:
        raise DurationError(f"duration must be above 0 seconds, got {duration}")
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
             progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Take:
    """Generate one take.

    Args:
        word_weights: one weight per word of the prompt (0 mutes, >1 boosts), applied to the
            post-softmax cross-attention weights of every layer at every step.
        step_mask: a per-step token mask [steps, L] (AudioGenX's M or 1 - M).
        progress: called as ``progress('generate', step, steps)``.
        cancel: checked at every step; raises :class:`~agx_desktop.engine.errors.Cancelled`.
    Raises:
        PromptError, DurationError, ParameterError, Cancelled.
    """
    text = model.text_tokens(prompt)
    params.validate()
    frames = validate_duration(model, params.duration)
    lm = model.lm
    mask: torch.Tensor | None = None
    if word_weights is not None:
        if len(word_weights) != len(text.words):
            raise ParameterError(f"expected {len(text.words)} word weights (one per word), got {len(word_weights)}")
        if any(w < 0 for w in word_weights):
            raise ParameterError("word weights must be >= 0 (0 mutes a word, 1 leaves it, >1 boosts it)")
        mask = torch.tensor(text.word_token_mask(word_weights), dtype=torch.float32, device=model.device)
    if step_mask is not None:
        sm = torch.as_tensor(np.asarray(step_mask), dtype=torch.float32, device=model.device)
        if sm.dim() != 2 or sm.shape[1] != len(text.tokens):
            raise ParameterError(f"step mask must be [steps, {len(text.tokens)}], got {tuple(sm.shape)}")
        mask = sm if mask is None else sm * mask
    top_k = min(int(params.top_k), model.card)

    def on_step(done: int, total: int) -> None:
        check(cancel)
        report(progress, "generate", done, total)

    start = time.perf_counter()
    check(cancel)
    intervention = cross_attention_mask(lm, mask) if mask is not None else contextlib.nullcontext()
    cuda = [model.device] if model.device.type == "cuda" else []
    # the seed drives audiocraft's sampling; fork_rng leaves the caller's random state untouched
    with torch.random.fork_rng(devices=cuda), model.threads(), torch.no_grad(), intervention, \
            HiddenCapture(lm) as hidden:
        torch.manual_seed(int(params.seed))
        codes = lm.generate(None, conditions_for(prompt), max_gen_len=frames,
                            use_sampling=params.temperature > 0, temp=max(params.temperature, 1e-6),
                            top_k=top_k, top_p=params.top_p, cfg_coef=params.cfg_coef, two_step_cfg=False,
                            callback=on_step)
        check(cancel)
        report(progress, "decode", 0, 1)
        audio = model.compression_model.decode(codes.to(model.codec_device), None)
    report(progress, "decode", 1, 1)
    # each streaming call saw [cond, uncond] x S positions; keep the conditional rows
    latents = torch.cat([h[:1] for h in hidden.outputs], dim=1)[0].float().cpu()
    if kind is None:
        kind = "weighted" if word_weights is not None else ("masked" if step_mask is not None else "original")
    return Take(prompt=prompt, model_id=model.id, params=params, sample_rate=model.sample_rate,
                frame_rate=model.frame_rate, audio=audio[0].float().cpu().numpy().astype(np.float32),
                codes=codes[0].cpu(), latents=latents, text=text,
                word_weights=None if word_weights is None else [float(w) for w in word_weights],
                step_mask=None if step_mask is None else np.asarray(step_mask, dtype=np.float32),
                kind=kind, parent=parent, seconds=time.perf_counter() - start,
                model_fingerprint=model.fingerprint)


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
    from .teacher import check_model

    check_model(model, take)
    params = take.params if seed is None else replace(take.params, seed=int(seed))
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
