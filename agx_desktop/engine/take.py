"""A take: one generated clip with everything needed to replay, explain and regenerate it."""
from __future__ import annotations

import datetime as _dt
import numbers
import typing as tp
import uuid
from dataclasses import asdict, dataclass, field

import numpy as np

from . import limits
from .errors import ParameterError
from .text import TextTokens

if tp.TYPE_CHECKING:  # only in annotations: the app's window imports this module before torch (issue 19)
    import torch


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
        """Refuse any value the sampler cannot use, NaN/inf included, before a model runs.

        The engine API, the app and a take.json read back all pass through here, so a take.json
        never holds ``NaN``/``Infinity`` and a bad value is one line, not a traceback mid-sampling.
        Ranges: :mod:`..limits`.
        """
        from .errors import DurationError
        try:
            limits.check_duration(self.duration)
        except ParameterError as exc:
            raise DurationError(str(exc)) from None
        limits.check_seed(self.seed)
        limits.check_int("top-k", self.top_k, 0, limits.MAX_TOP_K, hint="0 = all codes")
        limits.check_real("top-p", self.top_p, 0.0, 1.0, hint=" (0 = off)")
        limits.check_real("temperature", self.temperature, 0.0, limits.MAX_TEMPERATURE, hint=" (0 = greedy)")
        limits.check_real("guidance (cfg)", self.cfg_coef, 0.0, limits.MAX_CFG)

    def to_dict(self) -> dict:
        """Plain JSON values (a numpy scalar or an int given for a float field becomes int/float)."""
        out = asdict(self)
        for key, kind in (("duration", float), ("seed", int), ("top_k", int), ("top_p", float),
                          ("temperature", float), ("cfg_coef", float)):
            value = out[key]
            numeric = isinstance(value, (numbers.Integral if kind is int else numbers.Real))
            if numeric and not isinstance(value, bool):
                try:
                    out[key] = kind(value)
                except (OverflowError, ValueError):  # inf/nan as an int: left as is, validate() refuses it
                    pass
        return out


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
        kind: 'original', 'weighted', 'masked', 'factual', 'counterfactual', 'region' or 'timeline'.
        parent: id of the take this one was regenerated from.
        segments: the words generation followed over time, ``[{start, end, text, word_weights}]``
            (seconds; a timeline or region take, see engine/timeline.py); None = ``prompt`` throughout.
        edit: what a region take changed: ``{region: [start, end], tail, crossfade, parent_prompt,
            weights?, replace?}`` (engine/region.py); None otherwise.
        model_fingerprint: :attr:`LoadedModel.fingerprint` of the weights that made it.
        speed: the speed settings it was sampled under (:meth:`.speed.SpeedSettings.to_dict`:
            ``{precision, quantisation, threads}``); None = the defaults (float32, no quantisation,
            the model's own thread count), as every take made before these settings existed.
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
    segments: list[dict] | None = None
    edit: dict | None = None
    speed: dict | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def duration(self) -> float:
        return self.audio.shape[-1] / float(self.sample_rate)

    @property
    def words(self) -> list[str]:
        return self.text.words

    def metadata(self) -> dict:
        """Everything but the arrays, as JSON-ready values (``segments``/``edit``/``speed`` only when set)."""
        extra = {key: value for key, value in (("segments", self.segments), ("edit", self.edit), ("speed", self.speed))
                 if value is not None}
        return {
            "format": "agx-take/1", "id": self.id, "created": self.created, "prompt": self.prompt,
            "model": self.model_id, "model_fingerprint": self.model_fingerprint, "seed": int(self.params.seed), "params": self.params.to_dict(),
            "sample_rate": self.sample_rate, "channels": int(self.audio.shape[0]), "frame_rate": self.frame_rate,
            "duration": self.duration,
            "kind": self.kind, "parent": self.parent, "word_weights": self.word_weights,
            "seconds": self.seconds, "text": self.text.to_dict(), **extra,
        }
