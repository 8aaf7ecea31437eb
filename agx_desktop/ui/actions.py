"""Every command of the window, declared once as data: name, text, menu, shortcut, when it is enabled
(a predicate on the session / controller state) and what it does.

:class:`ActionTable` builds the ``QAction`` s, the menus and the shortcuts from :data:`ACTIONS`, binds
the panels' buttons to them and re-evaluates every ``enabled_when`` whenever the session, the job
queue or the autosave state changes, so a button, its menu entry and its shortcut always agree.
Tests trigger commands by name (``window.commands.trigger("generate")``).
"""
from __future__ import annotations

import functools
import os
import typing as tp
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence

if tp.TYPE_CHECKING:
    from PySide6.QtWidgets import QAbstractButton, QMainWindow, QWidget

    from .controller import Controller
    from .main_window import MainWindow

Predicate = tp.Callable[["Controller"], bool]
Tip = tp.Callable[["Controller"], str]


def _can_generate(c: Controller) -> bool:
    return not c.prompt_problem()


def _generate_tip(c: Controller) -> str:
    return c.prompt_problem() or ("Queued after the running job" if c.runner.busy else "")


def _has_take(c: Controller) -> bool:
    return c.has_take


def _explained(c: Controller) -> bool:
    return c.explained


def _can_play(c: Controller) -> bool:
    return c.player.available


def _word_count(c: Controller) -> int:
    cur = c.session.current
    return len(cur.take.words) if cur is not None else 0


def _toggle_mute(w: MainWindow, index: int) -> None:
    """Word ``index``'s M button, pressed (the chips show the current take once its display finished)."""
    w.controller.display.finish()
    chips = w.words.chips.chips
    if index < len(chips):
        chips[index].mute.toggle()


def _mark(w: MainWindow, side: str) -> None:
    """Set the region's start (``in``) or end (``out``) at the playhead; the other end stays where it
    was when that still leaves a region, else it goes to the take's edge."""
    cur = w.session.current
    if cur is None:
        return
    pos, dur = float(w.player.position()), float(cur.take.duration)
    start, end = w.session.selection or (0.0, dur)
    if side == "in":
        start, end = pos, (end if end > pos else dur)
    else:
        start, end = (start if start < pos else 0.0), pos
    if end > start:
        w.session.set_selection((start, end))


# ------------------------------------------------------------------ speed settings (issue 20: Model menu)
@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX512-BF16), read from /proc/cpuinfo without
    importing torch (the window must not wait for it); elsewhere bf16 autocast is emulated and slower."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"amx_bf16", "avx512_bf16"})


BF16_WHY_NOT = "This CPU has no native bf16 (AMX / AVX512-BF16): bf16 autocast would be emulated here, slower"


def int8_why_not(c: Controller) -> str | None:
    """Why int8 does not apply to the loaded model (it runs on the CPU only), None where it does (or while
    no model is loaded)."""
    device = getattr(getattr(c.session.model, "device", None), "type", "cpu")
    return None if device == "cpu" else (f"int8 runs on the CPU only: this model runs on {device.upper()}, "
                                         "so its takes are sampled in float32")


def thread_choices() -> list[int]:
    """Thread counts the Model menu offers: 1, 2, 4, ... up to this machine's cores, and the cores."""
    cores = os.cpu_count() or 1
    return sorted({n for n in (1, 2, 4, 8, 16) if n <= cores} | {cores})


def apply_speed(w: MainWindow, commands: ActionTable | None = None) -> None:
    """The saved speed settings take effect for the next generation (bf16 only where the CPU has it), and
    the Model menu's checks show them."""
    from . import tasks
    saved = w.settings.speed if isinstance(w.settings.speed, dict) else {}
    threads = saved.get("threads")  # a count this machine's menu does not offer (another machine's): automatic
    tasks.set_speed({**saved, "bf16": saved.get("bf16") is True and cpu_has_bf16(),
                     "threads": threads if threads in thread_choices() and not isinstance(threads, bool) else 0})
    commands = commands or getattr(w, "commands", None)
    if commands is None:
        return
    commands.action("speed_int8").setChecked(tasks.SPEED["int8"])
    commands.action("speed_bf16").setChecked(tasks.SPEED["bf16"])
    commands.action("threads_auto").setChecked(not tasks.SPEED["threads"])
    for n in thread_choices():
        commands.action(f"threads_{n}").setChecked(tasks.SPEED["threads"] == n)


def _set_speed(w: MainWindow, **change: tp.Any) -> None:
    """Change one speed setting from the Model menu: remembered at once, used from the next generation."""
    w.settings.speed = {**(w.settings.speed if isinstance(w.settings.speed, dict) else {}), **change}
    apply_speed(w)
    w.save_settings()


