"""A prompt timeline: the clip split into segments, each generated under its own words.

Design: **per-step conditioning**, not continuation. One seeded run of audiocraft's
``LMModel.generate`` covers the whole clip; during it, every cross-attention module of the LM
(instance-level override, removed on exit, as in :mod:`.intervention`) attends, for each query
position, to the text tokens of the segment that position belongs to. Why not continuation (one
``generate(prompt=codes)`` call per segment)?

* a timeline with one segment *is* plain generation (same call, same seed, same random draws:
  bit-identical), and a segment's words act from its first frame, with no re-seeding or
  re-encoding at the boundaries;
* audiocraft's continuation re-reads the whole prefix under the *new* prompt, so the LM's memory of
  the earlier segments would be rebuilt under words that did not make them; here every position
  is read under the words that made it;
* the override is per *position*, not per call, so it works unchanged for a teacher-forced pass
  over a whole take in one forward (what the explainers run): :class:`SegmentConditioning` is the
  piece a timeline-aware explainer needs (see ``Take.segments`` / :func:`segments_to_json`).

Cross-attention is computed independently for each query position, so splitting the queries of
one LM call by segment and attending each part to its own segment's text is exact: each segment
sees its text as if it were the only prompt (the softmax runs over its tokens alone; this is not a
mask over the concatenated tokens, which without renormalisation would dilute every segment).

Timing: query position ``p`` of the pattern sequence predicts frame ``p`` of the first codebook
(the delay pattern's later codebooks follow 1..K-1 frames behind), the same step ↔ frame map as
the explainers use; a segment [start, end) s covers positions ``round(start·fps)`` onwards.

Word weights per segment (0 mutes, >1 boosts) use :func:`.intervention.masked_cross_attention`
exactly as plain weighted generation does.

Explaining a timeline (or region) take: the take records ``segments`` (start, end, text, word
weights); its ``prompt`` joins the segments' words in order (:func:`timeline_prompt`), so
today's one-prompt explainers run on it (an approximation: they read every word everywhere). A
timeline-aware explainer runs its teacher-forced passes inside ``SegmentConditioning(model,
schedule_for(take_segments(take), fps), cfg=False, step_mask=M)`` with ``M`` [steps, ΣL] over the
segments' tokens side by side (:func:`token_columns`); each step's importances live in its
segment's columns, and a view shows each segment's words (:func:`segment_words`) over its span.

Measured (benchmarks/results/timeline_order.md, bundled model, 16 held-out pairs): strict order
10/16 with a timeline, 5/16 with one "X then Y" prompt, 2/16 with the captions as typed.
"""
from __future__ import annotations

import contextlib
import csv
import re
import time
import typing as tp
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import limits
from .errors import ParameterError, PromptError
from .intervention import _rows_for, cross_attention_modules, masked_cross_attention
from .model_inputs import conditions_for
from .models import LoadedModel
from .safetext import check_prompt_chars, normalise_prompt
from .take import GenerationParams, Take

if tp.TYPE_CHECKING:
    from .explanation import Explanation
    from .progress import CancelToken, ProgressFn

TIMELINE_JOIN = ". "
"""How a timeline take's single ``prompt`` is made from its segments' texts (for the views and
explainers that read one prompt; the segments themselves are what generation followed)."""


@dataclass(frozen=True)
class Segment:
    """Words for one span of the clip, in seconds: [start, end)."""

    start: float
    end: float
    text: str
    word_weights: tuple[float, ...] | None = None

    def to_dict(self) -> dict:
        return {"start": float(self.start), "end": float(self.end), "text": self.text,
                "word_weights": None if self.word_weights is None else [float(w) for w in self.word_weights]}

    @classmethod
    def from_dict(cls, d: tp.Mapping[str, tp.Any]) -> "Segment":
        w = d.get("word_weights")
        return cls(float(d["start"]), float(d["end"]), str(d["text"]), None if w is None else tuple(map(float, w)))


_SPEC_RE = re.compile(r"^\s*([^\s:-][^:]*?)\s*-\s*([^:]+?)\s*(?:s\s*)?:\s*(.*)$", re.S)


