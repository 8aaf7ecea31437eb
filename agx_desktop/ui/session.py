"""The app's state, without widgets: what the window shows and edits (napari's ``ViewerModel`` pattern).

A :class:`Session` holds the takes of this run, the current take, the A/B pair, the chosen and loaded
model, which sampling fields the user set (the others follow the model), the selected region, the
words active at the playhead and the caches derived from takes; and the request being prepared (the
prompt, the generation parameters, the explainer and its settings, whether the word chips are edited),
which the panels edit and the :class:`~agx_desktop.ui.controller.Controller` turns into jobs. It changes only through its methods,
and each kind of change emits one signal (once, and only when something changed); the window and its
widgets subscribe and redraw. No widget, no torch: it can be driven and tested on its own.
"""
from __future__ import annotations

import typing as tp
from dataclasses import replace
from types import MappingProxyType

import numpy as np
from PySide6.QtCore import QObject, Signal

from agx_desktop.engine.models import BUNDLED_ID
from agx_desktop.engine.take import GenerationParams

if tp.TYPE_CHECKING:
    from agx_desktop.engine.explain.settings import ExplainerSettings

    from .analysis import TakeItem

SIDES = ("A", "B")


class Session(QObject):
    """State of one app session. Read it through the properties; change it through the methods."""

    take_added = Signal(object)             # TakeItem, once per new take
    take_updated = Signal(object)           # TakeItem whose files or explanation changed (redraw its row)
    current_changed = Signal(object)        # TakeItem now current (only when it is another take)
    explanation_changed = Signal(object)    # TakeItem whose explanation was set (its caches dropped)
    ab_changed = Signal(object, str)        # {"A": id | None, "B": id | None}, side heard ("A"/"B")
    model_chosen = Signal(str)              # model id picked; the model is None until it loads
    model_changed = Signal(object)          # the loaded model of the chosen id (None: unloaded)
    sampling_custom_changed = Signal(object)  # frozenset of the sampling fields the user set
    selection_changed = Signal(object)      # (start, end) seconds or None
    active_words_changed = Signal(object)   # list of word indices active at the playhead
    prompt_changed = Signal(str)            # the prompt being edited
    params_changed = Signal(object)         # GenerationParams the next Generate uses
    explainer_changed = Signal(str, object)  # method name, its Settings (a frozen dataclass)
    words_edited_changed = Signal(bool)     # the word chips differ from the current take's words/weights
    live_changed = Signal(object)           # LiveSnapshot of the take being generated (None: none now)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: dict[str, TakeItem] = {}
        self._current: TakeItem | None = None
        self._ab: dict[str, str | None] = {"A": None, "B": None}
        self._ab_side = "A"
        self._model_id = BUNDLED_ID
        self._model: tp.Any = None
        self._sampling_custom: frozenset[str] = frozenset()
        self._selection: tuple[float, float] | None = None
        self._active_words: list[int] = []
        self._per_frame: dict[str, np.ndarray] = {}
        self._prompt_check: tuple[tuple[str, str], str] | None = None
        self._prompt = ""
        self._params = GenerationParams()
        self._explainer: tuple[str, ExplainerSettings | None] = ("audiogenx", None)  # None: the defaults
        self._words_edited = False
        self._live: tp.Any = None                 # LiveSnapshot of the running generation
        self._live_of: dict[str, tp.Any] = {}     # take id -> its last LiveSnapshot (until explained)

    # ------------------------------------------------------------------ takes
    @property
    def items(self) -> tp.Mapping[str, TakeItem]:
        """The takes of this session by id, in the order they were added (read-only view)."""
        return MappingProxyType(self._items)

    @property
    def current(self) -> TakeItem | None:
        return self._current

    def add_take(self, item: TakeItem) -> bool:
        """Add ``item`` (False, no signal, when a take with its id is already here)."""
        if item.id in self._items:
            return False
        self._items[item.id] = item
        self.take_added.emit(item)
        return True

    def refresh_take(self, item: TakeItem) -> None:
        """Say that ``item`` changed on disk (saved again): its views redraw."""
        self.take_updated.emit(item)

    def set_current(self, take_id: str) -> TakeItem | None:
        """Make ``take_id`` current; returns it (None, nothing changed, for an unknown id)."""
        item = self._items.get(take_id)
        if item is None:
            return None
        if item is not self._current:
            self._current = item
            self.current_changed.emit(item)
        return item

    def set_explanation(self, item: TakeItem, explanation: tp.Any) -> None:
        """Attach ``explanation`` to ``item`` and drop what was derived from the old one."""
        item.explanation = explanation
        self.invalidate(item.id)
        self.explanation_changed.emit(item)

    def explanation_matches(self, item: TakeItem | None) -> bool:
        """``item`` has an explanation, and it is of this take (not one a damaged folder carried over)."""
        ex = item.explanation if item else None
        return ex is not None and (not ex.take_id or ex.take_id == item.id)

    # ------------------------------------------------------------------ caches
    def per_frame(self, item: TakeItem) -> np.ndarray | None:
        """The explanation's word × frame importance of ``item`` (computed once per explanation)."""
        if item.explanation is None:
            return None
        if item.id not in self._per_frame:
            self._per_frame[item.id] = np.asarray(item.explanation.per_frame_words())
        return self._per_frame[item.id]

    def invalidate(self, take_id: str) -> None:
        """Forget what was derived from take ``take_id``'s explanation."""
        self._per_frame.pop(take_id, None)

    # ------------------------------------------------------------------ live map (provisional)
    @property
    def live(self) -> tp.Any:
        """The live map of the take being generated now (None when no generation is showing one)."""
        return self._live

    def set_live(self, snapshot: tp.Any) -> None:
        if snapshot is not self._live:
            self._live = snapshot
            self.live_changed.emit(snapshot)

    def keep_live(self, take_id: str, snapshot: tp.Any) -> None:
        """Keep ``snapshot`` as take ``take_id``'s provisional map (shown until it is explained)."""
        self._live_of[take_id] = snapshot

    def live_of(self, take_id: str) -> tp.Any:
        return self._live_of.get(take_id)

    def cached_prompt_problem(self, prompt: str) -> str | None:
        """The loaded model's verdict on ``prompt`` when it was checked already, else None."""
        if self._model is None or self._prompt_check is None:
            return None
        key, problem = self._prompt_check
        return problem if key == (prompt, self._model.id) else None

    def remember_prompt_problem(self, prompt: str, problem: str) -> None:
        """Keep the loaded model's verdict on ``prompt`` ('' = fine) until the prompt or model changes."""
        if self._model is not None:
            self._prompt_check = ((prompt, self._model.id), problem)

    # ------------------------------------------------------------------ A/B
    @property
    def ab(self) -> dict[str, str | None]:
        """A copy of the pair: {"A": take id or None, "B": take id or None}."""
        return dict(self._ab)

    @property
    def ab_side(self) -> str:
        return self._ab_side

    @property
    def ab_complete(self) -> bool:
        return None not in self._ab.values()

    def ab_pair_contains(self, take_id: str) -> bool:
        return self.ab_complete and take_id in self._ab.values()

    def set_ab(self, side: str, take_id: str) -> None:
        """Pick ``take_id`` as ``side`` of the pair (and hear that side)."""
        self._set_ab({**self._ab, _side(side): take_id}, side)

    def set_ab_pair(self, a: str, b: str, side: str = "B") -> None:
        self._set_ab({"A": a, "B": b}, side)

    def set_ab_side(self, side: str) -> None:
        self._set_ab(dict(self._ab), side)

    def _set_ab(self, ab: dict[str, str | None], side: str) -> None:
        side = _side(side)
        if ab == self._ab and side == self._ab_side:
            return
        self._ab, self._ab_side = ab, side
        self.ab_changed.emit(dict(ab), side)

    # ------------------------------------------------------------------ model
    @property
    def model_id(self) -> str:
        """The model picked (loaded or still loading)."""
        return self._model_id

    @property
    def model(self) -> tp.Any:
        """The loaded model of :attr:`model_id`, None while it loads (or when it failed to)."""
        return self._model

    def choose_model(self, model_id: str) -> None:
        """Pick another model: the loaded one no longer counts until :meth:`set_model` gives the new one."""
        if model_id == self._model_id:
            return
        self._model_id = model_id
        self._model = None
        self.model_chosen.emit(model_id)

    def set_model(self, model: tp.Any) -> None:
        if model is self._model:
            return
        self._model = model
        self.model_changed.emit(model)

    @property
    def sampling_custom(self) -> frozenset[str]:
        """The sampling fields the user set; the others follow the loaded model's defaults."""
        return self._sampling_custom

    def set_sampling_custom(self, names: tp.Iterable[str]) -> None:
        names = frozenset(names)
        if names != self._sampling_custom:
            self._sampling_custom = names
            self.sampling_custom_changed.emit(names)

    def mark_sampling_custom(self, name: str) -> None:
        """The user set ``name``: it keeps its value when the model changes."""
        self.set_sampling_custom(self._sampling_custom | {name})

    def follow_model_sampling(self) -> None:
        """Every sampling field follows the model again."""
        self.set_sampling_custom(())

    # ------------------------------------------------------------------ selection / playhead
    @property
    def selection(self) -> tuple[float, float] | None:
        return self._selection

    def set_selection(self, region: tuple[float, float] | None) -> None:
        region = None if region is None else (float(region[0]), float(region[1]))
        if region != self._selection:
            self._selection = region
            self.selection_changed.emit(region)

    @property
    def active_words(self) -> list[int]:
        return list(self._active_words)

    def set_active_words(self, words: tp.Iterable[int]) -> None:
        words = [int(i) for i in words]
        if words != self._active_words:
            self._active_words = words
            self.active_words_changed.emit(list(words))

    # ------------------------------------------------------------------ the request being prepared
    @property
    def prompt(self) -> str:
        return self._prompt

    def set_prompt(self, prompt: str) -> None:
        if prompt != self._prompt:
            self._prompt = prompt
            self.prompt_changed.emit(prompt)

    @property
    def params(self) -> GenerationParams:
        """The generation parameters (duration, seed, sampling) the next Generate uses."""
        return self._params

    def set_params(self, params: GenerationParams | None = None, **changes: tp.Any) -> None:
        """Replace the parameters, or change some fields: ``set_params(seed=3)``."""
        new = replace(params or self._params, **changes)
        if new != self._params:
            self._params = new
            self.params_changed.emit(new)

    @property
    def explainer(self) -> tuple[str, ExplainerSettings | None]:
        """(method name, its Settings; None for its defaults): what Explain and Generate + Explain run."""
        return self._explainer

    def set_explainer(self, method: str, settings: ExplainerSettings | None) -> None:
        if (method, settings) != self._explainer:
            self._explainer = (method, settings)
            self.explainer_changed.emit(method, settings)

    @property
    def words_edited(self) -> bool:
        return self._words_edited

    def set_words_edited(self, edited: bool) -> None:
        if bool(edited) != self._words_edited:
            self._words_edited = bool(edited)
            self.words_edited_changed.emit(self._words_edited)


def _side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"A/B side must be 'A' or 'B', not {side!r}")
    return side

