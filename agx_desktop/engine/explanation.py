"""An explanation: per-step token importances for one take, and how they aggregate over time and words.

A data type beside :class:`.take.Take` (the explainers in :mod:`.explain` produce it; take folders
store it as ``explanation.json``). Methods score each *text token* for each *generation step* (a
``[steps, L]`` array in [0, 1]). Everything a user sees is derived here, without re-running the
method:

* holistic importance (paper Eq. 7): the mean over all steps;
* interval importance for [start, end] seconds: the mean over the steps that predict any
  codebook of a frame inside the interval (with the delay pattern, frame f's codebooks are
  predicted at steps f .. f+K-1);
* per-frame importance: for each audio frame, the mean over the steps that predict it;
* words: tokens are merged into the prompt's words with ``max`` by default (a word matters if
  any of its pieces does; ``mean`` is available) — recorded in ``word_aggregation``.
"""
from __future__ import annotations

import math
import typing as tp
from dataclasses import dataclass, field

import numpy as np

from .errors import ExplanationError, IntervalError
from .text import TextTokens, WordAggregation

Interval = tp.Optional[tp.Tuple[float, float]]
MAX_STEPS = 1_000_000  # about 5.5 hours at 50 Hz; bounds what a damaged explanation.json may ask for


def _is_int(value: tp.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: tp.Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _strict_json_ok(value: tp.Any) -> bool:
    """Whether ``value`` can be written as strict JSON (no NaN/infinity, only JSON types)."""
    import json
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _short(value: tp.Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def frames_for_interval(interval: Interval, n_frames: int, frame_rate: float) -> range:
    """Frame indices covered by ``interval`` (seconds) in a clip of ``n_frames``; all for ``None``."""
    if interval is None:
        return range(n_frames)
    start, end = check_interval(interval, n_frames / frame_rate, frame_rate)
    f0 = max(0, int(math.floor(start * frame_rate + 1e-9)))
    f1 = min(n_frames, max(f0 + 1, int(math.ceil(end * frame_rate - 1e-9))))
    return range(f0, f1)


def steps_for_interval(interval: Interval, step_frames: tp.Sequence[tp.Sequence[int]], n_frames: int,
                       frame_rate: float) -> np.ndarray:
    """Indices of the generation steps that predict a frame inside ``interval`` (all for ``None``)."""
    if interval is None:
        return np.arange(len(step_frames))
    frames = set(frames_for_interval(interval, n_frames, frame_rate))
    return np.array([s for s, fr in enumerate(step_frames) if frames.intersection(fr)], dtype=int)


def check_interval(interval: tp.Tuple[float, float], duration: float, frame_rate: float) -> tp.Tuple[float, float]:
    """Validate an interval in seconds against a clip; raises :class:`IntervalError`."""
    start, end = float(interval[0]), float(interval[1])
    tol = 0.5 / frame_rate
    if not (math.isfinite(start) and math.isfinite(end)):
        raise IntervalError(f"interval [{start}, {end}] is not a pair of numbers of seconds")
    if start >= end:
        raise IntervalError(f"interval start {start:g} s must be before its end {end:g} s")
    if start < -tol or end > duration + tol:
        raise IntervalError(f"interval [{start:g}, {end:g}] s is outside the clip [0, {duration:g}] s")
    return start, end


@dataclass
class Explanation:
    """Per-step token importances for one take, with their time and word structure."""

    method: str
    model_id: str
    prompt: str
    take_id: str
    text: TextTokens
    step_masks: np.ndarray  # [steps, L], values in [0, 1]
    step_frames: list[list[int]]  # audio frames each step predicts (any codebook)
    n_frames: int
    frame_rate: float
    params: dict = field(default_factory=dict)
    seconds: float = 0.0
    word_aggregation: WordAggregation = "max"
    extras: dict = field(default_factory=dict)
    #: Seconds over which each word conditioned the model (a timeline take's segments,
    #: :func:`.timeline.word_spans`); ``None``: every word, the whole take. A word outside an interval's
    #: span was not in the text the model attended to there, so nothing there depends on it: its
    #: importance there is 0 whatever its (unconstrained) mask value.
    word_spans: list[tuple[float, float]] | None = None

    @property
    def words(self) -> list[str]:
        return self.text.words

    @property
    def duration(self) -> float:
        return self.n_frames / self.frame_rate

    @property
    def n_steps(self) -> int:
        return int(self.step_masks.shape[0])

    # ---------------------------------------------------------------- time
    def frames_for_interval(self, interval: Interval) -> range:
        """Frame indices covered by ``interval`` (seconds); all frames for ``None``."""
        return frames_for_interval(interval, self.n_frames, self.frame_rate)

    def steps_for_interval(self, interval: Interval) -> np.ndarray:
        """Indices of the steps that predict a frame inside ``interval``."""
        return steps_for_interval(interval, self.step_frames, self.n_frames, self.frame_rate)

    # ---------------------------------------------------------------- values
    def token_importance(self, interval: Interval = None) -> np.ndarray:
        """[L] mean step mask over the interval's steps (Eq. 7 for the whole clip)."""
        steps = self.steps_for_interval(interval)
        return self.step_masks[steps].mean(axis=0)

    def word_importance(self, interval: Interval = None) -> np.ndarray:
        """[words] importance of each prompt word in [0, 1]: Eq. 7 over the interval's steps. With
        :attr:`word_spans` (a timeline take) a word's mean runs over the steps where it was in the text
        the model attended to (0 where the interval has none of them): at the others its mask acted on
        nothing, so its value there is not evidence of anything."""
        return self.steps_word_importance(self.steps_for_interval(interval))

    def steps_word_importance(self, steps: np.ndarray) -> np.ndarray:
        """[words] Eq. 7 over the given steps (indices), each word's mean over those of them where it was
        attended to (:meth:`active_steps`; 0 where there is none)."""
        steps = np.asarray(steps, dtype=int)
        active = self.active_steps()
        if active is None:
            return self.text.tokens_to_words(self.step_masks[steps].mean(axis=0), self.word_aggregation)
        out = np.zeros(len(self.words))
        for cols in self._segments():
            used = steps[active[steps, cols[0]]]
            if used.size:
                out[cols] = self.text.tokens_to_words(self.step_masks[used].mean(axis=0), self.word_aggregation)[cols]
        return out

    def active_steps(self) -> np.ndarray | None:
        """[steps, words] whether each word was in the text the model attended to at each step (None:
        every word at every step). A timeline segment [start, end) s conditions LM positions
        ``round(start·fps)`` up to the next segment's first (:func:`.timeline.schedule_for`); the last
        runs to the end, delay-pattern steps included."""
        if self.word_spans is None:
            return None
        spans = np.asarray(self.word_spans, dtype=np.float64).reshape(-1, 2)
        first = np.round(spans[:, 0] * self.frame_rate)
        last = np.where(spans[:, 1] >= self.duration - 0.5 / self.frame_rate, np.inf,
                        np.round(spans[:, 1] * self.frame_rate))
        pos = np.arange(self.n_steps)[:, None]
        return (pos >= first) & (pos < last)

    def _segments(self) -> list[np.ndarray]:
        """Word columns grouped by timeline segment (the words sharing a span share their active steps)."""
        groups: dict[tuple[float, float], list[int]] = {}
        for w, (a, b) in enumerate(self.word_spans or []):
            groups.setdefault((float(a), float(b)), []).append(w)
        return [np.asarray(cols) for cols in groups.values()]

    def per_frame_tokens(self, steps: np.ndarray | None = None) -> np.ndarray:
        """[frames, L]: for each audio frame, the mean mask of the steps that predict it (of ``steps``
        only, when given; 0 for a frame none of them predicts)."""
        sums = np.zeros((self.n_frames, self.step_masks.shape[1]))
        counts = np.zeros(self.n_frames)
        chosen = range(self.n_steps) if steps is None else steps
        for s in chosen:
            for f in self.step_frames[s]:
                if 0 <= f < self.n_frames:
                    sums[f] += self.step_masks[s]
                    counts[f] += 1
        return sums / np.maximum(counts, 1)[:, None]

    def per_frame_words(self) -> np.ndarray:
        """[frames, words] the word × time heatmap. With :attr:`word_spans` a word's value at a frame is the
        mean over the steps predicting that frame while the word was attended to (:meth:`active_steps`;
        near a segment boundary the delay pattern makes both segments' steps predict a frame), else 0."""
        active = self.active_steps()
        if active is None:
            return self.text.tokens_to_words(self.per_frame_tokens(), self.word_aggregation)
        out = np.zeros((self.n_frames, len(self.words)))
        for cols in self._segments():
            values = self.text.tokens_to_words(self.per_frame_tokens(np.flatnonzero(active[:, cols[0]])),
                                               self.word_aggregation)
            out[:, cols] = values[:, cols]
        return out

    def mask_size(self) -> float:
        """Mean mask value (the paper's "size" column)."""
        return float(self.step_masks.mean())

    # ---------------------------------------------------------------- files
    def to_json(self, interval: Interval = None) -> dict:
        """The ``explanation.json`` document (the fields README lists) plus what reloading needs."""
        if interval is not None:
            self.frames_for_interval(interval)  # validate
        masks = np.asarray(self.step_masks, dtype=np.float64)
        if masks.ndim != 2 or not np.isfinite(masks).all():
            raise ExplanationError("the explanation's masks hold NaN or infinite values (or are not "
                                   "[steps, tokens]): explain the take again")
        for name, value in (("frame_rate", self.frame_rate), ("seconds", self.seconds)):
            if not _finite(value):
                raise ExplanationError(f"the explanation's {name} is {value!r}, not a finite number: "
                                       "explain the take again")
        for name, value in (("params", self.params), ("extras", self.extras)):
            if not _strict_json_ok(value):
                raise ExplanationError(f"the explanation's {name} hold values JSON cannot store (NaN, "
                                       "infinity or objects): explain the take again")
        importance = self.word_importance(interval)
        return {
            "format": "agx-explanation/1", "method": self.method, "model": self.model_id,
            "prompt": self.prompt, "take_id": self.take_id, "words": self.words,
            "importance": [float(v) for v in importance],
            "interval": None if interval is None else [float(interval[0]), float(interval[1])],
            "per_frame": np.round(self.per_frame_words(), 6).tolist(),
            "frame_rate": self.frame_rate, "word_aggregation": self.word_aggregation,
            "params": self.params, "seconds": self.seconds, "mask_size": self.mask_size(),
            "tokens": self.text.tokens, "token_word": self.text.token_word,
            "token_importance": [float(v) for v in self.token_importance(interval)],
            "n_frames": self.n_frames, "step_frames": self.step_frames,
            "word_spans": None if self.word_spans is None else [[float(a), float(b)] for a, b in self.word_spans],
            "step_masks": np.round(self.step_masks, 6).tolist(), "text": self.text.to_dict(),
            "extras": self.extras,
        }

    @classmethod
    def from_json(cls, d: tp.Any) -> "Explanation":
        """Rebuild an explanation from :meth:`to_json`'s document, checked field by field.

        Raises :class:`ExplanationError` with one line saying which field is wrong (the caller adds
        the file and what to do): wrong types, NaN/infinity, masks outside [0, 1] or not
        [steps, tokens], frames out of range, a frame count the masks cannot cover.
        """
        if not isinstance(d, dict):
            raise ExplanationError(f"it must hold a JSON object, got {type(d).__name__}")
        fmt = d.get("format", "agx-explanation/1")
        if not isinstance(fmt, str) or not fmt.startswith("agx-explanation/"):
            raise ExplanationError(f"'format' must be 'agx-explanation/1', got {_short(fmt)}")
        strings = {}
        for key in ("method", "model", "prompt", "take_id"):
            value = d.get(key, "" if key == "take_id" else None)
            if not isinstance(value, str) or (key != "take_id" and not value):
                raise ExplanationError(f"'{key}' must be text, got {_short(value)}")
            strings[key] = value
        try:
            text = TextTokens.from_dict(d.get("text"))
        except (ValueError, TypeError, KeyError) as exc:
            raise ExplanationError(f"'text': {exc}") from None
        if text.prompt != strings["prompt"]:
            raise ExplanationError("'text.prompt' differs from 'prompt'")
        for key, value in (("words", text.words), ("tokens", text.tokens), ("token_word", text.token_word)):
            if key in d and d[key] != value:
                raise ExplanationError(f"'{key}' differ from those of 'text'")
        raw = d.get("step_masks")
        try:
            masks = np.asarray(raw) if isinstance(raw, list) and len(raw) <= MAX_STEPS else None
        except (ValueError, TypeError, OverflowError):  # ragged rows, numbers beyond int64
            masks = None
        if masks is None or masks.dtype.kind not in "iuf" or masks.ndim != 2 or masks.size == 0:
            raise ExplanationError("'step_masks' must be a [steps, tokens] list of lists of numbers")
        if masks.shape[1] != len(text.tokens):
            raise ExplanationError(f"'step_masks' have {masks.shape[1]} columns for {len(text.tokens)} tokens")
        masks = masks.astype(np.float64)
        if not np.isfinite(masks).all() or masks.min() < 0.0 or masks.max() > 1.0:
            raise ExplanationError("'step_masks' must hold numbers in [0, 1] (no NaN or infinity)")
        n_steps = masks.shape[0]
        n_frames = d.get("n_frames")
        if not _is_int(n_frames) or not 1 <= n_frames <= n_steps:
            raise ExplanationError(f"'n_frames' must be a whole number from 1 to {n_steps} (the number of steps), "
                                   f"got {_short(n_frames)}")
        frames = d.get("step_frames")
        if not isinstance(frames, list) or len(frames) != n_steps:
            raise ExplanationError(f"'step_frames' must be a list of {n_steps} lists of frames (one per step)")
        limit = n_frames + n_steps
        for row in frames:
            if not isinstance(row, list) or len(row) > limit or \
                    not all(_is_int(f) and 0 <= f < limit for f in row):
                raise ExplanationError(f"'step_frames' must hold lists of frame numbers in [0, {limit})")
        frame_rate = d.get("frame_rate")
        if not _finite(frame_rate) or not 0 < frame_rate <= 1e6:
            raise ExplanationError(f"'frame_rate' must be a number above 0, got {_short(frame_rate)}")
        seconds = d.get("seconds", 0.0)
        if not _finite(seconds) or seconds < 0:
            raise ExplanationError(f"'seconds' must be a number >= 0, got {_short(seconds)}")
        aggregation = d.get("word_aggregation", "max")
        if aggregation not in ("max", "mean", "sum"):
            raise ExplanationError(f"'word_aggregation' must be max, mean or sum, got {_short(aggregation)}")
        params, extras = d.get("params", {}), d.get("extras", {})
        for key, value in (("params", params), ("extras", extras)):
            if not isinstance(value, dict) or not _strict_json_ok(value):
                raise ExplanationError(f"'{key}' must be an object of finite values")
        spans = d.get("word_spans")
        if spans is not None:
            if not isinstance(spans, list) or len(spans) != len(text.words) or not all(
                    isinstance(s, list) and len(s) == 2 and all(_finite(v) for v in s) and s[0] < s[1] for s in spans):
                raise ExplanationError(f"'word_spans' must be null or one [start, end] pair of seconds per word "
                                       f"({len(text.words)}), start < end")
            spans = [(float(a), float(b)) for a, b in spans]
        return cls(method=strings["method"], model_id=strings["model"], prompt=strings["prompt"],
                   take_id=strings["take_id"], text=text, step_masks=masks,
                   step_frames=[list(f) for f in frames], n_frames=n_frames, frame_rate=float(frame_rate),
                   params=dict(params), seconds=float(seconds), word_aggregation=aggregation, extras=dict(extras),
                   word_spans=spans)

    def to_csv_rows(self) -> list[list[str]]:
        """Rows of a CSV: time (s) then one column per word, one row per frame."""
        header = ["time_s"] + [f"{i}:{w}" for i, w in enumerate(self.words)]
        rows = [header]
        for f, vals in enumerate(self.per_frame_words()):
            rows.append([f"{f / self.frame_rate:.4f}"] + [f"{v:.6f}" for v in vals])
        return rows
