"""The output every explanation method produces, and how it aggregates over time and words.

Methods score each *text token* for each *generation step* (a ``[steps, L]`` array in [0, 1]).
Everything a user sees is derived here, without re-running the method:

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

from ..errors import IntervalError
from ..text import TextTokens, WordAggregation

Interval = tp.Optional[tp.Tuple[float, float]]


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
        """[words] importance of each prompt word in [0, 1]."""
        return self.text.tokens_to_words(self.token_importance(interval), self.word_aggregation)

    def per_frame_tokens(self) -> np.ndarray:
        """[frames, L]: for each audio frame, the mean mask of the steps that predict it."""
        sums = np.zeros((self.n_frames, self.step_masks.shape[1]))
        counts = np.zeros(self.n_frames)
        for s, frames in enumerate(self.step_frames):
            for f in frames:
                if 0 <= f < self.n_frames:
                    sums[f] += self.step_masks[s]
                    counts[f] += 1
        return sums / np.maximum(counts, 1)[:, None]

    def per_frame_words(self) -> np.ndarray:
        """[frames, words] the word × time heatmap."""
        return self.text.tokens_to_words(self.per_frame_tokens(), self.word_aggregation)

    def mask_size(self) -> float:
        """Mean mask value (the paper's "size" column)."""
        return float(self.step_masks.mean())

    # ---------------------------------------------------------------- files
    def to_json(self, interval: Interval = None) -> dict:
        """The ``explanation.json`` document (BRIEF section 4) plus what reloading needs."""
        if interval is not None:
            self.frames_for_interval(interval)  # validate
        return {
            "format": "agx-explanation/1", "method": self.method, "model": self.model_id,
            "prompt": self.prompt, "take_id": self.take_id, "words": self.words,
            "importance": [float(v) for v in self.word_importance(interval)],
            "interval": None if interval is None else [float(interval[0]), float(interval[1])],
            "per_frame": np.round(self.per_frame_words(), 6).tolist(),
            "frame_rate": self.frame_rate, "word_aggregation": self.word_aggregation,
            "params": self.params, "seconds": self.seconds, "mask_size": self.mask_size(),
            "tokens": self.text.tokens, "token_word": self.text.token_word,
            "token_importance": [float(v) for v in self.token_importance(interval)],
            "n_frames": self.n_frames, "step_frames": self.step_frames,
            "step_masks": np.round(self.step_masks, 6).tolist(), "text": self.text.to_dict(),
            "extras": self.extras,
        }

    @classmethod
    def from_json(cls, d: dict) -> "Explanation":
        return cls(method=d["method"], model_id=d["model"], prompt=d["prompt"], take_id=d.get("take_id", ""),
                   text=TextTokens.from_dict(d["text"]), step_masks=np.asarray(d["step_masks"], dtype=np.float64),
                   step_frames=[list(f) for f in d["step_frames"]], n_frames=int(d["n_frames"]),
                   frame_rate=float(d["frame_rate"]), params=dict(d.get("params", {})),
                   seconds=float(d.get("seconds", 0.0)), word_aggregation=d.get("word_aggregation", "max"),
                   extras=dict(d.get("extras", {})))

    def to_csv_rows(self) -> list[list[str]]:
        """Rows of a CSV: time (s) then one column per word, one row per frame."""
        header = ["time_s"] + [f"{i}:{w}" for i, w in enumerate(self.words)]
        rows = [header]
        for f, vals in enumerate(self.per_frame_words()):
            rows.append([f"{f / self.frame_rate:.4f}"] + [f"{v:.6f}" for v in vals])
        return rows


class ExplanationMethod(tp.Protocol):
    """What every method module provides (registered by name in :mod:`explain`)."""

    name: str

    def __call__(self, model: tp.Any, take: tp.Any, *, progress: tp.Any = None, cancel: tp.Any = None,
                 **params: tp.Any) -> Explanation: ...
