"""Helpers for the baseline/metric/evaluate tests: a code-dependent synth codec and a toy classifier.

The tiny models' untrained EnCodec decodes every code sequence to the same waveform (its VQ
codebooks start at zero), so metric tests swap in :class:`CodeSynth`: each frame becomes a tone
whose pitch is set by the first codebook's code, and :class:`BandClassifier` reads 4 pitch bands.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


class CodeSynth(nn.Module):
    sample_rate = 16000
    frame_rate = 50
    channels = 1

    def decode(self, codes: torch.Tensor, scale=None) -> torch.Tensor:
        B, K, T = codes.shape
        hop = self.sample_rate // self.frame_rate
        t = torch.arange(hop) / self.sample_rate
        freq = 200.0 + 50.0 * codes[:, 0].float()  # [B, T]
        wave = torch.sin(2 * torch.pi * freq[..., None] * t)  # [B, T, hop]
        return 0.1 * wave.reshape(B, 1, T * hop)


class BandClassifier:
    """Probabilities of 4 frequency bands (FFT energy), a stand-in for an audio classifier."""

    name = "bands"

    def probs(self, audio, sample_rate):
        a = np.asarray(audio, dtype=np.float64).mean(0)
        spec = np.abs(np.fft.rfft(a)) ** 2
        f = np.fft.rfftfreq(len(a), 1 / sample_rate)
        edges = [0, 800, 1600, 2400, sample_rate / 2]
        e = np.array([spec[(f >= lo) & (f < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])]) + 1e-9
        return e / e.sum()


def make_classifier():
    return BandClassifier()


def broken_classifier():
    raise OSError("weights file is missing")


def synth_model(seed: int = 0, conditioner=None, name: str = "tiny-synth"):
    from agx_desktop.engine.models import LoadedModel
    from agx_desktop.engine.standin import build_tiny_model

    kw = {} if conditioner is None else {"conditioner": conditioner}
    gen = build_tiny_model(name=name, seed=seed, dim=64, num_layers=2, card=64, max_duration=4.0, **kw)
    model = LoadedModel(name, gen, torch.device("cpu"), trained=False)
    model.compression_model = CodeSynth()
    return model
