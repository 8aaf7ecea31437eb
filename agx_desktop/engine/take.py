"""A take: one generated clip with everything needed to replay, explain and regenerate it."""
from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .errors import ParameterError
from .text import TextTokens


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters; with the same values and seed, CPU generation is bit-identical."""

    duration: float = 5.0
    seed: int = 0
    top_k: int = 250
    top_p: float = 0.0
    temperature: float = 1.0
    cfg_coef: float = 3.0

    def validate(self) -> None:
        if self.top_k < 0:
            raise ParameterError(f"top-k must be >= 0 (0 disables it), got {self.top_k}")
        if not 0.0 <= self.top_p <= 1.0:
            raise ParameterError(f"top-p must be within [0, 1], got {self.top_p}")
        if self.temperature < 0:
            raise ParameterError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if self.cfg_coef < 0:
            raise ParameterError(f"guidance (cfg) must be >= 0, got {self.cfg_coef}")
        if not 0 <= int(self.seed) < 2 ** 63:
            raise ParameterError(f"seed must be a non-negative integer, got {self.seed}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Take:
    """One generated clip.

    Attributes:
        audio: float32 waveform [channels, samples].
        codes: the LM's audio codes [codebooks, frames] (int64).
        latents: per-step final hidden states e_t of the conditional branch [steps, dim] (float32).
        text: the prompt's tokens and their words.
        word_weights: per-word cross-attention weights used when generating (None = all 1).
        step_mask: per-step token mask applied when generating [steps, L] (factual/counterfactual).
        kind: 'original', 'weighted', 'factual' or 'counterfactual'.
        parent: id of the take this one was regenerated from.
        model_fingerprint: :attr:`LoadedModel.fingerprint` of the weights that made it.
    """

    prompt: str
    model_id: str
    params: GenerationParams
    sample_rate: int
    frame_rate: float
    audio: np.ndarray
    codes: torch.Tensor
    latents: torch.Tensor
    text: TextTokens
    word_weights: list[float] | None = None
    step_mask: np.ndarray | None = None
    kind: str = "original"
    parent: str | None = None
    seconds: float = 0.0
    model_fingerprint: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def duration(self) -> float:
        return self.audio.shape[-1] / float(self.sample_rate)

    @property
    def words(self) -> list[str]:
        return self.text.words

    def metadata(self) -> dict:
        """Everything but the arrays, as JSON-ready values."""
        return {
            "format": "agx-take/1", "id": self.id, "created": self.created, "prompt": self.prompt,
            "model": self.model_id, "model_fingerprint": self.model_fingerprint, "seed": int(self.params.seed), "params": self.params.to_dict(),
            "sample_rate": self.sample_rate, "frame_rate": self.frame_rate, "duration": self.duration,
            "kind": self.kind, "parent": self.parent, "word_weights": self.word_weights,
            "seconds": self.seconds, "text": self.text.to_dict(),
        }