def _speed_specs() -> tuple[ActionSpec, ...]:
    return (
        ActionSpec("speed_int8", "int8 (faster, approximate)",
                   lambda w: _set_speed(w, int8=w.commands.action("speed_int8").isChecked()), menu="&Model",
                   checkable=True, enabled_when=lambda c: int8_why_not(c) is None,
                   tip=lambda c: int8_why_not(c) or (
                       "Sample with the model's weights quantised to int8 (CPU): about 3× faster for AudioGen-medium "
                       "on a 2-core CPU; the take differs from the float32 take of its seed (it says so in the "
                       "takes list). Explanations stay float32. Figures: README, 'Live and speed'")),
        ActionSpec("speed_bf16", "bf16 autocast (CPUs with native bf16)",
                   lambda w: _set_speed(w, bf16=w.commands.action("speed_bf16").isChecked()), menu="&Model",
                   checkable=True, enabled_when=lambda c: cpu_has_bf16(),
                   tip=lambda c: ("Sample under bf16 autocast: faster on CPUs with AMX / AVX512-BF16; the take "
                                  "differs slightly from the float32 one") if cpu_has_bf16() else BF16_WHY_NOT),
        ActionSpec("threads_auto", "Threads: automatic", lambda w: _set_speed(w, threads=0), menu="&Model",
                   checkable=True, separator_before=True,
                   tip="1 thread for small models, all cores for large ones (one is left to the window)"),
        *(ActionSpec(f"threads_{n}", f"Threads: {n}", lambda w, n=n: _set_speed(w, threads=n), menu="&Model",
                     checkable=True, tip=f"Sample on {n} CPU thread(s)") for n in thread_choices()),
    )


def show_shortcut_sheet(w: QWidget) -> None:
    from .widgets.shortcut_sheet import ShortcutSheet
    sheet = ShortcutSheet(shortcut_rows(), w)
    sheet.open()  # non-blocking
    w.shortcut_sheet = sheet  # type: ignore[attr-defined]  # kept alive (and reachable by tests)


#: keys that are not in the table because the focused widget handles them (shown in the sheet too)
FOCUS_KEYS: tuple[tuple[str, str], ...] = (
    ("Enter (in the prompt)", "Generate, then move to the timeline"),
    ("Esc (in the prompt)", "Leave the prompt: focus the timeline (Space plays again)"),
    ("Space / Enter (on a focused button)", "Press that button (Space plays everywhere else)"),
    ("Tab / Shift+Tab", "Move between the controls"),
)


def key_text(shortcut: str | QKeySequence.StandardKey | Qt.Key) -> str:
    return QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)


def shortcut_rows(specs: tp.Sequence[ActionSpec] | None = None) -> list[tuple[str, str]]:
    """(keys, what they do) for every command with a shortcut, then the focus keys: the Help sheet."""
    rows = [(key_text(s.shortcut), s.text.replace("&", "").rstrip("…"))
            for s in (specs if specs is not None else ACTIONS) if s.shortcut is not None and key_text(s.shortcut)]
    return rows + list(FOCUS_KEYS)


@dataclass(frozen=True)
class ActionSpec:
    """One command. ``menu`` None: a shortcut (and maybe a button) without a menu entry."""

    name: str
    text: str
    slot: tp.Callable[[MainWindow], tp.Any]
    menu: str | None = None
    shortcut: str | QKeySequence.StandardKey | Qt.Key | None = None
    enabled_when: Predicate | None = None  # None: always enabled
    tip: str | Tip = ""                    # tooltip (text, or from the state) for the action and its buttons
    separator_before: bool = False
    checkable: bool = False                # a toggle: its slot reads ``action.isChecked()``


