"""Event classifier for the bundled sound world (13 events), used to measure the bundled model.

A small dilated 1-D CNN over 25 Hz log-mel frames (the codec's features) that outputs, for every
frame, the probability that each world event sounds there (receptive field about +-0.8 s, so sparse
events such as clock ticks count as present between their ticks). Clip-level and interval-level
probabilities are the maximum of the (3-frame smoothed) frame probabilities in that span, which
is what makes "is X in the first half?" a direct question.

Trained on world scenes, both original audio and codec round trips (encode -> decode), so
that it scores generated audio (which has the codec's Griffin-Lim character) fairly.
"""
from __future__ import annotations

import typing as tp

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import codec as C
from .world import EVENT_NAMES


class EventClassifier(nn.Module):
    """Frame-level multi-label event classifier on log-mel frames.

    Args:
        n_mels: mel bins of the input (64).
        n_events: number of world events (13).
        channels: hidden channels.
        dilations: one residual conv block per dilation.
    """

    def __init__(self, n_mels: int = C.N_MELS, n_events: int = len(EVENT_NAMES), channels: int = 96,
                 dilations: tp.Sequence[int] = (1, 2, 4, 8, 1)):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))
        self.inp = nn.Conv1d(n_mels, channels, 3, padding=1)
        self.blocks = nn.ModuleList([nn.Conv1d(channels, channels, 3, padding=d, dilation=d) for d in dilations])
        self.norms = nn.ModuleList([nn.GroupNorm(1, channels) for _ in dilations])
        self.out = nn.Conv1d(channels, n_events, 1)
        self.event_names = list(EVENT_NAMES)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        """[B, 64, T] log-mel -> [B, n_events, T] frame logits."""
        x = (logmel - self.mean[:, None]) / self.std[:, None]
        x = F.gelu(self.inp(x))
        for conv, norm in zip(self.blocks, self.norms):
            x = x + F.gelu(norm(conv(x)))
        return self.out(x)

    @torch.no_grad()
    def frame_probs(self, wav: tp.Union[np.ndarray, torch.Tensor]) -> np.ndarray:
        """Waveform(s) at 16 kHz ([n], [C, n] or [B, C, n]) -> [B, n_events, frames] probabilities (25 Hz)."""
        w = torch.as_tensor(np.asarray(wav, dtype=np.float32) if not torch.is_tensor(wav) else wav).float()
        if w.dim() == 1:
            w = w[None, None]
        elif w.dim() == 2:
            w = w.mean(0, keepdim=True)[None]
        w = w.to(self.mean.device)
        p = torch.sigmoid(self(C.log_mel(w)))
        p = F.avg_pool1d(p, 3, stride=1, padding=1, count_include_pad=False)
        return p.cpu().numpy()

    def event_probs(self, wav, interval: tp.Optional[tp.Tuple[float, float]] = None,
                    frame_rate: float = C.SAMPLE_RATE / C.HOP) -> tp.Dict[str, float]:
        """{event: probability that it sounds in the clip (or in ``interval`` seconds)} for one clip."""
        p = self.frame_probs(wav)[0]
        if interval is not None:
            s = max(int(round(interval[0] * frame_rate)), 0)
            e = max(int(round(interval[1] * frame_rate)), s + 1)
            p = p[:, s:e]
        return {n: float(v) for n, v in zip(self.event_names, p.max(axis=1))}

    def detect(self, wav, threshold: float = 0.5, interval=None) -> tp.List[str]:
        """Names of the events detected (probability > threshold) in the clip or interval."""
        return [n for n, v in self.event_probs(wav, interval).items() if v > threshold]