def parse_segment(spec: str) -> Segment:
    """``"0-2.5: a dog barks"`` (or ``"2.5-5 s: ..."``) → :class:`Segment`; one-line error otherwise."""
    m = _SPEC_RE.match(spec)
    if not m:
        raise ParameterError(f"segment '{spec[:60]}' must look like START-END: WORDS, e.g. '0-2.5: a dog barks'")
    try:
        start, end = float(m.group(1)), float(m.group(2))
    except ValueError:
        raise ParameterError(f"segment '{spec[:60]}': START and END must be seconds, e.g. '0-2.5: a dog barks'") \
            from None
    return Segment(start, end, m.group(3))


def parse_timeline_text(text: str) -> list[Segment]:
    """``"0-2.5: a dog barks | 2.5-5: a bell rings"`` (the app's prompt-box form) → its segments; one
    segment without a ``|``. Raises :class:`ParameterError` naming the part that is not START-END: WORDS."""
    return [parse_segment(part.strip()) for part in text.split("|")]


def read_timeline(path: str | Path) -> list[Segment]:
    """Segments from a TSV file: ``START<TAB>END<TAB>WORDS`` per line (``#`` lines and blanks skipped)."""
    out: list[Segment] = []
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for n, row in enumerate(csv.reader(f, delimiter="\t"), 1):
                if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                    continue
                if len(row) != 3:
                    raise ParameterError(f"{path}, line {n}: expected START<TAB>END<TAB>WORDS, got {len(row)} field(s)")
                try:
                    out.append(Segment(float(row[0]), float(row[1]), row[2]))
                except ValueError:
                    raise ParameterError(f"{path}, line {n}: START and END must be seconds") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{path} is not UTF-8 text") from None
    if not out:
        raise ParameterError(f"{path} holds no segment (START<TAB>END<TAB>WORDS per line)")
    return out


def check_segment_layout(segments: tp.Sequence[Segment]) -> list[Segment]:
    """Segments sorted, contiguous from 0, each with words: what needs no model, so ``agx timeline``
    says it before any model loads. Raises ParameterError/PromptError with one line naming the segment."""
    if not segments:
        raise ParameterError("a timeline needs at least one segment")
    segs = sorted(segments, key=lambda s: s.start)
    cleaned: list[Segment] = []
    for i, s in enumerate(segs):
        start = limits.check_real("segment start", s.start, 0.0, 1e6, hint=" seconds")
        end = limits.check_real("segment end", s.end, 0.0, 1e6, hint=" seconds")
        name = f"segment {start:g}-{end:g} s"
        if not end > start:
            raise ParameterError(f"{name}: its end must come after its start")
        expected = 0.0 if i == 0 else cleaned[-1].end
        if abs(start - expected) > 1e-6:
            raise ParameterError(f"{name}: segments must follow each other from 0 s with no gap or overlap "
                                 f"(expected it to start at {expected:g} s)")
        text = normalise_prompt(s.text)
        if not text.strip():
            raise PromptError(f"{name} has no words: say what sounds there")
        check_prompt_chars(text)
        cleaned.append(Segment(start, end, text, s.word_weights))
    return cleaned


def check_segments(model: LoadedModel, segments: tp.Sequence[Segment]) -> list[Segment]:
    """Segments sorted, contiguous from 0, non-empty words within the model's limits
    (:func:`check_segment_layout`, then each segment's word weights against the model's words).

    Raises ParameterError/PromptError with one line naming the segment.
    """
    cleaned: list[Segment] = []
    for s in check_segment_layout(segments):
        words = model.text_tokens(s.text).words  # also the model's own limits on the text
        weights = s.word_weights
        if weights is not None:
            name = f"segment {s.start:g}-{s.end:g} s"
            if len(weights) != len(words):
                raise ParameterError(f"{name}: expected {len(words)} word weights, got {len(weights)}")
            weights = tuple(limits.check_word_weight(w, word) for w, word in zip(weights, words))
        cleaned.append(Segment(s.start, s.end, s.text, weights))
    return cleaned


@dataclass(frozen=True)
class ScheduleEntry:
    """One segment in LM positions: from query position ``first`` on, condition on ``text`` (None: no
    words, the null condition: what a segment becomes when an explainer deletes its only word)."""

    first: int
    text: str | None
    word_weights: tuple[float, ...] | None = None


def schedule_for(segments: tp.Sequence[Segment], frame_rate: float) -> list[ScheduleEntry]:
    """Segments in seconds → schedule in LM positions (position p ↔ frame p of codebook 0)."""
    return [ScheduleEntry(int(round(s.start * frame_rate)), s.text, s.word_weights) for s in segments]