ACTIONS: tuple[ActionSpec, ...] = (
    # ---- requests (buttons of the generation and word-edit panels)
    ActionSpec("generate", "Generate", lambda w: w.controller.generate(), shortcut="Ctrl+Return",
               enabled_when=_can_generate, tip=_generate_tip),
    ActionSpec("generate_explain", "Generate + Explain", lambda w: w.controller.generate(explain_after=True),
               shortcut="Ctrl+Shift+Return", enabled_when=_can_generate, tip=_generate_tip),
    ActionSpec("explain", "Explain", lambda w: w.controller.explain(), shortcut="Ctrl+Shift+X",
               enabled_when=_has_take, tip=lambda c: "" if c.has_take else "Generate a take first"),
    ActionSpec("regenerate", "Regenerate (same seed)", lambda w: w.words.regenerate(), shortcut="Ctrl+R",
               enabled_when=_has_take,
               tip="Generate again with the same seed, applying the chips' weights and words"),
    ActionSpec("reset_words", "Reset words", lambda w: w.words.chips.reset(),
               enabled_when=lambda c: c.has_take and c.session.words_edited),
    ActionSpec("variations", "Variations", lambda w: w.words.variations(), shortcut="Ctrl+Shift+V",
               enabled_when=_can_generate, tip=_generate_tip),
    ActionSpec("factual", "Hear factual", lambda w: w.controller.variant("factual"), enabled_when=_explained,
               tip="Regenerate with only what the explanation found important (mask M)"),
    ActionSpec("counterfactual", "Hear counterfactual", lambda w: w.controller.variant("counterfactual"),
               enabled_when=_explained,
               tip="Regenerate with what the explanation found important removed (1 − M)"),
    ActionSpec("cancel", "Cancel", lambda w: w.controller.runner.cancel_current(),
               enabled_when=lambda c: c.runner.busy,
               tip="Stop the running job within about a second; queued jobs then run"),
    # ---- A/B (takes dock)
    ActionSpec("set_a", "Set A", lambda w: w.controller.set_ab("A"), shortcut="Ctrl+Shift+A", enabled_when=_has_take),
    ActionSpec("set_b", "Set B", lambda w: w.controller.set_ab("B"), shortcut="Ctrl+Shift+B", enabled_when=_has_take),
    ActionSpec("switch_ab", "Switch A/B", lambda w: w.controller.switch_ab(), shortcut="Ctrl+B",
               enabled_when=lambda c: c.session.ab_complete,
               tip="Swap between take A and take B, keeping the playhead (and playback) where it is"),
    # ---- File
    ActionSpec("export_wav", "Export &WAV…", lambda w: w.exports.export_wav_dialog(), menu="&File",
               shortcut="Ctrl+E", enabled_when=_has_take),
    ActionSpec("export_json", "Export explanation as &JSON…", lambda w: w.exports.export_explanation_dialog("json"),
               menu="&File", enabled_when=_explained),
    ActionSpec("export_csv", "Export explanation as &CSV…", lambda w: w.exports.export_explanation_dialog("csv"),
               menu="&File", enabled_when=_explained),
    ActionSpec("export_png", "Export &heatmap as PNG…", lambda w: w.exports.export_explanation_dialog("png"),
               menu="&File", enabled_when=_explained),
    ActionSpec("retry_save", "&Save unsaved takes", lambda w: w.controller.retry_save(), menu="&File",
               enabled_when=lambda c: bool(c.unsaved_items()), separator_before=True,
               tip="Save again the takes autosave could not write (after freeing space)"),
    ActionSpec("batch", "&Batch…", lambda w: w.open_batch(), menu="&File",
               tip="Many takes from a prompt sheet, or the current prompt × N, in the background"),
    ActionSpec("open_data", "Open data folder", lambda w: w.exports.open_data_folder(), menu="&File"),
    ActionSpec("quit", "&Quit", lambda w: w.close(), menu="&File", shortcut=QKeySequence.StandardKey.Quit),
    # ---- Edit (issue 17: region, timeline, guided edit)
    ActionSpec("regenerate_region", "Regenerate region", lambda w: w.words.regenerate_region(), menu="&Edit",
               enabled_when=lambda c: c.has_take and c.session.selection is not None,
               tip=lambda c: "" if c.has_take and c.session.selection is not None else
               "Select a region on the timeline first (drag over it)"),
    ActionSpec("timeline", "Prompt &timeline…", lambda w: w.open_timeline_dialog(), menu="&Edit",
               tip="Give each span of the clip its own words (0–2.5 s: a dog barks, 2.5–5 s: a church bell rings)"),
    ActionSpec("guided_edit", "Run guided edit", lambda w: w.guided.run(), menu="&Edit",
               enabled_when=lambda c: c.has_take,
               tip="Say more / less / none per word: candidates are regenerated, scored and ranked"),
    # ---- Playback
    ActionSpec("play", "Play / Pause", lambda w: w.transport.toggle_play(), menu="&Playback",
               shortcut=Qt.Key.Key_Space, enabled_when=_can_play),
    ActionSpec("stop", "Stop", lambda w: w.transport.stop(), menu="&Playback", enabled_when=_can_play),
    ActionSpec("play_live", "Play as it &generates",
               lambda w: w.controller.set_play_while_generating(w.commands.action("play_live").isChecked()),
               menu="&Playback", enabled_when=_can_play, checkable=True,
               tip="Start playing the next take as soon as its first part is decoded (the playhead waits for "
                   "the rest); the finished take then replaces the preview without a jump"),
    ActionSpec("clear_selection", "Clear selection", lambda w: w.session.set_selection(None), menu="&Playback",
               shortcut=Qt.Key.Key_Escape),
    ActionSpec("mark_in", "Region start at the playhead", lambda w: _mark(w, "in"), menu="&Playback",
               shortcut=Qt.Key.Key_I, enabled_when=_has_take, separator_before=True,
               tip="The selected region starts at the playhead (as a DAW's In mark)"),
    ActionSpec("mark_out", "Region end at the playhead", lambda w: _mark(w, "out"), menu="&Playback",
               shortcut=Qt.Key.Key_O, enabled_when=_has_take,
               tip="The selected region ends at the playhead (as a DAW's Out mark)"),
    # ---- word chips: Alt+N mutes / unmutes word N (shortcuts only; listed in the shortcut sheet)
    *(ActionSpec(f"mute_word_{n}", f"Mute / unmute word {n}", lambda w, i=n - 1: _toggle_mute(w, i),
                 shortcut=f"Alt+{n}", enabled_when=lambda c, n=n: _word_count(c) >= n) for n in range(1, 10)),
    # ---- Model: speed settings (all off by default; README "Live and speed")
    *_speed_specs(),
    # ---- Help
    ActionSpec("shortcuts", "Keyboard shortcuts", lambda w: show_shortcut_sheet(w), menu="&Help",
               shortcut=QKeySequence.StandardKey.HelpContents),
    ActionSpec("about", "About AGX Desktop", lambda w: w.about(), menu="&Help"),
)


