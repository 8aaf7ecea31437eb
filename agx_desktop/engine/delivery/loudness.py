"""Loudness for delivery: BS.1770 integrated loudness, 4x-oversampled true peak, and a look-ahead limiter.

Why a limiter: generated sound effects are impulsive (a bark, a hit, a door): their peaks sit 15-25 dB
above their integrated loudness, so a gain that brings them to -14 LUFS pushes the peaks far above
full scale. Capping the gain at the peak (what export did before) left takes 5-6 LU short of the
target. Here the gain goes where the loudness says and a transparent look-ahead limiter keeps the
true peak under a ceiling (default -1 dBTP, EBU R128 / streaming practice); when that would take
more than ``max_limit_db`` of gain reduction the gain stops there and the result says so.

* Loudness: ITU-R BS.1770-4 integrated loudness (K-weighting, 400 ms blocks, gating) by pyloudnorm;
  clips shorter than one block are measured with one block as long as the clip.
* True peak: the signal upsampled at least 4x (BS.1770-4 Annex 2; scipy's polyphase FIR) and to at
  least 192 kHz (as ffmpeg's ebur128 meter: 4x of a 16 kHz take misses intersample peaks by ~0.2 dB),
  largest magnitude.
* Limiter: per sample the gain reduction the 4x-oversampled peak needs (dB), held over a look-ahead
  window and averaged over the same length (so the gain ramps down *before* a peak and reaches the
  needed reduction exactly at it: no overshoot, no clipping distortion), then an exponential
  release. All channels share one gain (the stereo image does not move). Offline, so no latency.
"""
from __future__ import annotations

import math
import typing as tp
from dataclasses import dataclass

import numpy as np

#: default true-peak ceiling (dBTP): EBU R128 allows -1; streaming services ask for -1 (-2 for lossy).
CEILING_DB = -1.0
#: the loudness target is what the user asked and what a meter checks: reach it with up to this much
#: gain reduction (impulsive SFX at -14 LUFS need 20-29 dB, measured: benchmarks/results/export_loudness.md),
#: and say so when it is heavy; a user who keeps transients sets --max-limit lower or uses peak mode.
MAX_LIMIT_DB = 30.0
#: more gain reduction than this flattens transients audibly: the message warns.
HEAVY_LIMIT_DB = 12.0
#: true-peak measurement oversampling (BS.1770-4: at least 4x at 48 kHz); lower rates go to 192 kHz.
OVERSAMPLE = 4
TRUE_PEAK_RATE = 192_000
LOOKAHEAD_S = 0.003
RELEASE_S = 0.050  # as ffmpeg's alimiter; measured: 80 ms lost ~0.5 LU more loudness on impulsive takes
#: how close the loop brings the integrated loudness to the target (LU); the promise is 0.5.
TOLERANCE_LU = 0.05
_MARGIN_DB = 0.02  # aim this far under the ceiling: the FIR of another meter may read a hair higher


def _as_2d(audio: np.ndarray) -> np.ndarray:
    arr = np.asarray(audio, dtype=np.float64)
    return arr[None] if arr.ndim == 1 else arr


def integrated_lufs(audio: np.ndarray, sr: int) -> float | None:
    """Integrated loudness of [channels, samples] audio (BS.1770-4), or None if silent/unmeasurable."""
    import pyloudnorm as pyln
    data = _as_2d(audio)
    if data.shape[-1] < 2 or not np.any(data):
        return None
    try:
        meter = pyln.Meter(int(sr), block_size=min(0.4, data.shape[-1] / float(sr)))
        value = meter.integrated_loudness(data.T)
    except (ValueError, ZeroDivisionError):
        return None
    return float(value) if np.isfinite(value) else None


def _block_loudness(data: np.ndarray, sr: int, block_s: float, hop_s: float) -> np.ndarray:
    """Ungated loudness of every ``block_s`` window, one each ``hop_s`` (pyloudnorm's K-weighting)."""
    import pyloudnorm as pyln
    meter = pyln.Meter(int(sr), block_size=block_s, overlap=1.0 - hop_s / block_s)
    try:
        meter.integrated_loudness(data.T)
    except (ValueError, ZeroDivisionError):
        return np.array([])
    values = np.asarray(meter.blockwise_loudness, dtype=float)
    return values[np.isfinite(values)]


def loudness_stats(audio: np.ndarray, sr: int) -> dict[str, float | None]:
    """EBU R128 figures for BWF's bext v2: max momentary (400 ms) and max short-term (3 s) loudness;
    None where the clip is shorter than the window. The loudness range is left unset: over a few
    seconds it depends on how a meter pads the first windows (ffmpeg reads 20 LU where whole windows
    give 0 on the same 3 s take), so no number would mean anything."""
    data = _as_2d(audio)
    seconds = data.shape[-1] / float(sr)
    out: dict[str, float | None] = {"max_momentary": None, "max_short_term": None}
    if not np.any(data):
        return out
    for key, window in (("max_momentary", 0.4), ("max_short_term", 3.0)):
        if seconds >= window:
            values = _block_loudness(data, sr, window, 0.1)
            out[key] = float(values.max()) if values.size else None
    return out