class _Offset:
    def __init__(self) -> None:
        self.value = 0


class SegmentConditioning:
    """Context manager: each cross-attention query position attends to its own segment's text.

    Args:
        schedule: entries sorted by ``first``; the first must start at position 0.
        cfg: ``True`` for generation (the LM batch is [conditional rows; null rows], as
            ``LMModel.generate`` builds it); ``False`` for teacher-forced passes, where every batch row is
            conditional.
        step_mask: an explainer's per-step token mask over the segments' tokens side by side,
            ``[steps, ΣL]`` or ``[batch, steps, ΣL]`` (columns :attr:`token_columns`); each position
            uses its own segment's columns, multiplied with that segment's word weights. This is
            AudioGenX's ``M`` for a timeline take (may require grad).
        row_weights: for a batch of candidates (:func:`.generation.sample_rows`): schedule index →
            one word-weight tuple per conditional row (``None``: all ones), instead of that entry's
            ``word_weights``; the null rows get the same masks as their conditional rows.
    The text of each segment is encoded once, exactly as ``LMModel.generate`` encodes its prompt
    (with the null condition beside it), then passed through the LM's fuser.
    """

    def __init__(self, model: LoadedModel, schedule: tp.Sequence[ScheduleEntry], *, cfg: bool = True,
                 step_mask: torch.Tensor | None = None,
                 row_weights: tp.Mapping[int, tp.Sequence[tp.Sequence[float] | None]] | None = None) -> None:
        if not schedule or schedule[0].first != 0:
            raise ValueError("a schedule starts at position 0")
        self.model = model
        self.schedule = list(schedule)
        self.cfg = cfg
        self.token_columns = token_columns(model, self.schedule)
        if step_mask is not None and (step_mask.dim() not in (2, 3) or step_mask.shape[-1] != self.token_columns[-1][1]):
            raise ValueError(f"step mask must be [steps, {self.token_columns[-1][1]}] (the segments' tokens side by "
                             f"side), got {tuple(step_mask.shape)}")
        self.step_mask = step_mask
        self.row_weights = dict(row_weights or {})
        self._memories: list[torch.Tensor] = []
        self._masks: list[torch.Tensor | None] = []
        self._stack = contextlib.ExitStack()

    def _encode(self, text: str | None) -> torch.Tensor:
        from audiocraft.modules.conditioners import ClassifierFreeGuidanceDropout

        lm = self.model.lm
        conditions = conditions_for(text)
        conditions = conditions + ClassifierFreeGuidanceDropout(p=1.0)(conditions)
        tensors = lm.condition_provider(lm.condition_provider.tokenize(conditions))
        dummy = torch.zeros(2, 1, lm.dim, device=self.model.device)
        _, cross = lm.fuser(dummy, tensors)
        if cross is None:
            raise ValueError("this LM has no cross-attention input: a timeline needs cross-attention conditioning")
        return cross  # [2, L, D]: conditional row, null row

    def __enter__(self) -> "SegmentConditioning":
        lm = self.model.lm
        modules = cross_attention_modules(lm)
        if not modules:
            raise ValueError("this LM has no cross-attention layers: text is not conditioned by cross-attention")
        with torch.no_grad():
            for entry in self.schedule:
                self._memories.append(self._encode(entry.text))
                per_row = self.row_weights.get(len(self._masks))
                if per_row is not None:
                    tokens = self.model.text_tokens(entry.text)
                    ones = [1.0] * len(tokens.words)
                    self._masks.append(torch.tensor(
                        np.array([tokens.word_token_mask(list(w) if w is not None else ones) for w in per_row]),
                        dtype=torch.float32, device=self.model.device).unsqueeze(1))  # [rows, 1, L]
                elif entry.word_weights is None:
                    self._masks.append(None)
                else:
                    tokens = self.model.text_tokens(entry.text)
                    row = tokens.word_token_mask(list(entry.word_weights))
                    self._masks.append(torch.tensor(row, dtype=torch.float32, device=self.model.device).view(1, 1, -1))
        offset = _Offset()
        firsts = [e.first for e in self.schedule]

        def pre_hook(module: torch.nn.Module, args: tuple) -> None:
            offsets = lm.transformer._streaming_state.get("offsets") if lm._is_streaming else None
            offset.value = int(offsets.view(-1)[0]) if offsets is not None else 0

        def memory_for(index: int, batch: int) -> torch.Tensor:
            mem = self._memories[index]
            if self.cfg:
                if batch % 2:
                    raise ValueError(f"a CFG batch has an even number of rows, got {batch}")
                half = batch // 2
                return torch.cat([mem[:1].expand(half, -1, -1), mem[1:].expand(half, -1, -1)])
            return mem[:1].expand(batch, -1, -1)

        def make_forward(mod: torch.nn.Module) -> tp.Callable:
            base = type(mod).forward

            def forward(query, key, value, key_padding_mask=None, need_weights=False, attn_mask=None,
                        average_attn_weights=True, is_causal=False):
                lo, length = offset.value, query.shape[1]
                parts = []
                for i, first in enumerate(firsts):
                    nxt = firsts[i + 1] if i + 1 < len(firsts) else None
                    a, b = max(first, lo), lo + length if nxt is None else min(nxt, lo + length)
                    if b <= a:
                        continue
                    q = query[:, a - lo:b - lo]
                    mem = memory_for(i, query.shape[0]).to(query.dtype)
                    rows = self._masks[i]
                    if rows is not None and 1 < rows.shape[0] < query.shape[0]:  # CFG: null rows alike
                        rows = rows.repeat(query.shape[0] // rows.shape[0], 1, 1)
                    if self.step_mask is not None:
                        c0, c1 = self.token_columns[i]
                        steps = _rows_for(self.step_mask[..., c0:c1], a, b - a, query.shape[0])
                        rows = steps if rows is None else steps * rows
                    if rows is None:
                        parts.append(base(mod, q, mem, mem, need_weights=False)[0])
                    else:
                        parts.append(masked_cross_attention(mod, q, mem, mem, rows))
                return (parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)), None
            return forward

        try:
            handle = lm.register_forward_pre_hook(pre_hook)
            self._stack.callback(handle.remove)
            for mod in modules:
                mod.forward = make_forward(mod)  # instance attribute shadows the class method
                self._stack.callback(mod.__dict__.pop, "forward", None)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        self._stack.close()
        self._memories.clear()
        self._masks.clear()


