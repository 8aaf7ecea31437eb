"""Audio helpers shared by export, playback and the evaluation metrics (numpy/scipy, no Qt)."""
from __future__ import annotations

from math import gcd

import numpy as np


def resample(audio: np.ndarray, sr_in: int, sr_out: int, axis: int = -1) -> np.ndarray:
    """``audio`` at ``sr_out`` instead of ``sr_in``, as float32 (scipy's polyphase filter).

    ``axis`` is the time axis (-1 for [channels, samples], 0 for a [frames, channels] buffer).
    A zero/None ``sr_out`` or the same rate returns ``audio`` itself, not a copy.
    """
    if not sr_out or int(sr_out) == int(sr_in):
        return audio
    from scipy.signal import resample_poly
    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(audio, int(sr_out) // g, int(sr_in) // g, axis=axis).astype(np.float32)


def over_full_scale(audio: np.ndarray) -> str | None:
    """One line when ``audio`` goes above full scale (a take of a "loud" prompt can peak at +13 dBFS:
    the decoders do not limit), else None. Played as it is, such a take clips; an export normalises it
    (the default) or, written without normalising to PCM, says how much it cut."""
    data = np.asarray(audio)
    if data.size == 0:
        return None
    peak = float(np.max(np.abs(data)))
    if not np.isfinite(peak) or peak <= 1.0:
        return None
    return (f"the take peaks at {20 * np.log10(peak):+.1f} dBFS, above full scale: played as it is it clips "
            "(an export normalises it)")
