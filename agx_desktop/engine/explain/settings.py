"""What an explanation method can be told: a typed, frozen settings dataclass with declared fields.

Each method declares its settings once, as a dataclass deriving from :class:`ExplainerSettings`
whose fields are made with :func:`option` (default, one-line help, allowed range or choices, and
whether the app shows it). Everything else is read from those declarations: the validation (one
:class:`ParameterError` line naming the option and its range; NaN/inf refused), the ``agx explain``
and ``agx evaluate`` options (:mod:`..cli`), and the app's explainer form. No torch here: the CLI
builds its parser from these before anything heavy loads.

Field types: ``int``, ``float``, ``bool``, ``str`` with ``choices``, ``tuple[float, float]`` (an
interval in seconds); ``X | None`` where None means "decided when the method runs" (e.g. a
learning rate that depends on the mode).
"""
from __future__ import annotations

import dataclasses
import math
import typing as tp

from .. import limits
from ..errors import ParameterError

Kind = tp.Literal["int", "float", "bool", "choice", "interval"]
_NO_BOUND = math.inf


@dataclasses.dataclass(frozen=True)
class Option:
    """What a settings field declares beyond its name, type and default."""

    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the range excludes ``low`` (a temperature of 0 divides by zero)
    choices: tuple[str, ...] = ()
    in_app: bool = False  # shown in the app's explainer form (the CLI and evaluate show every field)
    app_range: tuple[float, float] | None = None  # the narrower range the app's editor offers
    label: str = ""  # the app's label; default: the name
    check: tp.Callable[[tp.Any], tp.Any] | None = None  # replaces the range check (seeds: their own message)


def option(default: tp.Any, help: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, choices: tp.Sequence[str] = (), in_app: bool = False,
           app_range: tuple[float, float] | None = None, label: str = "",
           check: tp.Callable[[tp.Any], tp.Any] | None = None) -> tp.Any:
    """A settings field: ``epochs: int = option(50, "training epochs", low=1, high=MAX_EPOCHS)``."""
    meta = Option(help=help, low=low, high=high, low_open=low_open, choices=tuple(choices), in_app=in_app,
                  app_range=app_range, label=label, check=check)
    return dataclasses.field(default=default, metadata={"option": meta})


def seed_option(help: str) -> tp.Any:
    """A random seed (0 to 2**63-1, default 0), refused with the engine's usual seed message."""
    return option(0, help, low=0, high=limits.MAX_SEED, check=limits.check_seed)


@dataclasses.dataclass(frozen=True)
class Field:
    """One declared setting, read from the dataclass: what the CLI, evaluate and the app generate from."""

    name: str
    kind: Kind
    default: tp.Any
    optional: bool  # None allowed: decided when the method runs
    option: Option

    @property
    def help(self) -> str:
        return self.option.help

    @property
    def label(self) -> str:
        return self.option.label or self.name.replace("_", " ").capitalize()

    def range_text(self) -> str:
        """The allowed values in words, for help texts: "1 to 100000", "above 0, up to 1"; "" when any
        finite number (or any of the kind) goes."""
        o = self.option
        if self.kind == "choice":
            return "one of " + ", ".join(o.choices)
        if self.kind != "int" and self.kind != "float":
            return ""

        def show(x: float) -> str:
            if x == limits.MAX_SEED:
                return "2**63-1"
            return str(int(x)) if self.kind == "int" else f"{x:g}"
        low = None if o.low is None else ("above " if o.low_open else "") + show(o.low)
        high = None if o.high is None else show(o.high)
        if low and high:
            return f"{low}, up to {high}" if o.low_open else f"{low} to {high}"
        if low:
            return low if o.low_open else f">= {low}"
        return f"<= {high}" if high else ""

    def check(self, value: tp.Any) -> tp.Any:
        """``value`` validated and normalised (int, float, bool, str, (start, end)); raises
        :class:`ParameterError` with one line naming this field and its allowed values."""
        if value is None and self.optional:
            return None
        o = self.option
        if self.kind == "int":
            if o.check is not None:
                return o.check(value)
            lo = -limits.MAX_SEED if o.low is None else int(o.low)
            hi = limits.MAX_SEED if o.high is None else int(o.high)
            return limits.check_int(self.name, value, lo, hi)
        if self.kind == "float":
            lo = -_NO_BOUND if o.low is None else o.low
            hi = _NO_BOUND if o.high is None else o.high
            try:
                return limits.check_real(self.name, value, lo, hi, lo_open=o.low_open)
            except ParameterError:
                if o.low is None and o.high is None:  # "from -inf to inf" says nothing: say finite
                    raise ParameterError(f"{self.name} must be a finite number, got {limits._show(value)}") from None
                raise
        if self.kind == "bool":
            if type(value).__name__ not in ("bool", "bool_"):
                raise ParameterError(f"{self.name} must be true or false, got {limits._show(value)}")
            return bool(value)
        if self.kind == "choice":
            if not isinstance(value, str) or value not in o.choices:
                raise ParameterError(f"{self.name} must be one of {', '.join(o.choices)}, got {limits._show(value)}")
            return value
        return self._interval(value)

    def _interval(self, value: tp.Any) -> tuple[float, float]:
        bad = ParameterError(f"{self.name} must be (start, end) in seconds, two finite numbers, "
                             f"got {limits._show(value)}")
        if isinstance(value, (str, bytes)) or not isinstance(value, tp.Iterable):
            raise bad
        items = list(value)
        if len(items) != 2:
            raise bad
        try:
            start, end = (limits.check_real(self.name, v, -_NO_BOUND, _NO_BOUND) for v in items)
        except ParameterError:
            raise bad from None
        return start, end

    def parse(self, text: str) -> tp.Any:
        """A command-line word as this field's value (checked); text that is no number is refused by
        :meth:`check` with the field's own message."""
        if self.kind == "int":
            try:
                return self.check(int(text))
            except (ValueError, OverflowError):
                return self.check(text)
        if self.kind in ("float", "interval"):
            try:
                value = float(text)
            except (ValueError, OverflowError):
                value = text
            if self.kind == "interval":
                return limits.check_real(f"{self.name} time", value, -1e9, 1e9, hint=" seconds")
            return self.check(value)
        return self.check(text)

    def to_json(self, value: tp.Any) -> tp.Any:
        """``value`` as JSON holds it (an interval as a list)."""
        return list(value) if isinstance(value, tuple) else value