def oversampling(sr: int) -> int:
    """The true-peak oversampling factor for rate ``sr``: 4x, or more to reach 192 kHz."""
    return max(OVERSAMPLE, math.ceil(TRUE_PEAK_RATE / max(1, int(sr))))


def _oversampled_abs(audio: np.ndarray, factor: int) -> np.ndarray:
    """|x| upsampled ``factor`` times, [channels, factor*samples]."""
    from scipy.signal import resample_poly
    return np.abs(resample_poly(_as_2d(audio), factor, 1, axis=-1))


def true_peak_db(audio: np.ndarray, sr: int) -> float:
    """Largest magnitude of the oversampled signal (:func:`oversampling`) in dBTP (-inf for silence)."""
    data = _as_2d(audio)
    if data.size == 0:
        return -math.inf
    peak = max(float(_oversampled_abs(data, oversampling(sr)).max()), float(np.abs(data).max()))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def _peak_envelope(audio: np.ndarray, sr: int) -> np.ndarray:
    """[samples] largest oversampled magnitude near each sample (its own and the previous interval), all channels."""
    data = _as_2d(audio)
    n = data.shape[-1]
    k = oversampling(sr)
    up = _oversampled_abs(data, k).max(axis=0)[: n * k].reshape(n, k).max(axis=1)
    up = np.maximum(up, np.abs(data).max(axis=0))
    env = up.copy()
    env[1:] = np.maximum(up[1:], up[:-1])
    return env


def _release(attenuation: np.ndarray, tau: float) -> np.ndarray:
    """r[n] = max(a[n], r[n-1] * exp(-1/tau)) without a Python loop.

    Dividing by the decay turns the recursion into a running maximum; done in chunks so exp() stays finite.
    """
    out = np.empty_like(attenuation)
    chunk = max(1, int(600 * tau))
    carry = 0.0
    step = math.exp(-1.0 / tau)
    for start in range(0, attenuation.size, chunk):
        seg = attenuation[start:start + chunk]
        decay = np.exp(-np.arange(seg.size) / tau)
        scaled = np.maximum.accumulate(np.maximum(seg / decay, carry * step))
        out[start:start + chunk] = scaled * decay
        carry = float(out[start + seg.size - 1])
    return out