class ActionTable(QObject):
    """The ``QAction`` s of :data:`ACTIONS` for one window, kept enabled per their predicates."""

    refreshed = Signal()  # after every re-evaluation (the prompt hint follows it)

    def __init__(self, window: MainWindow, controller: Controller,
                 specs: tp.Sequence[ActionSpec] = ACTIONS) -> None:
        super().__init__(window)
        self.controller = controller
        self.specs = {s.name: s for s in specs}
        self.actions: dict[str, QAction] = {}
        self._buttons: dict[str, list[QAbstractButton]] = {}
        menus: dict[str, tp.Any] = {}
        for spec in specs:
            act = QAction(spec.text.replace("&", "") if spec.menu is None else spec.text, window)
            if spec.shortcut is not None:
                act.setShortcut(QKeySequence(spec.shortcut))
            if isinstance(spec.tip, str) and spec.tip:
                act.setToolTip(spec.tip)
            act.setCheckable(spec.checkable)
            act.triggered.connect(lambda _checked=False, s=spec: s.slot(window))
            if spec.menu is None:
                window.addAction(act)  # its shortcut works anywhere in the window
            else:
                if spec.menu not in menus:
                    menus[spec.menu] = window.menuBar().addMenu(spec.menu)
                if spec.separator_before:
                    menus[spec.menu].addSeparator()
                menus[spec.menu].addAction(act)
            self.actions[spec.name] = act
        if "&Model" in menus:
            menus["&Model"].setToolTipsVisible(True)  # why bf16 is greyed, what int8 costs
        self._connect(controller)
        if "speed_int8" in self.actions and hasattr(window, "settings"):
            apply_speed(window, self)

    def _connect(self, c: Controller) -> None:
        s, r = c.session, c.runner
        for signal in (s.take_added, s.current_changed, s.explanation_changed, s.ab_changed, s.model_chosen,
                       s.model_changed, s.prompt_changed, s.words_edited_changed, s.selection_changed, r.started,
                       r.finished, r.failed, r.cancelled, r.queue_changed, c.save_state_changed):
            signal.connect(self.refresh)

    def action(self, name: str) -> QAction:
        return self.actions[name]

    def trigger(self, name: str) -> None:
        """Run command ``name`` as the user would (nothing happens while it is disabled)."""
        self.actions[name].trigger()

    def is_enabled(self, name: str) -> bool:
        return self.actions[name].isEnabled()

    def bind(self, name: str, button: QAbstractButton) -> None:
        """``button`` runs action ``name`` and follows its enabled state and tooltip."""
        spec = self.specs[name]
        button.clicked.connect(self.actions[name].trigger)
        if spec.shortcut is not None:
            keys = QKeySequence(spec.shortcut).toString(QKeySequence.SequenceFormat.NativeText)
            button.setStatusTip(f"{button.text()} ({keys})")
        if isinstance(spec.tip, str) and spec.tip:
            button.setToolTip(spec.tip)
        self._buttons.setdefault(name, []).append(button)

    def refresh(self, *_args: tp.Any) -> None:
        """Re-evaluate every ``enabled_when`` (and the tooltips that depend on the state)."""
        for name, spec in self.specs.items():
            on = True if spec.enabled_when is None else bool(spec.enabled_when(self.controller))
            act = self.actions[name]
            act.setEnabled(on)
            tip = None if isinstance(spec.tip, str) else spec.tip(self.controller)
            if tip is not None:
                act.setToolTip(tip)
            for button in self._buttons.get(name, ()):
                button.setEnabled(on)
                if tip is not None:
                    button.setToolTip(tip)
        self.refreshed.emit()