def _kind(hint: tp.Any, name: str) -> tuple[Kind, bool]:
    """(kind, optional) of a field's resolved type hint."""
    args = tp.get_args(hint)
    optional = type(None) in args
    if optional:
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else hint
    origin = tp.get_origin(hint)
    if hint is bool:
        return "bool", optional
    if hint is int:
        return "int", optional
    if hint is float:
        return "float", optional
    if hint is str:
        return "choice", optional
    if origin is tuple and tp.get_args(hint) == (float, float):
        return "interval", optional
    raise TypeError(f"settings field {name}: unsupported type {hint!r} (int, float, bool, str with choices, "
                    "tuple[float, float], or one of those | None)")


@dataclasses.dataclass(frozen=True)
class ExplainerSettings:
    """Base of every method's settings: a frozen dataclass validated when made.

    ``Settings()`` are the defaults; ``Settings(epochs=10)`` or :meth:`from_values` check every value
    (one :class:`ParameterError` line naming the option).
    """

    def __post_init__(self) -> None:
        for f in self.fields():
            object.__setattr__(self, f.name, f.check(getattr(self, f.name)))

    @classmethod
    def fields(cls) -> tuple[Field, ...]:
        """The declared fields, in declaration order."""
        cached = cls.__dict__.get("_fields_cache")
        if cached is not None:
            return cached
        hints = tp.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            opt = f.metadata.get("option")
            if opt is None:
                raise TypeError(f"{cls.__name__}.{f.name}: declare it with option(...)")
            kind, optional = _kind(hints[f.name], f.name)
            if kind == "choice" and not opt.choices:
                raise TypeError(f"{cls.__name__}.{f.name}: a str field needs choices")
            out.append(Field(f.name, kind, f.default, optional, opt))
        fields = tuple(out)
        setattr(cls, "_fields_cache", fields)
        return fields

    @classmethod
    def field(cls, name: str) -> Field:
        for f in cls.fields():
            if f.name == name:
                return f
        raise KeyError(name)

    @classmethod
    def from_values(cls, values: tp.Mapping[str, tp.Any], method: str = "explainer") -> "ExplainerSettings":
        """Settings from ``{name: value}`` overrides (None = the default); unknown names and bad
        values are refused with one line (``method`` names the method there)."""
        known = {f.name for f in cls.fields()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ParameterError(f"unknown {method} parameter(s): {', '.join(unknown)} "
                                 f"(known: {', '.join(sorted(known)) or 'none'})")
        return cls(**{k: v for k, v in values.items() if v is not None})

    def resolved(self, model: tp.Any = None) -> "ExplainerSettings":
        """The settings a run uses: fields left None ("decided when it runs") filled in. ``model``
        may be None where a method's choice does not depend on it."""
        return self

    def to_dict(self) -> dict[str, tp.Any]:
        """``{name: value}`` as JSON holds it (what an explanation records in ``params``)."""
        return {f.name: f.to_json(getattr(self, f.name)) for f in self.fields()}

    def changed(self) -> dict[str, tp.Any]:
        """Only the values that differ from the defaults, as JSON holds them."""
        return {f.name: f.to_json(getattr(self, f.name)) for f in self.fields()
                if getattr(self, f.name) != f.default}


__all__ = ["ExplainerSettings", "Field", "Option", "option", "seed_option"]
