"""Speed settings for sampling on a CPU: bf16 autocast, int8 dynamic quantisation, thread count.

All off by default: each changes the numbers the LM computes (not only how fast), so a take made
with one is not the take the same seed gives without it. Their fidelity (per-step next-code
distributions against float32 under teacher forcing: KL and top-1 agreement) and speed are
measured side by side by ``benchmarks/bench_speed.py`` (``benchmarks/results/speed.md``), which is
what the defaults rest on. A model gets them through :meth:`.models.LoadedModel.with_speed`.

Also here, changing no number: :func:`cross_kv_cache`, the condition's cross-attention keys/values
projected once per generation instead of at every step (part of int8 always; for float32 LMs a context
around sampling).
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

    Quantised: every ``nn.Linear`` of the transformer and the codebook heads (feed-forward, attention output
    projections, heads; torch's ``quantize_dynamic``) and audiocraft's packed attention in-projections (:func:`quantize_in_projections`),
    which are Parameters its attention passes to ``F.linear`` itself, so ``quantize_dynamic`` never sees
    them: at AudioGen-medium's shape they are 37 % of the weights and, left float, ~70 % of the bytes a
    sampling step reads. The copy keeps every instance attribute (the bundled loader's top-k clamp among
    them). It is quantised in place, so the peak is one float32 copy (15 GB instead of 22 GB at
    AudioGen-medium's size).
    """
    from torch.ao.quantization import quantize_dynamic
    copied = copy.deepcopy(lm, _shared_text_encoders(lm)).cpu()
    # the per-step weights only: the text conditioner's projection runs once per take, and audiocraft's
    # T5 conditioner (as the bundled one) reads its ``output_proj.weight`` as a tensor, which a quantised
    # Linear does not have
    for name in ("transformer", "linears"):
        part = getattr(copied, name, None)
        if isinstance(part, nn.Module):
            quantize_dynamic(part, {nn.Linear}, dtype=torch.qint8, inplace=True)
    quantize_in_projections(copied.transformer if isinstance(getattr(copied, "transformer", None), nn.Module)
                            else copied)
    return copied


def _shared_text_encoders(lm: nn.Module) -> dict[int, tp.Any]:
    """A ``deepcopy`` memo that makes a copy of ``lm`` share its text conditioners' frozen encoders and
    tokenizers: they live outside the module tree (audiocraft's T5 in ``__dict__['t5']``, the bundled
    MiniLM's ``encoder``), are never written, and would otherwise be copied whole (AudioGen-medium's T5,
    the bundled model's MiniLM at 9x its LM's size)."""
    memo: dict[int, tp.Any] = {}
    provider = getattr(lm, "condition_provider", None)
    for cond in getattr(provider, "conditioners", {}).values():
        for key, value in vars(cond).items():
            if isinstance(value, nn.Module) or "tokenizer" in key:
                memo[id(value)] = value
    return memo


