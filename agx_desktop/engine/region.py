"""Region regeneration: edit the words of one span of a take and regenerate only from there.

How (audiocraft used as a library, nothing forked):

* the parent's codes before the region are the LM's prompt (audiocraft's continuation:
  ``LMModel.generate(prompt=codes[:, :T0])`` forces them and samples after them), so the codes
  before the region are the parent's, exactly;
* the words follow a timeline (:mod:`.timeline`): before the region the parent's own words (its
  segments, or its prompt and weights), in the region the edited words (a new prompt when words are
  replaced; word weights through the cross-attention intervention), after it the parent's words
  again (``tail='regenerate'``) — or the LM stops at the region's end and the parent's codes and
  audio are spliced back (``tail='splice'``);
* the **audio before the region is the parent's, sample for sample**. Decoding only the codes is
  not enough: both codecs have context (EnCodec's convolutions, the bundled codec's Griffin-Lim),
  so samples before the first changed frame depend on the frames after it (measured: the first
  0.4 s decoded alone differ from the same span of the whole decode by up to 0.046 on the tiny
  EnCodec, and 1.6 s by up to 0.79 on the bundled codec, full scale 1). The new take therefore keeps the
  parent's samples up to the region start and crossfades (equal power) to the newly decoded audio
  *inside* the region; with ``tail='splice'`` the same happens at the region end, so everything
  outside the region is the parent's audio, sample for sample.
"""
from __future__ import annotations

import dataclasses
import re
import time
import typing as tp
from dataclasses import replace as dc_replace

import numpy as np
import torch

from . import limits
from .errors import ParameterError, PromptError
from .model_inputs import check_model
from .models import LoadedModel
from .safetext import check_prompt_chars, normalise_prompt
from .take import Take
from .timeline import (Segment, SegmentConditioning, cut, schedule_for, schedule_latents, segments_to_json,
                       take_segments)

if tp.TYPE_CHECKING:
    from .progress import CancelToken, ProgressFn

Tail = tp.Literal["regenerate", "splice"]
TAILS = ("regenerate", "splice")
DEFAULT_CROSSFADE = limits.DEFAULT_CROSSFADE
"""Seconds of the equal-power crossfades at the region's edges (a setting; 50 ms by default; set in
:mod:`.limits`, which the app reads without importing torch)."""
MAX_CROSSFADE = 2.0


def replace_words(prompt: str, replacements: tp.Mapping[str, str]) -> str:
    """``prompt`` with each whole word ``old`` replaced by ``new`` (case-insensitive; punctuation kept).

    Raises ParameterError naming a word that is not in the prompt."""
    out = prompt
    for old, new in replacements.items():
        old_c, new_c = old.strip(), normalise_prompt(new).strip()
        if not old_c or not new_c:
            raise ParameterError(f"replacement '{old}={new}' must look like WORD=NEW, e.g. bell=whistle")
        pattern = re.compile(r"(?<!\S)([^\w\s]*)" + re.escape(old_c) + r"([^\w\s]*)(?!\S)", re.IGNORECASE)
        out, n = pattern.subn(lambda m: m.group(1) + new_c + m.group(2), out)
        if n == 0:
            raise ParameterError(f"'{old_c}' is not a word of the prompt ({prompt})")
    return out


def equal_power_crossfade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """From ``a`` to ``b`` (same shape [channels, n]) with cos/sin gains: constant power.

    cos/sin keeps the power of *uncorrelated* audio; the region's new audio often continues the
    parent's closely (same codes before it, same noise), and identical audio under cos/sin would rise
    by up to 3 dB mid-fade. So the gains are divided by ``sqrt(1 + 2·r·cos·sin)``, with ``r`` the
    two windows' correlation (clipped to [0, 1]): 1 for uncorrelated audio, unity gain for
    identical audio; samples that are equal in both stay as they are.
    """
    n = a.shape[-1]
    x = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    fade_out, fade_in = np.cos(0.5 * np.pi * x), np.sin(0.5 * np.pi * x)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    energy = float(np.sqrt(np.sum(a64 * a64) * np.sum(b64 * b64)))
    r = min(max(float(np.sum(a64 * b64)) / energy, 0.0), 1.0) if energy > 0 else 0.0
    faded = (a64 * fade_out + b64 * fade_in) / np.sqrt(1.0 + 2.0 * r * fade_out * fade_in)
    return np.where(a == b, a, faded).astype(np.float32)


