"""The decoded part of a take being generated, as the timeline draws it (Play as it generates).

Chunks arrive every half second of audio while the LM samples; redrawing the whole waveform and
spectrogram for each would cost the generation time. :class:`DecodedPreview` analyses only the samples
that are new since the last redraw: the waveform as min/max buckets laid out over the take's *full*
requested duration (so the buckets already drawn never move), the spectrogram as the STFT columns whose
window is inside decoded audio — the same columns :func:`~agx_desktop.ui.analysis.spectrogram` computes
for that audio (same window, hop and left reflect padding), so nothing changes shape when the take
replaces the preview. Numpy only, no Qt: tests check it directly.
"""
from __future__ import annotations

import numpy as np

ENVELOPE_POINTS = 1200  # buckets over the whole take, as analysis.envelope draws a take
N_FFT, HOP, FLOOR_DB = 512, 128, -100.0  # analysis.spectrogram's defaults
LEVEL_RANGE_DB = 80.0  # the colour bar spans this much below the loudest part (as TimelineView.set_item)


class DecodedPreview:
    """Waveform buckets and spectrogram columns of the audio decoded so far, grown by :meth:`update`."""

    def __init__(self, sample_rate: int, total_seconds: float, points: int = ENVELOPE_POINTS) -> None:
        self.sample_rate = int(sample_rate)
        self.total_seconds = float(total_seconds)
        total_samples = max(1, int(round(self.total_seconds * self.sample_rate)))
        self.bucket = max(1.0, total_samples / max(1, points))  # samples per waveform bucket (>= 1: edges rise)
        self.mono = np.zeros(0, np.float32)  # channel mean of the decoded audio
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self.buckets = 0  # complete waveform buckets
        self._columns: list[np.ndarray] = []
        self.columns = 0  # complete spectrogram columns
        self.top_db = FLOOR_DB  # loudest (99.5th percentile) column value seen so far
        self._window = np.hanning(N_FFT).astype(np.float32)

    @property
    def decoded_seconds(self) -> float:
        return len(self.mono) / float(self.sample_rate)

    def update(self, audio: np.ndarray) -> None:
        """``audio`` [channels, n] or [n]: everything decoded so far (a prefix of the last one, grown)."""
        x = np.asarray(audio, dtype=np.float32)
        new = x[..., len(self.mono):]
        if new.shape[-1] == 0:
            return
        self.mono = np.concatenate([self.mono, new.mean(axis=0) if new.ndim == 2 else new])
        self._grow_envelope()
        self._grow_spectrogram()

    def _grow_envelope(self) -> None:
        done = int(np.floor(len(self.mono) / self.bucket + 1e-9))
        if done <= self.buckets:
            return
        edges = (np.arange(self.buckets, done + 1) * self.bucket).astype(int)
        seg = self.mono[edges[0]:edges[-1]]
        self._lo.append(np.minimum.reduceat(seg, edges[:-1] - edges[0]))
        self._hi.append(np.maximum.reduceat(seg, edges[:-1] - edges[0]))
        self.buckets = done

    def _grow_spectrogram(self) -> None:
        pad = N_FFT // 2
        n = len(self.mono)
        done = (n - pad - 1) // HOP + 1 if n > pad else 0  # column c needs samples up to c * HOP + pad
        if done <= self.columns:
            return
        lo, hi = self.columns * HOP - pad, (done - 1) * HOP + pad
        seg = self.mono[max(0, lo):hi]
        if lo < 0:  # reflect at the start, as np.pad(mode="reflect") does for the whole take
            seg = np.concatenate([self.mono[1:1 - lo][::-1], seg])
        idx = np.arange(N_FFT)[None, :] + HOP * np.arange(done - self.columns)[:, None]
        mag = np.abs(np.fft.rfft(seg[idx] * self._window, axis=1)) / (self._window.sum() / 2)
        db = (20 * np.log10(np.maximum(mag, 10 ** (FLOOR_DB / 20)))).astype(np.float32)
        self._columns.append(db)
        self.columns = done
        self.top_db = max(self.top_db, float(np.percentile(db, 99.5)))

    def envelope(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x seconds at each bucket's start, min, max) of the complete buckets."""
        if not self.buckets:
            empty = np.zeros(0, np.float32)
            return empty, empty, empty
        x = (np.arange(self.buckets) * self.bucket / self.sample_rate).astype(np.float64)
        return x, np.concatenate(self._lo), np.concatenate(self._hi)

    def spectrogram_db(self) -> np.ndarray:
        """[columns, bins] dB of the complete columns (column c is centred at c × hop samples)."""
        if len(self._columns) > 1:
            self._columns = [np.concatenate(self._columns)]
        return self._columns[0] if self._columns else np.zeros((0, N_FFT // 2 + 1), np.float32)

    @property
    def hop_seconds(self) -> float:
        return HOP / float(self.sample_rate)

    def levels(self) -> tuple[float, float]:
        """The spectrogram's colour range: :data:`LEVEL_RANGE_DB` below the loudest part so far."""
        return max(self.top_db - LEVEL_RANGE_DB, FLOOR_DB), self.top_db
