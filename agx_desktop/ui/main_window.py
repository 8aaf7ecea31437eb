"""The main window: prompt → generate → see / hear / edit → regenerate → export, as a composition.

The state lives in a :class:`~.session.Session`; requests become jobs in the :class:`~.controller.Controller`;
every command (menus, shortcuts, which button is enabled when) is a row of :data:`~.actions.ACTIONS`.
The window builds the panels (:mod:`.panels`) and the views (:mod:`.widgets`), wires the views to the
session, shows errors and notices, remembers the settings and asks before losing unsaved takes. It
never calls torch: engine work only happens inside queued jobs (:mod:`.tasks`).
"""
from __future__ import annotations

import base64
import typing as tp

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtWidgets import QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from agx_desktop.engine.errors import IntervalError
from agx_desktop.engine.word_kinds import classify_scores, interval_contrast

from . import tasks
from .actions import ActionTable
from .batch_dialog import BatchDialog
from .controller import Controller
from .jobs import JobRunner
from .keyboard import KeyboardFocus
from .panels.exports import ExportActions
from .panels.generation import GenerationPanel
from .panels.guided import GuidedEditDock
from .panels.jobbar import JobBar
from .panels.notices import NoticeBar, SaveStatus
from .panels.takes import TakesDock
from .panels.timeline_editor import TimelineDialog
from .panels.transport import TransportPanel
from .panels.words import WordEditPanel
from .paths import data_dir
from .playback import Player
from .qt_compat import install_refcount_guard
from .session import Session
from .settings import Settings, load_settings, save_settings
from .store import TakeStore
from .widgets.importance import SOUND, ImportancePanel, word_groups
from .widgets.timeline import TimelineView

if tp.TYPE_CHECKING:
    from .analysis import TakeItem
    from .widgets.history import TakeList

SPACING = 4  # between the rows of the window and the controls of a row


