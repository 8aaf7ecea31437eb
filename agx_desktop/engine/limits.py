"""The range of every number a user can give the engine, checked in one place.

The CLI's argument parser, :meth:`GenerationParams.validate`, :func:`generation.generate` and the
explainers all check their numbers here, so a value is refused with the same one-line message
wherever it enters (command line, engine API, the app, a take.json read back) and before any
model is loaded. Every limit is finite: NaN, ±inf and numbers too large to mean anything are
refused by name instead of reaching the sampler (where they end in a traceback) or a JSON file
(where strict readers reject ``NaN``/``Infinity``).

No torch here: the CLI imports this while parsing arguments, before deciding to load anything.
"""
from __future__ import annotations

import math
import numbers
import typing as tp

from .errors import ParameterError

#: torch.manual_seed and numpy's generators take a signed 64-bit seed.
MAX_SEED = 2 ** 63 - 1
#: no audio codebook comes near this many codes (AudioGen: 2048); the sampler uses min(top-k, codes).
MAX_TOP_K = 1_000_000
#: above this every code is (almost) equally likely: the sample is noise whatever the prompt.
MAX_TEMPERATURE = 100.0
#: Measured on the bundled model: from guidance ~1000 on the sample no longer changes (the sampler
#: always picks the same codes), and near 1e38 the float32 logits overflow to inf and sampling
#: fails with "probability tensor contains inf/nan". 100 is far above any useful value (AudioGen's 3).
MAX_CFG = 100.0
#: a word weight multiplies that word's cross-attention weights; past 10 a boost only saturates
#: (and near 1e38 it overflows float32 and sampling fails, as for guidance).
MAX_WORD_WEIGHT = 10.0
#: explainer budgets: far above any sensible run, low enough that a typo does not run for weeks.
MAX_EPOCHS = 100_000
MAX_DRAWS = 1_000
MAX_PERMUTATIONS = 1_000
MAX_SAMPLES = 1_000

DEFAULT_CROSSFADE = 0.05
"""Seconds of a regenerated region's equal-power crossfades (a setting; 50 ms by default). Here, not in
:mod:`.region`, so the app's window reads it without importing torch (issue 19)."""

SEED_RANGE = f"an integer from 0 to 2**63-1 ({MAX_SEED})"


def _show(value: tp.Any, limit: int = 40) -> str:
    """``value`` as written in a message, cut short (a 2**70 seed or a 5000-digit number)."""
    text = str(value) if isinstance(value, numbers.Number) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _is_real(value: tp.Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integer(value: tp.Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _finite_float(value: tp.Any) -> float | None:
    """``value`` as a float if it is a finite real number (a huge Fraction/int counts as infinite), else None."""
    if not _is_real(value):
        return None
    try:
        x = float(value)
    except (OverflowError, ValueError):
        return None
    return x if math.isfinite(x) else None


def check_real(name: str, value: tp.Any, lo: float, hi: float, *, lo_open: bool = False,
               hint: str = "") -> float:
    """``value`` as a float if it is a finite number in [lo, hi] (``(lo, hi]`` with ``lo_open``).

    Raises :class:`ParameterError` naming ``name`` otherwise.
    """
    x = _finite_float(value)
    if x is None or not ((x > lo if lo_open else x >= lo) and x <= hi):
        left = "above" if lo_open else "from"
        raise ParameterError(f"{name} must be a finite number {left} {lo:g} to {hi:g}{hint}, got {_show(value)}")
    return x


def check_int(name: str, value: tp.Any, lo: int, hi: int, *, hint: str = "") -> int:
    """``value`` as an int if it is an integer in [lo, hi]; :class:`ParameterError` otherwise."""
    if not (_is_integer(value) and lo <= int(value) <= hi):
        note = f"a whole number; {hint}" if hint else "a whole number"
        raise ParameterError(f"{name} must be >= {lo} and <= {hi} ({note}), got {_show(value)}")
    return int(value)


def check_seed(value: tp.Any, name: str = "seed") -> int:
    """A seed as an int in [0, 2**63-1]; :class:`ParameterError` otherwise."""
    if not (_is_integer(value) and 0 <= int(value) <= MAX_SEED):
        raise ParameterError(f"{name} must be {SEED_RANGE}, got {_show(value)}")
    return int(value)


def check_duration(value: tp.Any) -> float:
    """A duration in seconds: finite and above 0 (the model's own maximum is checked once it is loaded)."""
    if not _is_real(value):
        raise ParameterError(f"duration must be a number of seconds above 0, got {_show(value)}")
    x = _finite_float(value)
    if x is None or not x > 0:
        raise ParameterError(f"duration must be a finite number of seconds above 0, got {_show(value)}")
    return x


def check_word_weight(value: tp.Any, word: str | None = None) -> float:
    """A per-word weight: finite, 0 (mute) to :data:`MAX_WORD_WEIGHT` (boost)."""
    where = f" of '{word}'" if word is not None else ""
    x = _finite_float(value)
    if x is not None and 0.0 <= x <= MAX_WORD_WEIGHT:
        return x
    raise ParameterError(f"the weight{where} must be a finite number >= 0 and <= {MAX_WORD_WEIGHT:g} "
                         f"(0 mutes, 1 leaves, >1 boosts), got {_show(value)}")


def check_finite_tree(name: str, value: tp.Any) -> None:
    """Refuse NaN/±inf anywhere inside a parameter value (numbers, lists, tuples, dicts)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, numbers.Real):
        if _finite_float(value) is None:
            raise ParameterError(f"{name} must be a finite number, got {_show(value)}")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_finite_tree(f"{name}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_finite_tree(name, v)


__all__ = ["MAX_SEED", "MAX_TOP_K", "MAX_TEMPERATURE", "MAX_CFG", "MAX_WORD_WEIGHT", "MAX_EPOCHS", "MAX_DRAWS",
           "MAX_PERMUTATIONS", "MAX_SAMPLES", "check_real", "check_int", "check_seed", "check_duration",
           "check_word_weight", "check_finite_tree"]
