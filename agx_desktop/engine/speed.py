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
from torch.nn import functional as F


@dataclass(frozen=True)
class SpeedSettings:
    """How the LM runs while sampling.

    Attributes:
        bf16: bf16 autocast around the LM's sampling (worth it only where the CPU has native bf16:
            AMX / AVX512-BF16; elsewhere it is emulated and slower).
        int8: int8 dynamic quantisation of every GEMM weight of the LM (its ``nn.Linear`` layers and
            audiocraft's packed attention in-projections, :func:`quantized_lm`), with the
            cross-attention keys/values of the unchanged condition projected once per generation.
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
                "quantisation": "int8 dynamic (linear layers, attention in-projections)" if self.int8 else "none",
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
    """An int8 dynamically quantised copy of ``lm``; ``lm`` is left as it is.

    Quantised: every ``nn.Linear`` (feed-forward, attention output projections, codebook heads; torch's
    ``quantize_dynamic``) and audiocraft's packed attention in-projections (:func:`quantize_in_projections`),
    which are Parameters its attention passes to ``F.linear`` itself, so ``quantize_dynamic`` never sees
    them: at AudioGen-medium's shape they are 37 % of the weights and, left float, ~70 % of the bytes a
    sampling step reads. The copy keeps every instance attribute (the bundled loader's top-k clamp among
    them). It is quantised in place, so the peak is one float32 copy (15 GB instead of 22 GB at
    AudioGen-medium's size).
    """
    from torch.ao.quantization import quantize_dynamic
    copied = quantize_dynamic(copy.deepcopy(lm).cpu(), {nn.Linear}, dtype=torch.qint8, inplace=True)
    quantize_in_projections(copied)
    return copied


class Int8InProjection(torch.Tensor):
    """audiocraft's packed attention in-projection weight ``[3 * D, D]``, held as int8.

    A tensor with the weight's shape and no data (on the meta device) that stands in for the
    ``in_proj_weight`` Parameter of a ``StreamingMultiheadAttention``. Its ``__torch_function__`` answers
    the only things audiocraft's attention (and :mod:`.intervention`) does with it: ``.shape``, the row
    slices ``[:D]``, ``[D:2D]``, ``[2D:]`` a cross-attention takes, and ``F.linear(x, w, b)``, which runs
    torch's dynamic int8 GEMM (``quantized::linear_dynamic``, the kernel of ``quantize_dynamic``'s
    Linear) on weights packed once. Anything else raises: a float read of these weights cannot happen.

    Cross-attention keys and values (rows ``[D:]``): the condition tokens are the same at every sampling
    step, yet audiocraft projects them anew at each one (2·D² weights per layer and step). While no
    gradient is recorded, a K/V call whose input equals the previous one (compared element for element)
    returns that call's output: the same numbers (the same int8 arithmetic on the same input), computed
    once per generation instead of once per step.
    """

    _parts: dict[tuple[int, int], tp.Any]  # rows (start, stop) -> torch's dynamic quantised Linear
    _rows: tuple[int, int]
    _cache_kv: bool
    _last: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]]
    hits: list[int]  # [K/V calls answered from the cache, K/V calls computed]: for tests and benchmarks

    @staticmethod
    def __new__(cls, weight: torch.Tensor, cross_attention: bool) -> "Int8InProjection":
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        from torch.ao.quantization import per_channel_dynamic_qconfig
        self = torch.Tensor._make_subclass(cls, torch.empty(weight.shape, dtype=weight.dtype, device="meta"))
        dim = weight.shape[0] // 3
        rows = [(0, dim), (dim, 2 * dim), (2 * dim, 3 * dim)] if cross_attention else [(0, 3 * dim)]
        self._parts = {}
        for start, stop in rows:  # per output row scales: q, k and v rows keep their own ranges
            float_linear = nn.Linear(weight.shape[1], stop - start, bias=False)
            float_linear.weight = nn.Parameter(weight.detach()[start:stop].float(), requires_grad=False)
            float_linear.qconfig = per_channel_dynamic_qconfig
            self._parts[(start, stop)] = DynamicLinear.from_float(float_linear)
        self._rows, self._cache_kv, self._last, self.hits = (0, weight.shape[0]), cross_attention, {}, [0, 0]
        return self

    def _view(self, rows: tuple[int, int]) -> "Int8InProjection":
        view = torch.Tensor._make_subclass(type(self), torch.empty((rows[1] - rows[0], self.shape[1]), device="meta"))
        view._parts, view._rows, view._cache_kv, view._last, view.hits = (self._parts, rows, self._cache_kv,
                                                                           self._last, self.hits)
        return view

    def _linear(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        part = self._parts.get(self._rows)
        if part is None:
            raise TypeError(f"int8 in-projection: rows {self._rows} were not packed (packed: {sorted(self._parts)})")
        kv = self._cache_kv and self._rows[0] > 0 and not torch.is_grad_enabled()
        if kv:
            last = self._last.get(self._rows)
            if last is not None and last[0].shape == x.shape and last[0].dtype == x.dtype and torch.equal(last[0], x):
                self.hits[0] += 1
                return last[1]
        out = part(x if x.dtype == torch.float32 else x.float()).to(x.dtype)
        if bias is not None:
            out = out + bias
        if kv:
            self.hits[1] += 1
            self._last[self._rows] = (x.detach().clone(), out)
        return out

    @classmethod
    def __torch_function__(cls, func: tp.Any, types: tp.Any, args: tp.Any = (), kwargs: tp.Any = None) -> tp.Any:
        kwargs = kwargs or {}
        if func is F.linear:
            x, weight = args[0], args[1]
            bias = args[2] if len(args) > 2 else kwargs.get("bias")
            if isinstance(weight, Int8InProjection) and not isinstance(x, Int8InProjection):
                return weight._linear(x, bias)
        elif func is torch.Tensor.__getitem__ and isinstance(args[1], slice) and args[1].step in (None, 1):
            weight, index = args
            start, stop, _ = index.indices(weight._rows[1] - weight._rows[0])
            return weight._view((weight._rows[0] + start, weight._rows[0] + stop))
        elif getattr(func, "__name__", "") in ("__get__", "size", "dim", "__repr__", "__format__"):
            with torch._C.DisableTorchFunctionSubclass():  # shape, dtype, device: the meta tensor's own
                return func(*args, **kwargs)
        raise TypeError(f"int8 in-projection: {getattr(func, '__name__', func)} is not supported "
                        "(the float weights are gone: only F.linear and row slices are)")

    def __deepcopy__(self, memo: dict) -> "Int8InProjection":
        return self  # packed, never written: a copy of the LM may share it


def quantize_in_projections(lm: nn.Module) -> int:
    """Replace each audiocraft attention's packed ``in_proj_weight`` Parameter in ``lm`` by an
    :class:`Int8InProjection` (per output row int8 scales), freeing its float32 weights. Only attentions
    that run audiocraft's own ``F.linear`` path (``custom``) have one; torch's ``nn.MultiheadAttention``
    (``custom=False``) stays float. Returns how many were quantised."""
    done = 0
    for module in lm.modules():
        weight = module._parameters.get("in_proj_weight")
        if weight is None or not getattr(module, "custom", False):
            continue
        packed = Int8InProjection(weight, cross_attention=bool(getattr(module, "cross_attention", False)))
        del module._parameters["in_proj_weight"]
        module.__dict__["in_proj_weight"] = packed
        done += 1
    return done


def kv_cache_counts(lm: nn.Module) -> tuple[int, int]:
    """(cross-attention K/V projections answered from the cache, computed) in ``lm`` so far."""
    seen = {id(m.__dict__["in_proj_weight"].hits): m.__dict__["in_proj_weight"].hits for m in lm.modules()
            if isinstance(m.__dict__.get("in_proj_weight"), Int8InProjection)}
    return sum(h[0] for h in seen.values()), sum(h[1] for h in seen.values())


def autocast(settings: SpeedSettings, device: torch.device) -> tp.ContextManager[tp.Any]:
    """bf16 autocast on ``device`` when ``settings.bf16``; otherwise nothing."""
    if not settings.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