def limit(audio: np.ndarray, sr: int, ceiling_db: float = CEILING_DB, lookahead_s: float = LOOKAHEAD_S,
          release_s: float = RELEASE_S) -> tuple[np.ndarray, float]:
    """Keep the true peak of [channels, samples] audio at or under ``ceiling_db``; returns it and the
    largest gain reduction applied (dB, 0 when nothing was over)."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d
    data = _as_2d(audio)
    if data.shape[-1] == 0:
        return data.astype(np.float32), 0.0
    out = data
    threshold = ceiling_db - _MARGIN_DB
    total = np.zeros(data.shape[-1])
    look = max(1, int(round(lookahead_s * sr)))
    for attempt in range(4):  # the gain bends the waveform a little: re-check and tighten (rarely needed twice)
        level = 20 * np.log10(np.maximum(_peak_envelope(out, sr), 1e-12))
        if level.max() <= (threshold if attempt == 0 else ceiling_db - _MARGIN_DB / 4):
            break
        need = np.maximum(0.0, level - threshold)
        held = maximum_filter1d(need, size=look, origin=-(look // 2), mode="nearest")
        ramp = uniform_filter1d(held, size=look, origin=(look - 1) // 2, mode="nearest")
        ramp = np.maximum(ramp, need)  # float rounding in the average must never leave a peak over
        atten = _release(ramp, max(1.0, release_s * sr))
        total += atten
        out = out * (10 ** (-atten / 20))[None]
        threshold -= 0.01
    return out.astype(np.float32), float(total.max())


@dataclass(frozen=True)
class LoudnessResult:
    """What normalisation did and what the written audio measures (the meter's numbers, not the asked ones)."""

    mode: str                     # "lufs" | "peak" | "none"
    lufs: float | None            # integrated loudness after
    true_peak: float              # dBTP after
    before_lufs: float | None = None
    limited_db: float = 0.0       # largest gain reduction by the limiter
    target: float | None = None   # the asked LUFS (lufs mode) or peak (peak mode)
    ceiling: float = CEILING_DB
    reached: bool = True          # False: the ceiling/max limiting stopped the loudness short
    clipped: float = 0.0          # share of samples cut at full scale to fit PCM (without normalisation only)

    @property
    def message(self) -> str:
        """One line for the status bar / terminal: what a meter reads on the written file."""
        tp_text = f"true peak {self.true_peak:.1f} dBTP" if math.isfinite(self.true_peak) else "silent"
        if self.mode == "lufs":
            if self.lufs is None:
                return "too short or silent to measure loudness: not normalised"
            was = f" (was {self.before_lufs:.1f})" if self.before_lufs is not None else ""
            if not self.reached:
                return (f"{self.lufs:.1f} LUFS{was}, not the {self.target:g} asked: stopped by the true-peak "
                        f"ceiling {self.ceiling:g} dBTP after {self.limited_db:.1f} dB of limiting")
            lim = f", limited {self.limited_db:.1f} dB" if self.limited_db >= 0.05 else ""
            if self.limited_db > HEAVY_LIMIT_DB:
                lim += " (heavy: transients flattened; peak mode or a lower target keeps them)"
            return f"{self.lufs:.1f} LUFS{was}, {tp_text}{lim}"
        if self.mode == "peak":
            if not math.isfinite(self.true_peak):
                return "silent: not normalised"
            capped = "" if self.reached else f" (the ceiling; {self.target:g} asked)"
            return f"peak {self.true_peak:.1f} dBTP{capped}"
        if self.clipped > 0:
            return (f"not normalised, {tp_text}, {100 * self.clipped:.2g} % of samples CLIPPED at full scale "
                    "(the take goes above it: normalise, or write 32-bit float)")
        return f"not normalised, {tp_text}"


def normalise_lufs(audio: np.ndarray, sr: int, target: float, ceiling_db: float = CEILING_DB,
                   max_limit_db: float = MAX_LIMIT_DB) -> tuple[np.ndarray, LoudnessResult]:
    """Gain to ``target`` LUFS with the true peak under ``ceiling_db`` (limited when needed, at most
    ``max_limit_db``); returns the audio and what it measures."""
    data = _as_2d(audio)
    before = integrated_lufs(data, sr)
    if before is None:
        return data.astype(np.float32), LoudnessResult("lufs", None, true_peak_db(data, sr), target=target,
                                                       ceiling=ceiling_db, reached=False)
    peak0 = true_peak_db(data, sr)
    gain_cap = ceiling_db - peak0 + max_limit_db  # more gain than this needs more than max_limit_db of limiting
    gain = min(target - before, gain_cap)
    tries: list[tuple[float, np.ndarray, float, float]] = []  # (loudness, audio, limiting, gain)

    def attempt(g: float) -> float | None:
        out, reduction = limit(data * 10 ** (g / 20), sr, ceiling_db)
        now = integrated_lufs(out, sr)
        if now is not None:
            tries.append((now, out, reduction, g))
        return now

    last: tuple[float, float] | None = None  # (gain, loudness) of the previous try
    for _ in range(12):
        now = attempt(gain)
        if now is None:
            break
        error = target - now
        if abs(error) <= TOLERANCE_LU or (error > 0 and gain >= gain_cap - 1e-9):
            break
        # secant step: under heavy limiting 1 dB more gain brings much less than 1 LU more loudness
        slope = 1.0
        if last is not None and abs(gain - last[0]) > 1e-6:
            slope = min(1.0, max(0.05, (now - last[1]) / (gain - last[0])))
        last = (gain, now)
        gain = min(gain + error / slope, gain_cap)
    if tries and target - min(tries, key=lambda t: abs(target - t[0]))[0] > 0.5:
        # Out of reach. Past some point more limiting makes clicks *quieter* (the release pulls their
        # tails down with them): look between the unlimited gain and the cap for the loudest result.
        for g in np.linspace(min(ceiling_db - peak0, gain_cap), gain_cap, 7)[:-1]:
            attempt(float(g))
    if not tries:
        return data.astype(np.float32), LoudnessResult("lufs", None, true_peak_db(data, sr), before, 0.0, target,
                                                       ceiling_db, reached=False)
    now, out, reduction, gain = min(tries, key=lambda t: abs(target - t[0]))
    reached = abs(target - now) <= 0.5
    return out, LoudnessResult("lufs", now, true_peak_db(out, sr), before, reduction, target, ceiling_db, reached)


def normalise_peak(audio: np.ndarray, sr: int, peak_db: float,
                   ceiling_db: float = CEILING_DB) -> tuple[np.ndarray, LoudnessResult]:
    """Gain so the true peak is ``peak_db`` dBTP, never above ``ceiling_db``; returns the audio and its numbers."""
    data = _as_2d(audio)
    peak0 = true_peak_db(data, sr)
    if not math.isfinite(peak0):
        return data.astype(np.float32), LoudnessResult("peak", None, peak0, target=peak_db, ceiling=ceiling_db)
    aim = min(peak_db, ceiling_db)
    out = (data * 10 ** ((aim - peak0) / 20)).astype(np.float32)
    return out, LoudnessResult("peak", integrated_lufs(out, sr), true_peak_db(out, sr), target=peak_db, ceiling=ceiling_db,
                               reached=peak_db <= ceiling_db)


def measure(audio: np.ndarray, sr: int, mode: str = "none") -> LoudnessResult:
    """Numbers of audio left as it is."""
    return LoudnessResult(mode, integrated_lufs(audio, sr), true_peak_db(audio, sr))


__all__: tp.List[str] = ["CEILING_DB", "MAX_LIMIT_DB", "HEAVY_LIMIT_DB", "LoudnessResult", "integrated_lufs", "true_peak_db", "limit", "loudness_stats",
                         "normalise_lufs", "normalise_peak", "measure"]
