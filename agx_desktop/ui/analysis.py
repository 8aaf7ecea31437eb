"""Numpy-only analysis of a take for display: spectrogram, waveform envelope, thumbnail.

These run in worker threads (see :mod:`jobs`), never in a view.
"""
from __future__ import annotations

import typing as tp
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Spectrogram:
    """Log-magnitude spectrogram in dB: ``db`` is [frames, bins], times in seconds, freqs in Hz."""

    db: np.ndarray
    duration: float
    max_freq: float
    hop_s: float

    @property
    def floor(self) -> float:
        return float(self.db.min()) if self.db.size else -100.0


def spectrogram(audio: np.ndarray, sample_rate: int, n_fft: int = 512, hop: int = 128,
                floor_db: float = -100.0) -> Spectrogram:
    """Hann-windowed STFT of the channel mean, in dB relative to full scale."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    n = len(x)
    duration = n / float(sample_rate)
    if n < n_fft:
        x = np.pad(x, (0, n_fft - n))
    pad = n_fft // 2
    x = np.pad(x, (pad, pad), mode="reflect" if len(x) > pad else "constant")
    frames = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    win = np.hanning(n_fft).astype(np.float32)
    spec = np.abs(np.fft.rfft(x[idx] * win, axis=1)) / (win.sum() / 2)
    db = 20 * np.log10(np.maximum(spec, 10 ** (floor_db / 20)))
    return Spectrogram(db.astype(np.float32), duration, sample_rate / 2.0, hop / float(sample_rate))


def envelope(audio: np.ndarray, points: int = 1200) -> tuple[np.ndarray, np.ndarray]:
    """Min/max envelope of the channel mean in ``points`` buckets (for fast waveform drawing)."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if len(x) == 0:
        return np.zeros(1, np.float32), np.zeros(1, np.float32)
    points = max(1, min(points, len(x)))
    edges = np.linspace(0, len(x), points + 1).astype(int)
    lo = np.minimum.reduceat(x, edges[:-1])
    hi = np.maximum.reduceat(x, edges[:-1])
    return lo, hi


@dataclass
class TakeItem:
    """A take as the app holds it: the engine's Take plus display data and its autosave folder."""

    take: tp.Any
    spec: Spectrogram | None = None
    env: tuple[np.ndarray, np.ndarray] | None = None
    explanation: tp.Any = None
    folder: tp.Any = None
    notes: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.take.id


def analyse(take: tp.Any, explanation: tp.Any = None, folder: tp.Any = None) -> TakeItem:
    """Everything the views need to show ``take`` (call in a worker)."""
    return TakeItem(take, spectrogram(take.audio, take.sample_rate), envelope(take.audio), explanation, folder)