def token_columns(model: LoadedModel, schedule: tp.Sequence[ScheduleEntry]) -> list[tuple[int, int]]:
    """[first, stop) of each segment's text tokens when the segments' tokens are laid side by side
    (the token axis of a timeline take's per-step mask)."""
    out, col = [], 0
    for entry in schedule:
        n = 0 if entry.text is None else len(model.text_tokens(entry.text).tokens)
        out.append((col, col + n))
        col += n
    return out


def timeline_prompt(segments: tp.Sequence[Segment]) -> str:
    """The one prompt a timeline take shows: its segments' words in order, word for word (word
    ``j`` of segment ``i`` is word ``Σ_{k<i} n_k + j`` of the prompt)."""
    texts = [s.text.strip() for s in segments]
    return "".join(t + ("" if i == len(texts) - 1 else (" " if t[-1] in ".;,!?" else TIMELINE_JOIN))
                   for i, t in enumerate(texts))


def segment_words(take: Take) -> list[tuple[float, float, list[str]]]:
    """(start, end, words) of each segment ``take`` followed: what a view shows over each span."""
    from .text import split_words
    return [(s.start, s.end, split_words(s.text)[0]) for s in take_segments(take)]


def word_spans(take: Take) -> list[tuple[float, float]] | None:
    """(start, end) seconds of the segment each of a timeline take's words (in prompt order) belongs to:
    where it conditioned the model (:attr:`.explanation.Explanation.word_spans`); None for a take
    that is not a timeline (every word conditioned the whole take)."""
    if take.kind != "timeline" or not take.segments:
        return None
    spans = [(a, b) for a, b, words in segment_words(take) for _ in words]
    return spans if len(spans) == len(take.text.words) else None  # segments edited out of step with the words


def fill_word_spans(explanation: "Explanation", take: Take) -> None:
    """Give an explanation of ``take`` written before explanations recorded :func:`word_spans` its spans
    (none where the take's segments do not add up to the explanation's words: a take.json edited since)."""
    if explanation.word_spans is None:
        spans = word_spans(take)
        explanation.word_spans = spans if spans is not None and len(spans) == len(explanation.words) else None