def splice_audio(parent: np.ndarray, new: np.ndarray, start: int, end: int | None, crossfade: int) -> np.ndarray:
    """``parent``'s samples outside [start, end), ``new``'s inside, crossfaded *within* the region.

    ``end=None`` keeps ``new`` to its end. Both are [channels, samples] of equal length; the
    crossfades are shortened to half the region if it is short."""
    out = new.copy()
    stop = out.shape[-1] if end is None else end
    edges = (start > 0) + (end is not None)
    n = max(0, min(int(crossfade), (stop - start) // max(edges, 1)))
    out[:, :start] = parent[:, :start]
    if start > 0 and n:
        out[:, start:start + n] = equal_power_crossfade(parent[:, start:start + n], new[:, start:start + n])
    if end is not None:
        out[:, end:] = parent[:, end:]
        if n:
            out[:, end - n:end] = equal_power_crossfade(new[:, end - n:end], parent[:, end - n:end])
    return out


def region_frames(take: Take, start: float, end: float | None) -> tuple[int, int]:
    """[first, stop) code frames of the region ``start``-``end`` seconds (``end=None``: to the end)."""
    total = int(take.codes.shape[-1])
    fps = float(take.frame_rate)
    start = limits.check_real("region start", start, 0.0, take.duration, hint=" seconds")
    first = int(round(start * fps))
    if end is None:
        stop = total
    else:
        end = limits.check_real("region end", end, 0.0, 1e9, hint=" seconds")
        if end > take.duration + 0.5 / fps:
            raise ParameterError(f"the region ends at {end:g} s, after the take's end ({take.duration:.2f} s)")
        stop = min(int(round(end * fps)), total)
    if first >= total:
        last = (total - 1) / fps
        raise ParameterError(f"the region starts at {start:g} s, which rounds to the take's last frame boundary "
                             f"({first / fps:.2f} s, its end): start it at {last:.2f} s or earlier "
                             f"(regions begin on {1 / fps:g} s frames)")
    if stop <= first:
        raise ParameterError(f"the region {start:g}-{end:g} s must last at least one frame ({1 / fps:g} s)")
    return first, stop


@dataclasses.dataclass(frozen=True)
class RegionVariant:
    """One candidate of a batch: its word weights (``None``: the prompt as written), seed and edits."""

    word_weights: tp.Sequence[float] | None = None
    seed: int | None = None
    edits: tp.Mapping[str, tp.Any] | None = None


def regenerate_region(model: LoadedModel, take: Take, start: float, end: float | None = None, *,
                      prompt: str | None = None, word_weights: tp.Sequence[float] | None = None,
                      tail: Tail = "regenerate", crossfade: float = DEFAULT_CROSSFADE, seed: int | None = None,
                      edits: tp.Mapping[str, tp.Any] | None = None,
                      progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Take:
    """Regenerate ``take`` from ``start`` seconds (to ``end``, or to its end) with edited words.

    Args:
        prompt: the region's words (default: the take's prompt); a replaced word is a new prompt.
        word_weights: one weight per word of the region's prompt (0 mutes, >1 boosts).
        tail: after the region, ``'regenerate'`` goes on with the parent's words (the sound may
            change there too, as it follows from the new region); ``'splice'`` puts the parent's
            codes and audio back, crossfaded inside the region.
        crossfade: seconds of each equal-power crossfade (0: a hard cut).
        seed: sampling seed (default: the take's).
        edits: what the user asked for (e.g. ``{"weights": {"bell": 0}, "replace": {"bell": "whistle"}}``),
            recorded in the new take's ``edit``.
    Returns:
        A take of kind ``'region'`` whose ``parent`` is ``take.id``, ``prompt`` the region's words,
        ``segments`` the words it followed and ``edit`` the region, tail, crossfade and edits.
        Its audio before ``start`` is ``take``'s, sample for sample.
    """
    return regenerate_region_batch(model, take, start, end, [RegionVariant(word_weights, seed, edits)],
                                   prompt=prompt, tail=tail, crossfade=crossfade, progress=progress,
                                   cancel=cancel)[0]


def regenerate_region_batch(model: LoadedModel, take: Take, start: float, end: float | None,
                            variants: tp.Sequence[RegionVariant], *, prompt: str | None = None,
                            tail: Tail = "regenerate", crossfade: float = DEFAULT_CROSSFADE,
                            progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> list[Take]:
    """:func:`regenerate_region` for several variants of the same region and words (other word weights,
    other seeds) in ONE batched run of the LM (:func:`.generation.sample_rows`): one take per variant,
    each sampled with the noise :func:`regenerate_region` would use alone (same seed → same draws per
    row), so it is that take up to the float rounding of a batched matmul (code for code on the tiny test
    model: tests/test_region.py). The guided edit regenerates its candidates of a round this way."""
    from .generation import decode, sample_rows

    check_model(model, take)
    if not variants:
        raise ParameterError("regenerate_region_batch needs at least one variant")
    if tail not in TAILS:
        raise ParameterError(f"unknown tail '{tail}': use regenerate or splice")
    fade_s = limits.check_real("crossfade", crossfade, 0.0, MAX_CROSSFADE, hint=" seconds")
    all_params = [take.params if v.seed is None else dc_replace(take.params, seed=limits.check_seed(v.seed))
                  for v in variants]
    for params in all_params:
        params.validate()
    first, stop = region_frames(take, start, end)
    total = int(take.codes.shape[-1])
    fps = float(take.frame_rate)
    if tail == "splice" and stop == total:
        tail = "regenerate"  # nothing after the region to splice back
    region_prompt = take.prompt if prompt is None else normalise_prompt(prompt)
    if not region_prompt.strip():
        raise PromptError("the region's prompt is empty: describe the sound")
    check_prompt_chars(region_prompt)
    text = model.text_tokens(region_prompt)
    all_weights: list[tuple[float, ...] | None] = []
    for variant in variants:
        weights: tuple[float, ...] | None = None
        if variant.word_weights is not None:
            if len(variant.word_weights) != len(text.words):
                raise ParameterError(f"expected {len(text.words)} word weights (one per word), "
                                     f"got {len(variant.word_weights)}")
            weights = tuple(limits.check_word_weight(w, word) for w, word in zip(variant.word_weights, text.words))
            if all(w == 1.0 for w in weights):
                weights = None
        all_weights.append(weights)

    t0, t1, duration = first / fps, stop / fps, total / fps
    parent_segments = take_segments(take)

    def segments_with(weights: tuple[float, ...] | None) -> list[Segment]:
        out = cut(parent_segments, 0.0, t0) + [Segment(t0, t1, region_prompt, weights)]
        if stop < total:
            out += cut(parent_segments, t1, max(duration, parent_segments[-1].end))
        return out

    all_segments = [segments_with(w) for w in all_weights]
    schedule = schedule_for(all_segments[0], fps)
    region_index = len(cut(parent_segments, 0.0, t0))
    rows = None if len(variants) == 1 else {region_index: all_weights}
    K = int(model.lm.num_codebooks)
    # splice: sample until every codebook of the region's last frame is known (the delay pattern
    # puts codebook k k frames behind), then put the parent's codes back after the region
    frames = total if tail == "regenerate" else min(total, stop + K - 1)
    started = time.perf_counter()
    sampled = sample_rows(model, schedule[0].text, [int(p.seed) for p in all_params], all_params[0], frames,
                          prompt_codes=take.codes[:, :first],
                          intervention=SegmentConditioning(model, schedule, row_weights=rows),
                          progress=progress, cancel=cancel)
    parent_audio = np.asarray(take.audio, dtype=np.float32)
    seconds = (time.perf_counter() - started) / len(variants)
    out: list[Take] = []
    for variant, params, weights, segments, (codes, latents) in zip(variants, all_params, all_weights,
                                                                   all_segments, sampled):
        if not torch.equal(codes[:, :first], take.codes[:, :first].cpu()):  # audiocraft's continuation contract
            raise RuntimeError("the LM changed the prompt codes it was given")
        if tail == "splice":
            codes = torch.cat([codes[:, :stop], take.codes[:, stop:].cpu()], dim=1)
            latents = schedule_latents(model, codes, schedule_for(segments, fps))
        decoded = decode(model, codes)
        hop = decoded.shape[-1] / total
        if parent_audio.shape != decoded.shape:
            raise ParameterError(f"take {take.id}: its audio has shape {parent_audio.shape}, the codec makes "
                                 f"{decoded.shape}: the take is damaged, generate it again")
        audio = splice_audio(parent_audio, decoded, int(round(first * hop)),
                             int(round(stop * hop)) if tail == "splice" else None,
                             int(round(fade_s * take.sample_rate)))
        out.append(Take(prompt=region_prompt, model_id=model.id, params=params, sample_rate=take.sample_rate,
                        frame_rate=take.frame_rate, audio=audio, codes=codes, latents=latents, text=text,
                        word_weights=None if weights is None else list(weights), kind="region", parent=take.id,
                        seconds=seconds, model_fingerprint=model.fingerprint,
                        segments=segments_to_json(segments),
                        edit={"region": [t0, t1], "tail": tail, "crossfade": fade_s, "parent_prompt": take.prompt,
                              **(dict(variant.edits) if variant.edits else {})}))
    return out


def edit_label(take: Take) -> str:
    """What a region take changed, in a few words ("weights bell=0 · region 2.00–3.50 s")."""
    edit = take.edit or {}
    parts = []
    for old, new in (edit.get("replace") or {}).items():
        parts.append(f"{old}→{new}")
    for word, w in (edit.get("weights") or {}).items():
        parts.append(f"mute {word}" if w == 0 else f"{word}×{w:g}")
    region = edit.get("region")
    if region:
        a, b = region
        parts.append(f"region {a:.2f}–{b:.2f} s")
    return " · ".join(parts) or "region"
