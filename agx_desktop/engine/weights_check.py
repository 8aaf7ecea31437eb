"""Checks that a checkpoint's config and weights describe one sane model, before it is built.

A checkpoint is data from a file, and building it naively trusts that data: a huge ``dim`` asks
for terabytes, a huge ``num_layers`` loops for hours, a flipped exponent bit turns a weight into
NaN, an integer tensor where floats belong loads silently. Each of these becomes one
:class:`~agx_desktop.engine.errors.CheckpointError` line here, and every other failure while
building is turned into one by :func:`as_checkpoint_error` (never a traceback).

The size check builds the model once on PyTorch's ``meta`` device (shapes only, no memory), so a
config that describes a far larger model than its weights is refused before anything is allocated.
"""
from __future__ import annotations

import contextlib
import math
import typing as tp

import torch

from .errors import AgxError, CheckpointError
from .safetext import one_line

if tp.TYPE_CHECKING:
    from audiocraft.models.encodec import CompressionModel
    from audiocraft.models.lm import LMModel

LOOP_LIMIT = 4096
"""Most layers / codebooks / residual blocks a config may ask for (audiocraft's largest has 48
layers and 4 codebooks): the meta build loops over these, so they are bounded first."""
LOOP_KEYS = ("num_layers", "n_q", "n_residual_layers")
SIZE_SLACK = 1 << 20
"""Values a config may describe beyond twice what its weights hold (parts rebuilt, not saved)."""


@contextlib.contextmanager
def as_checkpoint_error(where: str, fix: str) -> tp.Iterator[None]:
    """Turn any failure in the body into ``CheckpointError("<where> (<Error>: <first line>); <fix>")``.

    Engine errors (including ``Cancelled``) pass through unchanged, and so do ``KeyboardInterrupt``
    and ``SystemExit`` (they are not ``Exception``), so a cancelled or interrupted load stops.
    """
    try:
        yield
    except AgxError:
        raise
    except Exception as exc:  # anything a malformed config or weights file makes a builder raise
        detail = one_line(str(exc))
        detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        raise CheckpointError(f"{where} ({detail}); {fix}") from exc


def check_loop_counts(tree: tp.Any, where: str, fix: str) -> None:
    """Refuse a ``num_layers`` / ``n_q`` / ``n_residual_layers`` anywhere in ``tree`` above LOOP_LIMIT."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in LOOP_KEYS and isinstance(value, int) and not isinstance(value, bool) \
                        and not 0 <= value <= LOOP_LIMIT:
                    raise CheckpointError(f"{where}: its config asks for {key} = {value} (at most {LOOP_LIMIT}); {fix}")
                stack.append(value)
        elif isinstance(node, (list, tuple)):
            stack.extend(node)


def dry_build(build: tp.Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """Run ``build`` with tensors created on the ``meta`` device: the module's shapes, no memory."""
    with torch.device("meta"):
        return build()


def count_values(tensors: tp.Iterable[torch.Tensor]) -> int:
    return sum(int(t.numel()) for t in tensors)


def check_size(meta_model: torch.nn.Module | int, state: tp.Mapping[str, torch.Tensor], where: str, fix: str) -> None:
    """Refuse a config describing a model much larger than the weights saved for it (a huge dim).

    ``meta_model`` is the model built by :func:`dry_build`, or the number of values it would hold.
    """
    want = meta_model if isinstance(meta_model, int) else count_values(meta_model.state_dict().values())
    have = count_values(state.values())
    if want > 2 * have + SIZE_SLACK:
        raise CheckpointError(f"{where}: its config describes a model of {want:,} values but the weights hold "
                              f"{have:,}, so config and weights do not belong together; {fix}")


def check_state(state: tp.Any, where: str, fix: str) -> dict[str, torch.Tensor]:
    """``state`` as a ``{name: dense tensor}`` table, or CheckpointError saying what it is instead."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: the weights are a {type(state).__name__}, not a table of named tensors; {fix}")
    for name, tensor in state.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{where}: weights entry {one_line(repr(name), 60)} is not a named tensor; {fix}")
        if tensor.layout != torch.strided or tensor.device.type != "cpu":
            raise CheckpointError(f"{where}: weights entry {one_line(name, 60)} is a {tensor.layout} tensor on "
                                  f"{tensor.device}, not plain CPU weights; {fix}")
    return state


def check_tensors(state: tp.Mapping[str, torch.Tensor], reference: tp.Mapping[str, torch.Tensor], where: str,
                  fix: str, exact_dtype: bool = False) -> None:
    """Each weight has the kind of values the model needs and no NaN/inf.

    ``exact_dtype`` demands the model's own dtype (the bundled files are written as float32);
    otherwise only the kind must agree (float16 weights load into a float32 model, as audiocraft's
    half-precision hub exports do, but integers or booleans never stand in for floats).
    """
    for name, tensor in state.items():
        ref = reference.get(name)
        if ref is not None:
            same_kind = (tensor.is_floating_point() == ref.is_floating_point()
                         and tensor.is_complex() == ref.is_complex()
                         and (tensor.dtype == torch.bool) == (ref.dtype == torch.bool))
            if not same_kind or (exact_dtype and tensor.dtype != ref.dtype):
                raise CheckpointError(f"{where}: weight {one_line(name, 80)} is {tensor.dtype}, the model needs "
                                      f"{ref.dtype}; {fix}")
        if (tensor.is_floating_point() or tensor.is_complex()) and tensor.numel() \
                and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{where}: weight {one_line(name, 80)} holds NaN or infinite values (a damaged "
                                  f"file?); {fix}")


def check_pair(lm: LMModel, codec: CompressionModel, where: str, fix: str) -> None:
    """The LM's tokens must be ones the codec can decode, at a usable rate."""
    lm_q, codec_q = int(lm.num_codebooks), int(codec.num_codebooks)
    if lm_q != codec_q:
        raise CheckpointError(f"{where}: the language model predicts {lm_q} codebooks but the compression model "
                              f"has {codec_q}; {fix}")
    lm_card, codec_card = int(lm.card), int(codec.cardinality)
    if lm_card != codec_card:
        raise CheckpointError(f"{where}: the language model predicts {lm_card} codes per codebook but the "
                              f"compression model has {codec_card}; {fix}")
    rate, frame_rate = _number(codec.sample_rate), _number(codec.frame_rate)
    if rate is None or not 1000 <= rate <= 384000:
        raise CheckpointError(f"{where}: the compression model's sample rate {one_line(repr(codec.sample_rate), 40)} "
                              f"is not an audio rate (1000-384000 Hz); {fix}")
    if frame_rate is None or not 0 < frame_rate <= rate:
        raise CheckpointError(f"{where}: the compression model's frame rate {one_line(repr(codec.frame_rate), 40)} "
                              f"is not usable; {fix}")


def _number(value: tp.Any) -> float | None:
    """``value`` as a finite float (ints, floats, numpy scalars), else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