def segments_to_json(segments: tp.Sequence[Segment]) -> list[dict]:
    return [s.to_dict() for s in segments]


def generate_timeline(model: LoadedModel, segments: tp.Sequence[Segment], params: GenerationParams, *,
                      progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Take:
    """Generate one take whose words follow ``segments`` (they must cover 0 to ``params.duration``).

    The take's ``prompt`` joins the segments' words (:func:`timeline_prompt`), its ``kind`` is
    ``'timeline'`` and ``segments`` records what generation followed. With one segment the audio
    and codes equal :func:`.generation.generate` with that segment's words and weights.
    """
    from .generation import sample, validate_duration

    params.validate()
    frames = validate_duration(model, params.duration)
    segs = check_segments(model, segments)
    if abs(segs[-1].end - params.duration) > 0.5 / model.frame_rate:
        raise ParameterError(f"the timeline ends at {segs[-1].end:g} s but the take lasts {params.duration:g} s: "
                             "the last segment must end where the take does")
    schedule = schedule_for(segs, model.frame_rate)
    if len({e.first for e in schedule}) != len(schedule) or schedule[-1].first >= frames:
        raise ParameterError(f"every segment must last at least one frame ({1 / model.frame_rate:g} s)")
    prompt = timeline_prompt(segs) if len(segs) > 1 else segs[0].text
    text = model.text_tokens(prompt)
    start = time.perf_counter()
    codes, latents, audio = sample(model, segs[0].text, params, frames,
                                   intervention=SegmentConditioning(model, schedule),
                                   progress=progress, cancel=cancel)
    weights = segs[0].word_weights if len(segs) == 1 else None
    take = Take(prompt=prompt, model_id=model.id, params=params, sample_rate=model.sample_rate,
                frame_rate=model.frame_rate, audio=audio, codes=codes, latents=latents, text=text,
                word_weights=None if weights is None else list(weights), kind="timeline",
                seconds=time.perf_counter() - start, model_fingerprint=model.fingerprint,
                segments=segments_to_json(segs))
    return take


def take_segments(take: Take) -> list[Segment]:
    """The segments ``take`` was generated under: its recorded ones, else one covering the clip."""
    if take.segments:
        return [Segment.from_dict(d) for d in take.segments]
    weights = None if take.word_weights is None else tuple(take.word_weights)
    return [Segment(0.0, take.duration, take.prompt, weights)]


def cut(segments: tp.Sequence[Segment], start: float, end: float) -> list[Segment]:
    """The parts of ``segments`` that fall within [start, end)."""
    out = []
    for s in segments:
        a, b = max(s.start, start), min(s.end, end)
        if b > a + 1e-9:
            out.append(Segment(a, b, s.text, s.word_weights))
    return out


def schedule_latents(model: LoadedModel, codes: torch.Tensor, schedule: tp.Sequence[ScheduleEntry]) -> torch.Tensor:
    """A teacher-forced pass over ``codes`` [K, T] under ``schedule``: latents e_t [steps, D].

    Used where the codes were not all sampled in one run (a spliced region take)."""
    from .intervention import HiddenCapture

    lm = model.lm
    batch = codes.to(model.device).long().unsqueeze(0)
    pattern = lm.pattern_provider.get_pattern(int(codes.shape[-1]))
    seq, _, _ = pattern.build_pattern_sequence(batch, lm.special_token_id, keep_only_valid_steps=False)
    steps = len(pattern.layout) - 1
    provider = lm.condition_provider
    with torch.no_grad(), model.threads():
        cond = provider(provider.tokenize(conditions_for(schedule[0].text)))
        with SegmentConditioning(model, schedule, cfg=False), HiddenCapture(lm) as hidden:
            lm(seq[..., :steps], [], condition_tensors=cond)
    return hidden.outputs[-1][0].float().cpu()


__all__ = ["Segment", "parse_segment", "parse_timeline_text", "read_timeline", "check_segment_layout", "check_segments", "ScheduleEntry", "schedule_for",
           "SegmentConditioning", "generate_timeline", "timeline_prompt", "take_segments", "cut",
           "schedule_latents", "segments_to_json", "token_columns", "segment_words"]
