"""One interface for every explanation method, and the registry that names them.

A method is one module of this package holding a subclass of :class:`Explainer` decorated with
:func:`register`: its ``name``, a one-line ``summary``, its ``Settings`` (a frozen dataclass of
declared fields, :mod:`.settings`) and :meth:`Explainer.compute`, which gets a :class:`Run` — the
setup every method shares: the take's teacher inputs, the generated targets, the thread count,
the frozen-or-no-grad context, progress and cancel — and returns ``run.result(masks)``. The
package imports every module it holds, so a new method needs no other file: the CLI options,
``agx evaluate`` and the app's explainer form are generated from the registry.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import functools
import time
import typing as tp

import numpy as np

from ..errors import ExplanationError, UnknownMethodError
from ..explanation import Explanation
# the explanation's interval helpers, where older code (benchmarks) imports them from
from ..explanation import Interval, check_interval, frames_for_interval, steps_for_interval  # noqa: F401
from ..progress import CancelToken, ProgressFn, check, report
from .settings import ExplainerSettings

if tp.TYPE_CHECKING:
    import torch

    from ..models import LoadedModel
    from ..take import Take
    from ..teacher import TeacherInputs


@dataclasses.dataclass(frozen=True)
class NoSettings(ExplainerSettings):
    """The settings of a method that has none."""


class Run:
    """One explanation being computed: what every method needs, prepared once.

    ``inputs`` (teacher-forced sequence, condition, step → frame map) is ready when ``compute``
    starts; ``targets`` (the code each step generated) is made on first use. ``settings`` are the
    resolved ones (nothing left None).
    """

    def __init__(self, explainer: "Explainer", model: "LoadedModel", take: "Take", settings: ExplainerSettings,
                 progress: ProgressFn | None, cancel: CancelToken | None) -> None:
        from .. import teacher
        self.explainer, self.model, self.take = explainer, model, take
        self.settings = settings.resolved(model)
        self.progress, self.cancel = progress, cancel
        self.start = time.perf_counter()
        self.check()
        self.inputs: TeacherInputs = teacher.prepare(model, take)

    @functools.cached_property
    def targets(self) -> "torch.Tensor":
        """[K, steps] the code each step generated for each codebook; -1 where the pattern has none."""
        return step_targets(self.model, self.take)

    @property
    def n_tokens(self) -> int:
        return int(self.inputs.text_embeddings.shape[0])

    def check(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop."""
        check(self.cancel)

    def report(self, done: int, total: int) -> None:
        report(self.progress, "explain", done, total)

    def chunks(self, total: int, size: int) -> tp.Iterator[range]:
        """``range(total)`` in pieces of ``size``: cancel checked before each piece, progress
        reported after it."""
        n = -(-total // size)
        for c in range(n):
            self.check()
            yield range(c * size, min(total, (c + 1) * size))
            self.report(c + 1, n)

    def context(self) -> contextlib.ExitStack:
        """The model's thread count, and either frozen LM weights with gradients on (methods that
        back-propagate: ``needs_grad``) or no gradients at all."""
        import torch
        from .. import teacher
        stack = contextlib.ExitStack()
        stack.enter_context(self.model.threads())
        if self.explainer.needs_grad:
            stack.enter_context(teacher.Frozen(self.model.lm))
            stack.enter_context(torch.enable_grad())
        else:
            stack.enter_context(torch.no_grad())
        return stack

    def result(self, masks: np.ndarray, extras: dict | None = None) -> Explanation:
        """The :class:`Explanation` of ``masks`` [steps, tokens] (clipped to [0, 1]), recording the
        resolved settings and the take's seed."""
        from ..timeline import word_spans
        masks = np.clip(np.asarray(masks, dtype=np.float64), 0.0, 1.0)
        take, inputs = self.take, self.inputs
        return Explanation(method=self.explainer.name, model_id=self.model.id, prompt=take.prompt, take_id=take.id,
                           text=take.text, step_masks=masks, step_frames=inputs.step_frames,
                           n_frames=inputs.n_frames, frame_rate=self.model.frame_rate,
                           params={**self.settings.to_dict(), "take_seed": int(take.params.seed)},
                           seconds=time.perf_counter() - self.start, extras=extras or {},
                           word_spans=word_spans(take))


class Explainer(abc.ABC):
    """An explanation method: ``explain(model, take, settings) -> Explanation``.

    Subclasses set ``name``, ``label``, ``summary`` (one line for menus and ``--help``), ``Settings`` and
    ``needs_grad``, and implement :meth:`compute`. Calling an explainer with keyword overrides
    (``explainer(model, take, epochs=10)``) builds its settings from them first.
    """

    name: tp.ClassVar[str]
    label: tp.ClassVar[str] = ""  # how tables and menus write it ("Grad-CAM-e"); the name if empty
    summary: tp.ClassVar[str]
    Settings: tp.ClassVar[type[ExplainerSettings]] = NoSettings
    needs_grad: tp.ClassVar[bool] = False  # back-propagates through the (frozen) LM

    def explain(self, model: "LoadedModel", take: "Take", settings: ExplainerSettings | None = None, *,
                progress: ProgressFn | None = None, cancel: CancelToken | None = None) -> Explanation:
        """Explain ``take`` (generated by ``model``); ``progress('explain', done, total)``, ``cancel``
        checked between units of work."""
        settings = self.Settings() if settings is None else settings
        if not isinstance(settings, self.Settings):
            raise TypeError(f"{self.name} takes {self.Settings.__name__}, not {type(settings).__name__}")
        run = Run(self, model, take, settings, progress, cancel)
        with run.context():
            explanation = self.compute(run)
        run.check()
        return check_masks(explanation)

    def __call__(self, model: "LoadedModel", take: "Take", *, progress: ProgressFn | None = None,
                 cancel: CancelToken | None = None, **overrides: tp.Any) -> Explanation:
        return self.explain(model, take, self.Settings.from_values(overrides, method=self.name), progress=progress, cancel=cancel)

    @abc.abstractmethod
    def compute(self, run: Run) -> Explanation:
        """The method itself, inside ``run.context()``; returns ``run.result(masks)``."""

    def provenance(self, settings: ExplainerSettings, model: "LoadedModel | None" = None) -> dict[str, tp.Any]:
        """What results made with ``settings`` depend on, recorded by ``agx evaluate`` so results made
        otherwise are never mixed: the values that differ from the defaults."""
        return settings.changed()


def step_targets(model: "LoadedModel", take: "Take") -> "torch.Tensor":
    """[K, steps] the code each step generated for each codebook; -1 where the pattern has none.

    Input position s of the pattern sequence predicts position s + 1 (see :mod:`..teacher`).
    """
    lm = model.lm
    codes = take.codes.to(model.device).long().unsqueeze(0)
    pattern = lm.pattern_provider.get_pattern(int(codes.shape[-1]))
    seq, _, _ = pattern.build_pattern_sequence(codes, lm.special_token_id, keep_only_valid_steps=False)
    steps = len(pattern.layout) - 1
    tgt = seq[0, :, 1:steps + 1].clone()
    tgt[tgt == lm.special_token_id] = -1
    return tgt


def check_masks(explanation: Explanation) -> Explanation:
    """Refuse an explanation whose importances are not finite (corrupt weights give NaN), before it is
    shown or saved: strict JSON cannot hold NaN, and a NaN mask would regenerate silence."""
    masks = np.asarray(explanation.step_masks, dtype=np.float64)
    if masks.size and not np.isfinite(masks).all():
        raise ExplanationError(f"the {explanation.method} explanation came out non-finite (NaN/inf): the model's "
                               "weights look corrupt; restore them and explain again")
    return explanation


#: every registered method by name (an :class:`Explainer`, or any callable ``(model, take, **overrides)``
#: put here by hand), in registration order
METHODS: dict[str, Explainer] = {}
DEFAULT_METHOD = "audiogenx"

E = tp.TypeVar("E", bound=type)


def register(cls: E) -> E:
    """Class decorator: add one instance of an :class:`Explainer` subclass to :data:`METHODS`."""
    explainer = cls()
    METHODS[explainer.name] = explainer
    return cls


def get_explainer(name: str) -> Explainer:
    """The registered method ``name``; :class:`UnknownMethodError` naming the known ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise UnknownMethodError(f"unknown explanation method '{name}': use one of "
                                 f"{', '.join(available_methods())}") from None


def available_methods() -> list[str]:
    return sorted(METHODS)


def method_label(name: str) -> str:
    """How menus, titles and tables write method ``name``: its explainer's ``label`` ("Word deletion",
    "AtMan"), else the name itself (an unregistered or unlabelled method)."""
    return getattr(METHODS.get(name), "label", "") or name


def menu_order() -> list[str]:
    """Method names as menus list them: the default (the paper's AudioGenX) first, then the others."""
    return sorted(METHODS, key=lambda m: (m != DEFAULT_METHOD, m))


__all__ = ["Explainer", "Run", "NoSettings", "METHODS", "DEFAULT_METHOD", "register", "get_explainer",
           "available_methods", "method_label", "menu_order", "check_masks", "step_targets", "Explanation", "Interval", "check_interval",
           "frames_for_interval", "steps_for_interval"]