class MainWindow(QMainWindow):
    """AGX Desktop's window. ``player``/``store``/``settings`` are injectable for tests."""

    #: True when the process ends as the window closes (app.main sets it): then a running load is not awaited
    ends_process: bool = False

    def __init__(self, player: Player | None = None, store: TakeStore | None = None,
                 settings: Settings | None = None, load_autosaved: bool = True) -> None:
        super().__init__()
        install_refcount_guard()
        tasks.configure_threads()
        self.setWindowTitle("AGX Desktop — text to sound, explained")
        self.settings = settings or load_settings()
        self.store = store or TakeStore()
        self.player = player or Player()
        self.runner = JobRunner(self)
        self.session = Session(self)
        self.controller = Controller(self.session, self.runner, self.store, self.player, self.settings, self)
        self.error_box: QMessageBox | None = None    # the last error shown (non-blocking)
        self.unsaved_box: QMessageBox | None = None  # the "N take(s) are not saved" question
        self.quit_when_saved = False  # the user chose to quit once the unsaved takes are saved (or lost)

        self.generation = GenerationPanel(self.session, SPACING)
        self.jobs = JobBar(self.runner, SPACING)
        self.notice_bar = NoticeBar(self.controller)
        self.transport = TransportPanel(self.controller, self.player, SPACING)
        self.timeline = TimelineView()
        self.importance = ImportancePanel()  # the bars with their view choice (paper | sound words first)
        self.bars = self.importance.bars
        self.words = WordEditPanel(self.controller)
        self.takes = TakesDock(self.controller, self)
        self.guided = GuidedEditDock(self.controller, self)
        self.timeline_dialog: TimelineDialog | None = None
        self.exports = ExportActions(self.controller, self.timeline, self, self.save_settings)
        self._lay_out()
        self.save_status = SaveStatus(self.controller, self.statusBar())
        self.commands = ActionTable(self, self.controller)  # menus, shortcuts, enabled-when (actions.py)
        self._bind_buttons()
        self.jobs.play_live_btn.setDefaultAction(self.commands.action("play_live"))  # checked state shared
        self.batch_dialog: BatchDialog | None = None
        self._connect()
        self.keyboard = KeyboardFocus(self, self.generation.prompt_edit, self.timeline)  # Space/Enter/Esc by focus
        self.controller.notices.extend(self.generation.notices)
        self.restore_settings()
        self.controller.start(load_autosaved)
        self.commands.refresh()

    def _lay_out(self) -> None:
        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(SPACING)
        for w in (self.generation, self.jobs, self.generation.hint_label, self.notice_bar, self.transport):
            root.addWidget(w)
        split = QSplitter(Qt.Orientation.Vertical)
        self.timeline.setMinimumHeight(220)  # a 1280x720 screen: the panel below keeps its ~200 px (test_screens)
        split.addWidget(self.timeline)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        self.importance.setMinimumWidth(260)
        bottom.addWidget(self.importance)
        bottom.addWidget(self.words)
        bottom.setStretchFactor(0, 2)
        bottom.setStretchFactor(1, 3)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([520, 270])
        root.addWidget(split, 1)
        self.setCentralWidget(central)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.takes)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.guided)  # below the takes
        self.statusBar().showMessage(f"Data folder: {data_dir()}")

    def _bind_buttons(self) -> None:
        """The panels' buttons run the actions of the same name and follow their enabled state."""
        g, w, t = self.generation, self.words, self.takes
        for name, button in (("generate", g.generate_btn), ("generate_explain", g.gen_explain_btn),
                             ("explain", g.explain_btn), ("regenerate", w.regenerate_btn),
                             ("reset_words", w.reset_chips_btn), ("variations", w.variations_btn),
                             ("factual", w.factual_btn), ("counterfactual", w.counterfactual_btn),
                             ("cancel", self.jobs.cancel_btn), ("set_a", t.set_a_btn), ("set_b", t.set_b_btn),
                             ("switch_ab", t.ab_btn), ("regenerate_region", w.region_btn),
                             ("guided_edit", self.guided.run_btn)):
            self.commands.bind(name, button)

    def _connect(self) -> None:
        s, c, tl = self.session, self.controller, self.timeline
        self.generation.prompt_edit.returnPressed.connect(lambda: self.commands.trigger("generate"))
        self.commands.refreshed.connect(lambda: self.generation.show_problem(c.prompt_problem()))
        c.error.connect(self.show_error)
        c.status.connect(self.statusBar().showMessage)
        self.generation.duration_spin.clamped.connect(lambda text: self.statusBar().showMessage(text, 8000))
        c.settings_wanted.connect(self.save_settings)
        c.saved_again.connect(self._on_saved_again)
        s.current_changed.connect(self._show_current)
        s.explanation_changed.connect(lambda item: self._show_explanation() if item is s.current else None)
        s.selection_changed.connect(self._on_selection)
        tl.selection_changed.connect(s.set_selection)
        tl.seek_requested.connect(self.transport.seek)
        tl.heat_bar.sigLevelsChangeFinished.connect(lambda *_: self._refresh_importance())
        self.importance.changed.connect(self._refresh_importance)
        self.transport.playhead_moved.connect(tl.set_playhead)
        self.transport.active_words_moved.connect(tl.set_active_words)
        s.live_changed.connect(self._on_live)
        c.partial_audio.connect(tl.set_partial_audio)  # the take being generated fills the waveform as it decodes

    # ------------------------------------------------------------------ the views of the current take
    def _show_current(self, item: TakeItem) -> None:
        """Redraw the views for the new current take in short stages (see DisplayStages)."""
        self.controller.display.schedule([lambda: self.timeline.set_item(item),
                                          lambda: self.words.show_words(item),
                                          self._show_explanation])

    def open_timeline_dialog(self) -> TimelineDialog:
        """The prompt timeline dialog (non-blocking; its Generate queues the timeline take)."""
        self.timeline_dialog = TimelineDialog(self.controller, self)
        self.timeline_dialog.open()
        return self.timeline_dialog

    def open_batch(self) -> BatchDialog:
        """Batch… (non-blocking): runs on this window's job queue (job bar progress, Cancel); each take
        joins the takes list as it is written."""
        if self.batch_dialog is None:
            self.batch_dialog = BatchDialog(prompt=self.session.prompt.strip(), model=self.session.model_id,
                                            runner=self.runner, parent=self)
            self.batch_dialog.take_ready.connect(self.controller.add_batch_take)
        elif self.session.prompt.strip():
            self.batch_dialog.prompt.setText(self.session.prompt.strip())
        self.batch_dialog.open()
        return self.batch_dialog

    def _on_live(self, snapshot: tp.Any) -> None:
        """The take being generated: its provisional live map fills the heatmap; gone: the current take's."""
        if snapshot is not None:
            self.timeline.set_live(snapshot)
        elif self.session.current is not None:
            self._show_explanation()
        else:
            self.timeline.set_heatmap(None)

    def display_pending(self) -> bool:
        return self.controller.display.pending

    def _show_explanation(self) -> None:
        item = self.session.current
        live = None if item is None else self.session.live_of(item.id)
        if live is not None and not self.session.explanation_matches(item):
            self.timeline.set_live(live)  # not explained yet: the live map kept from its generation
        else:
            self.timeline.set_heatmap(item.explanation if self.session.explanation_matches(item) else None)
        self._refresh_importance()

    def _refresh_importance(self) -> None:
        """Bars and chips show the explanation's word importance, of the selection when there is one, in
        the chosen view; with the contrast variant asked for, the selection's minus the rest of the clip's."""
        item, sel = self.session.current, self.session.selection
        self.importance.set_interval_selected(sel is not None)
        if not self.session.explanation_matches(item):
            self.bars.set_values(None, None)
            self.words.show_importances(None)
            return
        ex = item.explanation
        contrast = self.importance.contrast
        try:
            values = interval_contrast(ex, sel) if contrast else ex.word_importance(sel)
        except IntervalError as exc:
            self.statusBar().showMessage(str(exc), 4000)
            sel, contrast, values = None, False, ex.word_importance(None)
        levels = tuple(float(v) for v in self.timeline.heat_bar.levels())
        kinds = classify_scores(ex.words, values)  # the same scores, each word with its kind
        self.bars.set_values(list(ex.words), values, sel, levels=levels, kinds=kinds, contrast=contrast)
        groups = word_groups(kinds) if self.importance.view == SOUND else None
        self.words.show_importances(values, levels=levels, groups=groups,
                                    measure="contrast with the rest of the clip (variant)" if contrast else "importance")

    def _on_selection(self, sel: tuple[float, float] | None) -> None:
        if self.timeline.selection != sel:  # set here, not dragged on the timeline
            self.timeline.set_selection(sel, emit=False)
        self._refresh_importance()

    # ------------------------------------------------------------------ messages
    def show_error(self, title: str, message: str, details: str = "") -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "AGX Desktop", title, QMessageBox.StandardButton.Ok, self)
        box.setInformativeText(message)
        if details:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()  # non-blocking: the app stays usable
        self.error_box = box
        self.statusBar().showMessage(f"{title}: {message}", 10000)

    def about(self) -> None:
        QMessageBox.about(self, "AGX Desktop", "Generate sound effects from text (AudioGen) and see which words "
                          "made which sounds (AudioGenX, Kang et al., AAAI 2025).")

    # ------------------------------------------------------------------ the takes list (tests read it here)
    @property
    def history(self) -> TakeList:
        return self.takes.history


    # ------------------------------------------------------------------ settings
    def restore_settings(self) -> None:
        s = self.settings
        for panel in (self.generation, self.words, self.transport, self.importance):
            panel.restore(s)
        for value, restore in ((s.geometry, self.restoreGeometry), (s.state, self.restoreState)):
            if value:
                try:
                    restore(QByteArray(base64.b64decode(value)))
                except Exception:
                    pass

    def collect_settings(self) -> Settings:
        s = self.settings
        for panel in (self.generation, self.words, self.transport, self.importance):
            panel.store(s)
        s.geometry = base64.b64encode(bytes(self.saveGeometry())).decode()
        s.state = base64.b64encode(bytes(self.saveState())).decode()
        return s

    def save_settings(self) -> None:
        save_settings(self.collect_settings())

    # ------------------------------------------------------------------ quitting
    def _on_saved_again(self, all_saved: bool) -> None:
        if not all_saved:
            self.quit_when_saved = False  # still unsaved: ask again before quitting
        elif self.quit_when_saved:
            self.close()

    def _ask_before_quitting_unsaved(self) -> bool:
        """True when the window may close; else a (non-blocking) question was opened."""
        n = len(self.controller.unsaved_items())
        if not n or self.quit_when_saved:
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, "AGX Desktop", f"{n} take(s) are not saved",
                          QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText(f"{self.store.last_reason()}\n\nQuit anyway and lose them, or save them again "
                               "first (after fixing the problem)?")
        retry = box.addButton("Retry save", QMessageBox.ButtonRole.AcceptRole)
        lose = box.addButton("Quit without saving", QMessageBox.ButtonRole.DestructiveRole)

        def answered(button: tp.Any) -> None:
            if button is lose:
                self.quit_when_saved = True
                QTimer.singleShot(0, self.close)
            elif button is retry:
                self.quit_when_saved = True  # close once they are saved (_on_saved_again)
                if self.controller.retry_save() is None:
                    QTimer.singleShot(0, self.close)
        box.buttonClicked.connect(answered)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.unsaved_box = box
        return False

    def closeEvent(self, ev: tp.Any) -> None:  # noqa: N802 (Qt API)
        if not self._ask_before_quitting_unsaved():
            ev.ignore()
            return
        self.controller.closing = True
        jobs = [j for j in [self.runner.running, *self.runner.pending] if j is not None]
        if jobs:
            self.statusBar().showMessage("Cancelling the running job…")
        # A load only reads (the model, or the takes folder whose recovery is atomic renames): when the
        # process ends with the window, nothing is lost by not waiting for it, and an import of torch in
        # progress cannot be stopped early (quit took 8.7-15.7 s in the first seconds after start).
        only_loads = bool(jobs) and all(j.kind == "load" for j in jobs)
        self.runner.shutdown(timeout_ms=0 if only_loads and self.ends_process else 15000)
        self.player.close()
        self.transport.timer.stop()
        self.save_settings()
        super().closeEvent(ev)
