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