class PackedInProjection(torch.Tensor):
    """A data-less stand-in (meta device, the weight's shape) for the ``in_proj_weight`` Parameter of an
    audiocraft ``StreamingMultiheadAttention``, whose ``__torch_function__`` answers the only things that
    attention (and :mod:`.intervention`) does with it: ``.shape``, the row slices ``[:D]``, ``[D:2D]``,
    ``[2D:]`` a cross-attention takes, ``F.linear(x, w, b)``, computed by :meth:`_compute` from the
    weights the subclass keeps per row range (``_parts``), and ``w.float()`` of a slice (:mod:`.live` folds
    the query rows into its keys once per take). Anything else raises.

    Cross-attention keys and values (rows ``[D:]``): the condition tokens are the same at every sampling
    step, yet audiocraft projects them anew at each one (2·D² weights per layer and step). While no
    gradient is recorded, a K/V call whose input equals the previous one (compared element for element)
    returns that call's output: the same numbers, computed once per generation instead of once per step.
    """

    what = "in-projection"
    _parts: dict[tuple[int, int], tp.Any]  # rows (start, stop) -> what computes x @ W[start:stop].T
    _rows: tuple[int, int]
    _cache_kv: bool
    _last: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]]
    hits: list[int]  # [K/V calls answered from the cache, K/V calls computed]: for tests and benchmarks

    @staticmethod
    def _stand_in(cls: type, shape: tp.Sequence[int], parts: dict, cross_attention: bool) -> tp.Any:
        self = torch.Tensor._make_subclass(cls, torch.empty(tuple(shape), device="meta"))
        self._parts, self._rows, self._cache_kv, self._last, self.hits = (parts, (0, shape[0]), cross_attention,
                                                                           {}, [0, 0])
        return self

    def _compute(self, part: tp.Any, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _dense(self) -> torch.Tensor:
        """These rows as a float32 tensor (``w.float()``): what :mod:`.live` folds into its keys."""
        raise NotImplementedError

    def _part(self) -> tp.Any:
        part = self._parts.get(self._rows)
        if part is None:
            raise TypeError(f"{self.what}: rows {self._rows} were not packed (packed: {sorted(self._parts)})")
        return part

    def _view(self, rows: tuple[int, int]) -> "PackedInProjection":
        view = torch.Tensor._make_subclass(type(self), torch.empty((rows[1] - rows[0], self.shape[1]), device="meta"))
        view._parts, view._rows, view._cache_kv, view._last, view.hits = (self._parts, rows, self._cache_kv,
                                                                           self._last, self.hits)
        return view

    def _linear(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        part = self._part()
        kv = self._cache_kv and self._rows[0] > 0 and not torch.is_grad_enabled()
        if kv:
            last = self._last.get(self._rows)
            if last is not None and last[0].shape == x.shape and last[0].dtype == x.dtype and torch.equal(last[0], x):
                self.hits[0] += 1
                return last[1]
        out = self._compute(part, x)
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
            if isinstance(weight, PackedInProjection) and not isinstance(x, PackedInProjection):
                return weight._linear(x, bias)
        elif func is torch.Tensor.__getitem__ and isinstance(args[1], slice) and args[1].step in (None, 1):
            weight, index = args
            start, stop, _ = index.indices(weight._rows[1] - weight._rows[0])
            return weight._view((weight._rows[0] + start, weight._rows[0] + stop))
        elif func is torch.Tensor.float and isinstance(args[0], PackedInProjection) and len(args) == 1:
            return args[0]._dense()  # the live map folds the query rows into the keys once per take
        elif getattr(func, "__name__", "") in ("__get__", "size", "dim", "__repr__", "__format__"):
            with torch._C.DisableTorchFunctionSubclass():  # shape, dtype, device: the meta tensor's own
                return func(*args, **kwargs)
        raise TypeError(f"{cls.what}: {getattr(func, '__name__', func)} is not supported "
                        "(only F.linear and row slices are)")

    def __deepcopy__(self, memo: dict) -> "PackedInProjection":
        return self  # never written: a copy of the LM may share it


class Int8InProjection(PackedInProjection):
    """audiocraft's packed attention in-projection weight ``[3 * D, D]``, held as int8
    (:class:`PackedInProjection`): ``F.linear`` runs torch's dynamic int8 GEMM
    (``quantized::linear_dynamic``, the kernel of ``quantize_dynamic``'s Linear) on weights packed once,
    per output row scales (q, k and v rows keep their own ranges). The float32 weights are gone, so a
    float read of them cannot happen. Its cross-attention K/V cache repeats the same int8 arithmetic on
    the same input, so it changes no number.
    """

    what = "int8 in-projection"

    @staticmethod
    def __new__(cls, weight: torch.Tensor, cross_attention: bool) -> "Int8InProjection":
        from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
        from torch.ao.quantization import per_channel_dynamic_qconfig
        dim = weight.shape[0] // 3
        rows = [(0, dim), (dim, 2 * dim), (2 * dim, 3 * dim)] if cross_attention else [(0, 3 * dim)]
        parts = {}
        for start, stop in rows:
            float_linear = nn.Linear(weight.shape[1], stop - start, bias=False)
            float_linear.weight = nn.Parameter(weight.detach()[start:stop].float(), requires_grad=False)
            float_linear.qconfig = per_channel_dynamic_qconfig
            parts[(start, stop)] = DynamicLinear.from_float(float_linear)
        return PackedInProjection._stand_in(cls, weight.shape, parts, cross_attention)

    def _compute(self, part: tp.Any, x: torch.Tensor) -> torch.Tensor:
        return part(x if x.dtype == torch.float32 else x.float()).to(x.dtype)

    def _dense(self) -> torch.Tensor:
        return self._part().weight().dequantize()  # the int8 values, as the GEMM uses them


class CachedInProjection(PackedInProjection):
    """A cross-attention's float in-projection weight as it is (row views of the same Parameter), with
    :class:`PackedInProjection`'s K/V cache: ``F.linear`` is torch's own on the same weight rows, so every
    number is the one audiocraft computes; the condition's keys and values are computed once per
    generation. Put in place only while sampling, by :func:`cross_kv_cache`."""

    what = "cross-attention in-projection"

    @staticmethod
    def __new__(cls, weight: torch.Tensor) -> "CachedInProjection":
        dim = weight.shape[0] // 3
        parts = {(a, b): weight[a:b] for a, b in ((0, dim), (dim, 2 * dim), (2 * dim, 3 * dim))}
        return PackedInProjection._stand_in(cls, weight.shape, parts, True)

    def _compute(self, part: tp.Any, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, part)

    def _dense(self) -> torch.Tensor:
        return self._part().float()


#: LM width from which :func:`cross_kv_cache` swaps its stand-ins in: below it (the bundled model, 192
#: wide) a step is Python-bound and the K/V GEMMs are microseconds, so the stand-in's dispatch would cost more.
CROSS_KV_MIN_DIM = 1024


@contextlib.contextmanager
def cross_kv_cache(lm: nn.Module, min_dim: int | None = None) -> tp.Iterator[int]:
    """While the body runs, each custom cross-attention of ``lm`` (dim ≥ ``min_dim``) computes the
    condition's keys and values once per generation instead of once per step (:class:`CachedInProjection`);
    every number stays the one audiocraft computes (tested against its own ``generate``). The float
    Parameters are put back on exit, even on error; nothing else about ``lm`` changes. Yields how many
    attentions were swapped. ``min_dim`` defaults to :data:`CROSS_KV_MIN_DIM`, read at call time."""
    swapped: list[tuple[nn.Module, nn.Parameter]] = []
    if int(getattr(lm, "dim", 0)) >= (CROSS_KV_MIN_DIM if min_dim is None else min_dim):
        for module in lm.modules():
            weight = module._parameters.get("in_proj_weight")
            if weight is not None and getattr(module, "custom", False) and getattr(module, "cross_attention", False):
                del module._parameters["in_proj_weight"]
                module.__dict__["in_proj_weight"] = CachedInProjection(weight)
                swapped.append((module, weight))
    try:
        yield len(swapped)
    finally:
        for module, weight in reversed(swapped):
            module.__dict__.pop("in_proj_weight", None)
            module._parameters["in_proj_weight"] = weight


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
            if isinstance(m.__dict__.get("in_proj_weight"), PackedInProjection)}
    return sum(h[0] for h in seen.values()), sum(h[1] for h in seen.values())


def autocast(settings: SpeedSettings, device: torch.device) -> tp.ContextManager[tp.Any]:
    """bf16 autocast on ``device`` when ``settings.bf16``; otherwise nothing."""
    if not settings.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
