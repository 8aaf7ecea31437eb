"""Speed settings for sampling on a CPU: bf16 autocast, int8 dynamic quantisation, thread count.

All off by default: each changes the numbers the LM computes (not only how fast), so a take made
with one is not the take the same seed gives without it. Their fidelity (per-step next-code
distributions against float32 under teacher forcing: KL and top-1 agreement) and speed are
measured side by side by ``benchmarks/bench_speed.py`` (``benchmarks/results/speed.md``), which is
what the defaults rest on. A model gets them through :meth:`.models.LoadedModel.with_speed`.
"""
from __future__ import annotations

import contextlib
import copy
import typing as tp
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class SpeedSettings:
    """How the LM runs while sampling.

    Attributes:
        bf16: bf16 autocast around the LM's sampling (worth it only where the CPU has native bf16:
            AMX / AVX512-BF16; elsewhere it is emulated and slower).
        int8: int8 dynamic quantisation of the LM's ``nn.Linear`` layers (feed-forward, output
            projections, codebook heads; audiocraft's packed attention in-projections stay float:
            with ``bf16`` too, the copy stores them as bf16, :func:`bf16_projections`).
        threads: intra-op threads while sampling; ``None`` keeps :attr:`LoadedModel.num_threads`.
    """

    bf16: bool = False
    int8: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be a whole number ≥ 1 or None, got {self.threads!r}")

    @property
    def is_default(self) -> bool:
        return self == SpeedSettings()

    def to_dict(self) -> dict[str, tp.Any]:
        """What a take records (:attr:`.take.Take.speed`): precision, quantisation and threads."""
        return {"precision": "bf16 autocast" if self.bf16 else "float32",
                "quantisation": "int8 dynamic (linear layers)" if self.int8 else "none",
                "threads": self.threads, "label": self.label()}

    def label(self) -> str:
        parts = [name for name, on in (("bf16", self.bf16), ("int8", self.int8)) if on]
        if self.threads is not None:
            parts.append(f"{self.threads} threads")
        return "+".join(parts) or "float32"


DEFAULT = SpeedSettings()


def bf16_native() -> bool:
    """Whether this CPU computes bf16 natively (AMX tiles or AVX512-BF16)."""
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    if amx is not None and amx():
        return True
    try:
        with open("/proc/cpuinfo") as f:
            return "avx512_bf16" in f.read()
    except OSError:
        return False


def quantized_lm(lm: nn.Module) -> nn.Module:
    """An int8 dynamically quantised copy of ``lm`` (its ``nn.Linear`` layers); ``lm`` is left as it is.

    The copy keeps every instance attribute (the bundled loader's top-k clamp among them). The copy is
    quantised in place, so the peak is one float32 copy (not two: 15 GB instead of 22 GB at
    AudioGen-medium's size).
    """
    from torch.ao.quantization import quantize_dynamic
    return quantize_dynamic(copy.deepcopy(lm).cpu(), {nn.Linear}, dtype=torch.qint8, inplace=True)


def bf16_projections(lm: nn.Module) -> int:
    """Store the attention in-projection weights of ``lm`` (a quantised copy: the float GEMMs int8
    leaves, since audiocraft's attention calls ``F.linear`` on them directly) as bf16, so bf16 autocast
    stops reading and casting their float32 copies at every step. Same values autocast would use, half
    the memory traffic. Only for a copy that samples under bf16 autocast. Returns how many were cast."""
    cast = 0
    for module in lm.modules():
        weight = module._parameters.get("in_proj_weight")
        if weight is not None and weight.dtype == torch.float32:
            module._parameters["in_proj_weight"] = nn.Parameter(weight.detach().to(torch.bfloat16),
                                                                requires_grad=False)
            cast += 1
    return cast


def autocast(settings: SpeedSettings, device: torch.device) -> tp.ContextManager[tp.Any]:
    """bf16 autocast on ``device`` when ``settings.bf16``; otherwise nothing."""
    if not settings.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
