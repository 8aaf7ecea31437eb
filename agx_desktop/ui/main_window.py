"""The main window: prompt → generate → see / hear / edit → regenerate → export.

The app state (takes, the current take, A/B picks, the model, the selection) lives in a
:class:`~agx_desktop.ui.session.Session`; the window changes it through the session's methods and
redraws from its signals. It wires the views to the job queue. Engine work only ever happens inside
queued jobs (:mod:`tasks`); the window never calls torch.
"""
from __future__ import annotations

import base64
import json
import math
import random
import typing as tp
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QDoubleSpinBox, QFileDialog, QFrame,
                               QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QScrollArea, QSpinBox,
                               QSplitter, QToolButton, QVBoxLayout, QWidget)

from agx_desktop.engine.errors import AgxError, IntervalError
from agx_desktop.engine.explain import SUMMARIES, available_methods
from agx_desktop.engine.models import BUNDLED_ID, HUB_MODELS, list_models
from agx_desktop.engine.take import GenerationParams

from . import tasks
from .analysis import TakeItem
from .export import ExportError, explanation_csv, export_take, write_text_atomic
from .jobs import Job, JobRunner
from .paths import data_dir, drag_dir
from .playback import PlaybackError, Player
from .qt_compat import install_refcount_guard
from .session import Session
from .settings import Settings, load_settings, save_settings
from .store import TakeStore
from .widgets.chips import ChipsPanel
from .widgets.export_dialog import ExportDialog
from .widgets.history import DragHandle, TakeList, wav_mime
from .widgets.importance import ImportanceBars
from .widgets.timeline import TimelineView

MAX_SEED = 2 ** 31 - 1


def dice_icon() -> "QIcon":
    """A die face (five pips), drawn so it renders without an emoji font."""
    from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap
    pm = QPixmap(32, 32)
    pm.fill(QColor(0, 0, 0, 0))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QBrush(QColor("#e6e6e6")))
    p.setPen(QColor("#9aa0a6"))
    p.drawRoundedRect(3, 3, 26, 26, 6, 6)
    p.setBrush(QBrush(QColor("#2b2d31")))
    for x, y in ((10, 10), (22, 10), (16, 16), (10, 22), (22, 22)):
        p.drawEllipse(x - 3, y - 3, 6, 6)
    p.end()
    return QIcon(pm)


def _fmt_time(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:05.2f}"


class MainWindow(QMainWindow):
    """AGX Desktop's window. ``player``/``store``/``settings`` are injectable for tests."""

    take_shown = Signal(str)
    notice = Signal(str)

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
        self.notices: list[str] = []
        self.last_error: tuple[str, str, str] | None = None
        self.error_box: QMessageBox | None = None
        self.unsaved_box: QMessageBox | None = None
        self._quit_unsaved = False  # the user chose to quit once the unsaved takes are saved (or lost)
        self._closing = False
        self._display_stages: list[tp.Callable[[], tp.Any]] = []
        self._setting_sampling = False  # the window itself sets the sampling spins (not a user edit)
        self._last_tick: tuple | None = None  # what the playhead timer drew last
        self.model_infos: list[tp.Any] = []  # the models the combo lists (filled by _fill_models)

        self._build_ui()
        self._build_menus()
        self._build_autosave_status()
        self._connect()
        self._apply_settings()
        self._playhead_timer = QTimer(self)
        self._playhead_timer.setInterval(30)
        self._playhead_timer.timeout.connect(self._tick_playhead)
        self._playhead_timer.start()
        if load_autosaved:
            self.runner.submit(Job("Load autosaved takes", tasks.load_store_task(self.store), self._on_store_loaded,
                                   kind="load"))
        self._request_model(self.current_model_id())
        self._update_actions()

    # ================================================================== UI construction
    def _build_ui(self) -> None:
        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(4)

        # ---- prompt row
        prompt_row = QHBoxLayout()
        self.prompt_edit = QLineEdit()
        self.prompt_edit.setPlaceholderText("Describe a sound, e.g. “a dog barks then a bell rings”")
        self.prompt_edit.setClearButtonEnabled(True)
        f = self.prompt_edit.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.prompt_edit.setFont(f)
        prompt_row.addWidget(QLabel("Prompt"))
        prompt_row.addWidget(self.prompt_edit, 1)
        self.generate_btn = QPushButton("Generate")
        self.generate_btn.setDefault(True)
        self.explain_btn = QPushButton("Explain")
        self.gen_explain_btn = QPushButton("Generate + Explain")
        for b in (self.generate_btn, self.explain_btn, self.gen_explain_btn):
            prompt_row.addWidget(b)
        root.addLayout(prompt_row)

        # ---- parameters row
        params = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.setMinimumWidth(150)
        self._fill_models()
        params.addWidget(QLabel("Model"))
        params.addWidget(self.model_combo)
        self.duration_spin = QDoubleSpinBox()
        self.duration_spin.setDecimals(1)
        self.duration_spin.setSingleStep(0.5)
        self.duration_spin.setSuffix(" s")
        self.duration_spin.setRange(0.1, 10.0)
        params.addWidget(QLabel("Duration"))
        params.addWidget(self.duration_spin)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED)
        self.seed_spin.setMinimumWidth(80)
        self.dice_btn = QToolButton()
        self.dice_btn.setIcon(dice_icon())
        self.dice_btn.setToolTip("Pick a random seed")
        params.addWidget(QLabel("Seed"))
        params.addWidget(self.seed_spin)
        params.addWidget(self.dice_btn)
        self.cfg_spin = QDoubleSpinBox()
        self.cfg_spin.setRange(0.0, 10.0)
        self.cfg_spin.setSingleStep(0.5)
        self.cfg_spin.setToolTip("Classifier-free guidance: higher follows the prompt more closely")
        params.addWidget(QLabel("Guidance"))
        params.addWidget(self.cfg_spin)
        self.topk_spin = QSpinBox()
        self.topk_spin.setRange(0, 2048)
        self.topk_spin.setSpecialValueText("all")  # 0: no top-k limit
        self.topk_spin.setToolTip("Sample among the k most likely tokens (0 = all)")
        params.addWidget(QLabel("Top-k"))
        params.addWidget(self.topk_spin)
        self.temp_spin = QDoubleSpinBox()
        self.temp_spin.setRange(0.0, 2.0)
        self.temp_spin.setSingleStep(0.05)
        self.temp_spin.setToolTip("Sampling temperature: lower is more conservative (fewer stray sounds, less "
                                  "variety), 0 = always the most likely token")
        params.addWidget(QLabel("Temp"))
        params.addWidget(self.temp_spin)
        self.sampling_reset_btn = QToolButton()
        self.sampling_reset_btn.setText("↺")
        self.sampling_reset_btn.setToolTip("Guidance, top-k and temperature back to the model's defaults "
                                           "(they follow the model until you change one)")
        params.addWidget(self.sampling_reset_btn)
        self.method_combo = QComboBox()
        methods = available_methods()
        for m in sorted(methods, key=lambda m: (m != "audiogenx", m)):  # AudioGenX first, then the others
            self.method_combo.addItem(m)
            self.method_combo.setItemData(self.method_combo.count() - 1, SUMMARIES.get(m, m), Qt.ToolTipRole)
        self.method_combo.setToolTip("Explanation method: AudioGenX (the paper's), a baseline to compare, or "
                                     "counterfactual occlusion (hover an entry for what it does)")
        params.addWidget(QLabel("Explainer"))
        params.addWidget(self.method_combo)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setToolTip("AudioGenX training epochs (the paper uses 50)")
        params.addWidget(QLabel("Epochs"))
        params.addWidget(self.epochs_spin)
        params.addStretch(1)
        root.addLayout(params)

        # ---- job row
        job_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Idle")
        self.progress.setTextVisible(True)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the running job within about a second; queued jobs then run")
        self.clear_queue_btn = QPushButton("Clear queue")
        self.queue_label = QLabel("")
        self.hint_label = QLabel("")
        self.hint_label.setStyleSheet("color: #ffb347;")
        job_row.addWidget(self.progress, 1)
        job_row.addWidget(self.queue_label)
        job_row.addWidget(self.cancel_btn)
        job_row.addWidget(self.clear_queue_btn)
        root.addLayout(job_row)
        root.addWidget(self.hint_label)
        self.notice_label = QLabel("")
        self.notice_label.setWordWrap(True)
        self.notice_label.setStyleSheet("color: #ffb347; background: #3a2f1e; padding: 3px;")
        self.notice_label.setTextFormat(Qt.TextFormat.RichText)
        self.notice_label.linkActivated.connect(lambda _l: self.notice_label.hide())
        self.notice_label.hide()
        root.addWidget(self.notice_label)

        # ---- transport
        transport = QHBoxLayout()
        self.play_btn = QPushButton("▶ Play")
        self.play_btn.setToolTip("Play / pause (Space)")
        self.stop_btn = QPushButton("■ Stop")
        self.loop_check = QCheckBox("Loop selection")
        self.time_label = QLabel("0:00.00 / 0:00.00")
        self.time_label.setMinimumWidth(130)
        self.words_label = QLabel("")
        self.words_label.setMinimumWidth(120)
        self.drag_handle = DragHandle(self._mime_for_current)
        for w in (self.play_btn, self.stop_btn, self.loop_check, self.time_label):
            transport.addWidget(w)
        transport.addWidget(self.words_label, 1)
        transport.addWidget(self.drag_handle)
        root.addLayout(transport)

        # ---- timeline + bottom panes
        split = QSplitter(Qt.Orientation.Vertical)
        self.timeline = TimelineView()
        self.timeline.setMinimumHeight(320)
        split.addWidget(self.timeline)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        self.bars = ImportanceBars()
        self.bars.setMinimumWidth(260)
        bottom.addWidget(self.bars)

        edit_box = QGroupBox("Edit the prompt's words and regenerate")
        ev = QVBoxLayout(edit_box)
        self.chips = ChipsPanel()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.chips)
        ev.addWidget(scroll, 1)
        btns = QGridLayout()
        self.regenerate_btn = QPushButton("Regenerate (same seed)")
        self.regenerate_btn.setToolTip("Generate again with the same seed, applying the chips' weights and words")
        self.reset_chips_btn = QPushButton("Reset words")
        self.variations_spin = QSpinBox()
        self.variations_spin.setRange(1, 16)
        self.variations_spin.setPrefix("N = ")
        self.variations_btn = QPushButton("Variations")
        self.variations_btn.setToolTip("Generate N takes with different random seeds")
        self.factual_btn = QPushButton("Hear factual")
        self.factual_btn.setToolTip("Regenerate with only what the explanation found important (mask M)")
        self.counterfactual_btn = QPushButton("Hear counterfactual")
        self.counterfactual_btn.setToolTip("Regenerate with what the explanation found important removed (1 − M)")
        btns.addWidget(self.regenerate_btn, 0, 0)
        btns.addWidget(self.reset_chips_btn, 0, 1)
        btns.addWidget(self.variations_spin, 0, 2)
        btns.addWidget(self.variations_btn, 0, 3)
        btns.addWidget(self.factual_btn, 1, 0)
        btns.addWidget(self.counterfactual_btn, 1, 1)
        ev.addLayout(btns)
        bottom.addWidget(edit_box)
        bottom.setStretchFactor(0, 2)
        bottom.setStretchFactor(1, 3)
        split.addWidget(bottom)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([520, 270])
        self.splitter = split
        root.addWidget(split, 1)
        self.setCentralWidget(central)

        # ---- takes dock
        dock_w = QWidget()
        dl = QVBoxLayout(dock_w)
        dl.setContentsMargins(4, 4, 4, 4)
        self.history = TakeList(self._wav_for)
        dl.addWidget(self.history, 1)
        ab = QGroupBox("A/B compare")
        al = QGridLayout(ab)
        self.set_a_btn = QPushButton("Set A")
        self.set_b_btn = QPushButton("Set B")
        self.ab_btn = QPushButton("Switch A/B")
        self.ab_btn.setToolTip("Swap between take A and take B, keeping the playhead (and playback) where it is")
        self.ab_label = QLabel("Pick two takes (same seed) as A and B")
        self.ab_label.setWordWrap(True)
        al.addWidget(self.set_a_btn, 0, 0)
        al.addWidget(self.set_b_btn, 0, 1)
        al.addWidget(self.ab_btn, 0, 2)
        al.addWidget(self.ab_label, 1, 0, 1, 3)
        dl.addWidget(ab)
        self.dock = QDockWidget("Takes", self)
        self.dock.setObjectName("takes_dock")
        self.dock.setWidget(dock_w)
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                              | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.dock.setMinimumWidth(230)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.statusBar().showMessage(f"Data folder: {data_dir()}")

        if not self.player.available:
            for w in (self.play_btn, self.stop_btn, self.loop_check):
                w.setEnabled(False)
                w.setToolTip(self.player.reason)
            self.play_btn.setText("▶ Play (off)")

    def _fill_models(self) -> None:
        self.model_combo.clear()
        try:
            infos = list_models(check_network=False)
        except Exception as exc:  # the registry must never stop the window from opening
            infos = []
            self.notices.append(f"could not list models: {exc}")
        if not any(i.id == BUNDLED_ID for i in infos):
            from agx_desktop.engine.models import ModelInfo
            infos.insert(0, ModelInfo(BUNDLED_ID, "", "bundled model", True, "ready"))
        model = self.model_combo.model()
        for info in infos:
            label = info.id if info.trained else f"{info.id} (untrained)"
            self.model_combo.addItem(label if info.usable else f"{label} — unavailable", info.id)
            idx = self.model_combo.count() - 1
            self.model_combo.setItemData(idx, f"{info.description}\n{info.source}: {info.status}",
                                         Qt.ItemDataRole.ToolTipRole)
            if not info.usable:
                model.item(idx).setEnabled(False)
        self.model_infos = infos

    def _build_menus(self) -> None:
        mb = self.menuBar()
        fm = mb.addMenu("&File")
        self.export_wav_act = QAction("Export &WAV…", self, shortcut=QKeySequence("Ctrl+E"))
        self.export_json_act = QAction("Export explanation as &JSON…", self)
        self.export_csv_act = QAction("Export explanation as &CSV…", self)
        self.export_png_act = QAction("Export &heatmap as PNG…", self)
        self.open_data_act = QAction("Open data folder", self)
        self.retry_save_act = QAction("&Save unsaved takes", self)
        self.retry_save_act.setToolTip("Save again the takes autosave could not write (after freeing space)")
        self.quit_act = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        for a in (self.export_wav_act, self.export_json_act, self.export_csv_act, self.export_png_act):
            fm.addAction(a)
        fm.addSeparator()
        fm.addAction(self.retry_save_act)
        fm.addAction(self.open_data_act)
        fm.addAction(self.quit_act)
        pm = mb.addMenu("&Playback")
        self.play_act = QAction("Play / Pause", self, shortcut=QKeySequence(Qt.Key.Key_Space))
        self.stop_act = QAction("Stop", self)
        self.clear_sel_act = QAction("Clear selection", self, shortcut=QKeySequence(Qt.Key.Key_Escape))
        for a in (self.play_act, self.stop_act, self.clear_sel_act):
            pm.addAction(a)
        self.play_act.setEnabled(self.player.available)
        self.stop_act.setEnabled(self.player.available)
        hm = mb.addMenu("&Help")
        about = QAction("About AGX Desktop", self)
        about.triggered.connect(lambda: QMessageBox.about(
            self, "AGX Desktop", "Generate sound effects from text (AudioGen) and see which words made which "
            "sounds (AudioGenX, Kang et al., AAAI 2025)."))
        hm.addAction(about)

    def _connect(self) -> None:
        self.prompt_edit.textChanged.connect(self._update_actions)
        self.prompt_edit.returnPressed.connect(self.request_generate)
        for keys, slot, button in (("Ctrl+Return", self.request_generate, self.generate_btn),
                                   ("Ctrl+Shift+Return", lambda: self.request_generate(explain_after=True),
                                    self.gen_explain_btn),
                                   ("Ctrl+Shift+X", self.request_explain, self.explain_btn)):
            act = QAction(self, shortcut=QKeySequence(keys))
            act.triggered.connect(slot)
            self.addAction(act)
            button.setStatusTip(f"{button.text()} ({QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)})")
        self.generate_btn.clicked.connect(self.request_generate)
        self.explain_btn.clicked.connect(self.request_explain)
        self.gen_explain_btn.clicked.connect(lambda: self.request_generate(explain_after=True))
        self.cancel_btn.clicked.connect(self.runner.cancel_current)
        self.clear_queue_btn.clicked.connect(self.runner.clear_queue)
        self.dice_btn.clicked.connect(self.roll_seed)
        for name, spin in (("cfg_coef", self.cfg_spin), ("top_k", self.topk_spin), ("temperature", self.temp_spin)):
            spin.valueChanged.connect(lambda _v, n=name: self._on_sampling_edited(n))
        self.sampling_reset_btn.clicked.connect(self.reset_sampling)
        self.model_combo.currentIndexChanged.connect(
            lambda _i: self.session.choose_model(self.model_combo.currentData() or BUNDLED_ID))
        self.method_combo.currentTextChanged.connect(
            lambda m: self.epochs_spin.setEnabled(m in tasks.TRAINED_METHODS))
        self.regenerate_btn.clicked.connect(self.request_regenerate)
        self.reset_chips_btn.clicked.connect(self.chips.reset)
        self.variations_btn.clicked.connect(self.request_variations)
        self.factual_btn.clicked.connect(lambda: self.request_variant("factual"))
        self.counterfactual_btn.clicked.connect(lambda: self.request_variant("counterfactual"))
        self.chips.changed.connect(self._update_actions)
        self.timeline.selection_changed.connect(self.session.set_selection)
        self.timeline.seek_requested.connect(self.seek)
        self.timeline.heat_bar.sigLevelsChangeFinished.connect(lambda *_: self._refresh_importance())
        self.history.current_take_changed.connect(self.show_take)
        self.set_a_btn.clicked.connect(lambda: self.set_ab("A"))
        self.set_b_btn.clicked.connect(lambda: self.set_ab("B"))
        self.ab_btn.clicked.connect(self.switch_ab)
        self.play_btn.clicked.connect(self.toggle_play)
        self.stop_btn.clicked.connect(self.stop)
        self.play_act.triggered.connect(self.toggle_play)
        self.stop_act.triggered.connect(self.stop)
        self.clear_sel_act.triggered.connect(lambda: self.session.set_selection(None))
        self.loop_check.toggled.connect(self._on_loop)
        self.export_wav_act.triggered.connect(self.export_wav_dialog)
        self.export_json_act.triggered.connect(lambda: self.export_explanation_dialog("json"))
        self.export_csv_act.triggered.connect(lambda: self.export_explanation_dialog("csv"))
        self.export_png_act.triggered.connect(lambda: self.export_explanation_dialog("png"))
        self.open_data_act.triggered.connect(self.open_data_folder)
        self.quit_act.triggered.connect(self.close)
        s = self.session
        s.take_added.connect(self.history.add)
        s.current_changed.connect(self._on_current_changed)
        s.explanation_changed.connect(self._on_explanation_changed)
        s.ab_changed.connect(self._on_ab_changed)
        s.model_chosen.connect(self._on_model_chosen)
        s.model_changed.connect(self._on_model_loaded)
        s.sampling_custom_changed.connect(lambda _names: self._update_sampling_hint())
        s.selection_changed.connect(self._on_selection)
        s.active_words_changed.connect(self.chips.set_active)
        r = self.runner
        r.started.connect(self._on_job_started)
        r.progress.connect(self._on_job_progress)
        r.failed.connect(self._on_job_failed)
        r.cancelled.connect(self._on_job_cancelled)
        r.finished.connect(self._on_job_finished)
        r.queue_changed.connect(self._on_queue_changed)

    def _apply_settings(self) -> None:
        s = self.settings
        self.prompt_edit.setText(s.prompt)
        idx = self.model_combo.findData(s.model)
        if idx < 0 or not self.model_combo.model().item(idx).isEnabled():
            idx = max(0, self.model_combo.findData(BUNDLED_ID))
        self.model_combo.blockSignals(True)
        self.model_combo.setCurrentIndex(idx)
        self.model_combo.blockSignals(False)
        self.session.blockSignals(True)  # the first load is requested once the window is built
        self.session.choose_model(self.model_combo.currentData() or BUNDLED_ID)
        self.session.blockSignals(False)
        self._set_duration_range(self.current_model_id())
        self.duration_spin.setValue(s.duration)
        self.seed_spin.setValue(min(max(0, s.seed), MAX_SEED))
        self._set_sampling(s.cfg_coef, s.top_k, s.temperature)
        self.session.set_sampling_custom(s.sampling_custom)
        self._update_sampling_hint()
        self.epochs_spin.setValue(s.epochs)
        mi = self.method_combo.findText(s.method)
        self.method_combo.setCurrentIndex(max(0, mi))
        self.variations_spin.setValue(s.variations)
        self.loop_check.setChecked(s.loop)
        for attr, fn in (("geometry", self.restoreGeometry), ("state", self.restoreState)):
            val = getattr(s, attr)
            if val:
                try:
                    fn(QByteArray(base64.b64decode(val)))
                except Exception:
                    pass

    def collect_settings(self) -> Settings:
        s = self.settings
        s.prompt = self.prompt_edit.text()
        s.model = self.current_model_id()
        s.duration = float(self.duration_spin.value())
        s.seed = int(self.seed_spin.value())
        s.cfg_coef = float(self.cfg_spin.value())
        s.top_k = int(self.topk_spin.value())
        s.temperature = float(self.temp_spin.value())
        s.sampling_custom = sorted(self.session.sampling_custom)
        s.epochs = int(self.epochs_spin.value())
        s.method = self.method_combo.currentText()
        s.variations = int(self.variations_spin.value())
        s.loop = self.loop_check.isChecked()
        s.geometry = base64.b64encode(bytes(self.saveGeometry())).decode()
        s.state = base64.b64encode(bytes(self.saveState())).decode()
        return s

    # ================================================================== model
    def current_model_id(self) -> str:
        return self.session.model_id

    def _set_duration_range(self, model_id: str) -> None:
        model = self.session.model
        if model is not None and model.id == model_id:
            hi, step = model.max_duration, 1.0 / model.frame_rate
        else:
            fam = HUB_MODELS[model_id].family if model_id in HUB_MODELS else "audiogen"
            hi, step = (30.0 if fam == "musicgen" else 10.0), 0.02
        self.duration_spin.setRange(max(0.1, math.ceil(step * 10) / 10), hi)
        self.duration_spin.setToolTip(f"Length of the take: {self.duration_spin.minimum():g}–{hi:g} s for {model_id}")

    def _request_model(self, model_id: str) -> None:
        def done(model: tp.Any) -> None:
            if model_id == self.session.model_id:
                self.session.set_model(model)
        self.runner.submit(Job(f"Load model {model_id}", tasks.load_model_task(model_id), done, kind="load"))

    def _on_model_loaded(self, model: tp.Any) -> None:
        if model is None:
            self._update_actions()
            return
        if self.notice_label.text().startswith("Model not loaded"):
            self.notice_label.hide()
        self._set_duration_range(model.id)
        self._apply_model_sampling()
        if not getattr(model, "trained", True):
            self.statusBar().showMessage(f"Model {model.id} is an UNTRAINED stand-in: it makes noise. "
                                         "Fine for trying the app.", 8000)
        self._update_actions()

    def _set_sampling(self, cfg_coef: float, top_k: int, temperature: float) -> None:
        """Show these sampling values without counting it as the user's edit."""
        self._setting_sampling = True
        try:
            self.cfg_spin.setValue(cfg_coef)
            self.topk_spin.setValue(top_k)
            self.temp_spin.setValue(temperature)
        finally:
            self._setting_sampling = False

    def _on_sampling_edited(self, name: str) -> None:
        if not self._setting_sampling:
            self.session.mark_sampling_custom(name)  # this value now stays when the model changes

    def _apply_model_sampling(self) -> None:
        """Set the sampling fields the user has not changed to the loaded model's recommendation."""
        model = self.session.model
        if model is None or not hasattr(model, "default_params"):
            return
        d = model.default_params()
        mine = {"cfg_coef": self.cfg_spin.value(), "top_k": self.topk_spin.value(), "temperature": self.temp_spin.value()}
        custom = self.session.sampling_custom
        vals = {f: (mine[f] if f in custom else getattr(d, f)) for f in mine}
        self._set_sampling(vals["cfg_coef"], int(vals["top_k"]), vals["temperature"])
        self._update_sampling_hint()

    def reset_sampling(self) -> None:
        """Guidance, top-k and temperature from the loaded model's recommendation (bundled: temp 0.8)."""
        self.session.follow_model_sampling()
        self._apply_model_sampling()

    def _update_sampling_hint(self) -> None:
        custom = self.session.sampling_custom
        changed = ", ".join(sorted(custom))
        model = self.session.model.id if self.session.model is not None else "the model"
        self.sampling_reset_btn.setEnabled(bool(custom))
        self.sampling_reset_btn.setToolTip(
            f"Guidance, top-k and temperature follow {model}'s defaults until you change one"
            + (f"; yours: {changed}. Click to go back to the model's." if changed else "."))

    def _on_model_chosen(self, model_id: str) -> None:
        self._set_duration_range(model_id)
        self._request_model(model_id)
        self._update_actions()

    # ================================================================== requests
    def params(self) -> GenerationParams:
        return GenerationParams(duration=float(self.duration_spin.value()), seed=int(self.seed_spin.value()),
                                top_k=int(self.topk_spin.value()), cfg_coef=float(self.cfg_spin.value()),
                                temperature=float(self.temp_spin.value()))

    def prompt_problem(self) -> str:
        """Why Generate is disabled ('' when it is enabled)."""
        prompt = self.prompt_edit.text()
        if not prompt.strip():
            return "Type a prompt to generate, e.g. “rain on a tin roof”."
        model = self.session.model
        if model is None:
            return ""
        cached = self.session.cached_prompt_problem(prompt)
        if cached is not None:
            return cached
        if self.runner.busy:
            # a Hugging Face fast tokenizer must not be used from two threads at once ("Already
            # borrowed"): while a job runs only emptiness is checked here; the job reports the rest
            return ""
        try:
            model.text_tokens(prompt)
            problem = ""
        except AgxError as exc:
            problem = str(exc)
        self.session.remember_prompt_problem(prompt, problem)
        return problem

    def roll_seed(self) -> None:
        self.seed_spin.setValue(random.randint(0, MAX_SEED))

    def _submit(self, title: str, fn: tp.Callable, on_done: tp.Callable, kind: str) -> Job:
        job = self.runner.submit(Job(title, fn, on_done, kind=kind))
        if self.runner.running is not job:
            self.statusBar().showMessage(f"Queued: {title} (runs after the current job)", 4000)
        return job

    def request_generate(self, explain_after: bool = False) -> Job | None:
        if self.prompt_problem():
            self._update_actions()
            return None
        prompt, params = self.prompt_edit.text().strip(), self.params()
        save_settings(self.collect_settings())
        title = ("Generate + explain" if explain_after else "Generate") + f" “{prompt[:40]}” (seed {params.seed})"
        fn = tasks.generate_task(self.store, self.current_model_id(), prompt, params, explain_after=explain_after,
                                 method=self.method_combo.currentText(), epochs=self.epochs_spin.value())
        return self._submit(title, fn, self._on_new_items, "generate")

    def request_explain(self) -> Job | None:
        self._finish_display()
        item = self.session.current
        if item is None:
            return None
        model_id = item.take.model_id
        epochs, method = int(self.epochs_spin.value()), self.method_combo.currentText()

        def done(explanation: tp.Any, item: TakeItem = item) -> None:
            problem = explanation.extras.pop("autosave_error", None)
            self.session.set_explanation(item, explanation)
            if problem:
                self._autosave_problem(problem, item)
            self.statusBar().showMessage(f"Explained take {item.id} with {explanation.method} in "
                                         f"{explanation.seconds:.1f} s", 8000)
        return self._submit(f"Explain take {item.id} ({method}, {epochs} epochs)",
                            tasks.explain_task(self.store, model_id, item, method, epochs), done, "explain")

    def request_regenerate(self) -> Job | None:
        self._finish_display()
        item = self.session.current
        if item is None:
            return None
        weights, words = self.chips.weights(), self.chips.words()
        take = item.take
        if words != list(take.words):  # a replaced word: a new prompt, same seed and weights
            prompt = self._replace_words(take, words)
            fn = tasks.generate_task(self.store, take.model_id, prompt, take.params, word_weights=weights,
                                     parent=take.id)
            return self._submit(f"Regenerate “{prompt[:40]}” (seed {take.params.seed})", fn,
                                lambda items: self._on_derived(item, items), "generate")
        fn = tasks.regenerate_task(self.store, take.model_id, item, "weighted", word_weights=weights)
        return self._submit(f"Regenerate with weights (seed {take.params.seed})", fn,
                            lambda items: self._on_derived(item, items), "generate")

    def _on_derived(self, parent: TakeItem, items: list[TakeItem]) -> None:
        """A take regenerated from ``parent`` (same seed): show it and make the pair A/B."""
        self._on_new_items(items)
        if items and parent.id in self.session.items:
            self.session.set_ab_pair(parent.id, items[0].id, side="B")

    @staticmethod
    def _replace_words(take: tp.Any, words: list[str]) -> str:
        spans = list(take.text.word_spans)
        prompt = take.prompt
        if len(spans) != len(words):
            return " ".join(words)
        for (a, b), w in sorted(zip(spans, words), reverse=True):
            prompt = prompt[:a] + w + prompt[b:]
        return prompt

    def request_variations(self) -> Job | None:
        prompt = self.prompt_edit.text().strip()
        if self.prompt_problem():
            return None
        n = int(self.variations_spin.value())
        rng = random.Random()
        seeds = [rng.randint(0, MAX_SEED) for _ in range(n)]
        fn = tasks.generate_task(self.store, self.current_model_id(), prompt, self.params(), seeds=seeds)
        return self._submit(f"{n} variations of “{prompt[:40]}”", fn, self._on_new_items, "generate")

    def request_variant(self, variant: str) -> Job | None:
        self._finish_display()
        item = self.session.current
        if item is None or item.explanation is None:
            return None
        fn = tasks.regenerate_task(self.store, item.take.model_id, item, variant)

        def done(items: list[TakeItem], parent: TakeItem = item) -> None:
            self._on_derived(parent, items)
            if self.player.available:
                try:
                    self.player.play(0.0)
                except PlaybackError as exc:
                    self.show_error("Playback failed", str(exc))
        return self._submit(f"Hear {variant} of take {item.id}", fn, done, "generate")

    # ================================================================== job feedback
    def _on_job_started(self, job: Job) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"{job.title}…")
        self._update_actions()

    def _on_job_progress(self, job: Job, stage: str, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            self.progress.setFormat(f"{job.title} — {stage} {done}/{total}")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(f"{job.title} — {stage}")

    def _idle_progress(self, text: str) -> None:
        if self.runner.running is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat(text)

    def _on_job_finished(self, job: Job, _result: tp.Any) -> None:
        if job.kind != "explain":  # explain's own message says how long it took
            self.statusBar().showMessage(f"Done: {job.title}", 5000)
        self._idle_progress(f"Done: {job.title}")
        self._update_actions()

    def _on_job_cancelled(self, job: Job) -> None:
        self.statusBar().showMessage(f"Cancelled: {job.title}", 5000)
        self._idle_progress(f"Cancelled: {job.title}")
        self._update_actions()

    def _on_job_failed(self, job: Job, message: str, details: str) -> None:
        self.last_error = (job.title, message, details)
        self._idle_progress(f"Failed: {job.title}")
        if job.kind == "load" and job.title.startswith("Load model"):
            self.show_notice(f"Model not loaded: {message}")
        if not self._closing:
            self.show_error(f"{job.title} failed", message, details)
        self._update_actions()

    def _on_queue_changed(self) -> None:
        n = len(self.runner.pending)
        self.queue_label.setText(f"{n} queued" if n else "")
        self.queue_label.setToolTip("\n".join(j.title for j in self.runner.pending))
        self._update_actions()

    def show_error(self, title: str, message: str, details: str = "") -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "AGX Desktop", title, QMessageBox.StandardButton.Ok, self)
        box.setInformativeText(message)
        if details:
            box.setDetailedText(details)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()  # non-blocking: the app stays usable
        self.error_box = box
        self.statusBar().showMessage(f"{title}: {message}", 10000)

    # ================================================================== takes
    def _on_store_loaded(self, result: tuple[list[TakeItem], list[str]]) -> None:
        items, notices = result
        for item in items:
            self.session.add_take(item)
        if items:
            self.show_take(items[-1].id)
        if notices:
            self.notices.extend(notices)
            skipped = sum(n.startswith("skipped") for n in notices)
            msg = (f"{skipped} autosaved take folder(s) could not be read and were skipped; "
                   f"{len(items)} take(s) loaded. " if skipped else f"{len(items)} take(s) loaded. ") + notices[0]
            if len(notices) > 1:
                msg += f" (+{len(notices) - 1} more: hover for all)"
            if self.store.problem:
                msg = self.store.off_notice() + " " + msg
            self.show_notice(msg, "\n".join(notices))
            self.notice.emit(msg)
        elif items:
            self.statusBar().showMessage(f"Loaded {len(items)} autosaved take(s) from {self.store.root}", 5000)

    def _on_new_items(self, items: list[TakeItem]) -> None:
        for item in items:
            self.session.add_take(item)
            if item.notes.get("autosave_error"):
                self._autosave_problem(item.notes.pop("autosave_error"), item)
        if items:
            self.show_take(items[0].id)

    # ================================================================== autosave state
    def _build_autosave_status(self) -> None:
        """A status-bar warning + "Retry save" button while takes are unsaved or autosave is off."""
        self.save_state_label = QLabel("")
        self.save_state_label.setStyleSheet("color: #ffb347;")
        self.retry_save_btn = QPushButton("Retry save")
        self.retry_save_btn.setToolTip("Save the takes that are not on disk yet (after freeing space)")
        self.retry_save_btn.clicked.connect(self.retry_save)
        self.retry_save_act.triggered.connect(self.retry_save)
        self.statusBar().addPermanentWidget(self.save_state_label)
        self.statusBar().addPermanentWidget(self.retry_save_btn)
        if self.store.problem:
            self.notices.append(self.store.off_notice())
            self.show_notice(self.store.off_notice())
        self._refresh_save_state()

    def unsaved_items(self) -> list[TakeItem]:
        """Takes (or explanations) of this session that are not on disk."""
        return [it for it in self.store.unsaved_items() if it.id in self.session.items]

    def _refresh_save_state(self) -> None:
        n = len(self.unsaved_items())
        if n:
            text = f"⚠ {n} take(s) not saved"
        elif self.store.problem:
            text = "⚠ Autosave off"
        else:
            text = ""
        self.save_state_label.setText(text)
        self.save_state_label.setToolTip(self.store.last_reason() or (self.store.off_notice() if self.store.problem else ""))
        self.save_state_label.setVisible(bool(text))
        self.retry_save_btn.setVisible(bool(n))
        self.retry_save_act.setEnabled(bool(n))

    def _autosave_problem(self, message: str, item: TakeItem | None = None) -> None:
        """A take or explanation was not written: keep it, say why, offer Retry."""
        if item is not None and item.id not in self.store.unsaved:
            self.store.mark_unsaved(item, message)
        lines = self.store.reason_lines()
        reason = (self.store.reason_for(item.id) if item is not None else "") or message
        self.notices.append(reason)
        n = len(self.unsaved_items())
        self.show_notice(f"Not saved ({n} take(s) kept in this session only): {reason}", "\n".join(lines))
        self._refresh_save_state()

    def retry_save(self) -> Job | None:
        """Queue a job that saves every unsaved take again (File ▸ Save unsaved takes / Retry save)."""
        if not self.store.unsaved_items():
            return None
        store = self.store

        def done(result: tuple[list[TakeItem], list[str]]) -> None:
            saved, errors = result
            for item in saved:
                self.history.refresh(item)
            if errors:
                self._quit_unsaved = False  # still unsaved: ask again before quitting
                self.show_notice(f"Still not saved ({len(errors)} take(s)): {errors[0]}", "\n".join(errors))
            else:
                if self.notice_label.text().startswith(("Not saved", "Still not saved", "Autosave is off")):
                    self.notice_label.hide()
                self.statusBar().showMessage(f"Saved {len(saved)} take(s) to {store.root}", 8000)
            self._refresh_save_state()
            if self._quit_unsaved and not self.unsaved_items():
                self.close()
        return self._submit("Save unsaved takes", lambda ctx: store.retry_unsaved(), done, "save")

    def _ask_before_quitting_unsaved(self) -> bool:
        """True when the window may close; else a (non-blocking) question was opened."""
        n = len(self.unsaved_items())
        if not n or self._quit_unsaved:
            return True
        box = QMessageBox(QMessageBox.Icon.Warning, "AGX Desktop", f"{n} take(s) are not saved",
                          QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText(f"{self.store.last_reason()}\n\nQuit anyway and lose them, or save them again "
                               "first (after fixing the problem)?")
        retry = box.addButton("Retry save", QMessageBox.ButtonRole.AcceptRole)
        lose = box.addButton("Quit without saving", QMessageBox.ButtonRole.DestructiveRole)

        def answered(button: tp.Any) -> None:
            if button is lose:
                self._quit_unsaved = True
                QTimer.singleShot(0, self.close)
            elif button is retry:
                self._quit_unsaved = True  # close once they are saved (done() above)
                if self.retry_save() is None:
                    QTimer.singleShot(0, self.close)
        box.buttonClicked.connect(answered)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.open()
        self.unsaved_box = box
        return False

    def show_notice(self, text: str, tooltip: str = "") -> None:
        """A persistent notice bar (dismissed with its link)."""
        import html
        self.notice_label.setText(f"{html.escape(text)} &nbsp;<a href='dismiss' style='color:#5fb3ff'>Dismiss</a>")
        self.notice_label.setToolTip(tooltip)
        self.notice_label.show()

    def show_take(self, take_id: str) -> None:
        """Make ``take_id`` the current take. The views are refreshed in short stages, each its own
        turn of the event loop, so showing a take never blocks the GUI thread for long."""
        item = self.session.items.get(take_id)
        if item is None:
            return
        self._finish_display()
        switching = self.session.current is not item
        if switching:
            self.session.set_current(take_id)  # → _on_current_changed
        else:
            self._select_in_history(take_id)
        self._update_actions()
        stages = [lambda: self.timeline.set_item(item)]
        if switching:
            stages.append(lambda: self._show_chips(item))
        stages.append(self._show_explanation)
        stages.append(lambda: (self._on_loop(self.loop_check.isChecked()), self._update_actions(),
                               self.take_shown.emit(take_id)))
        self._display_stages = stages
        QTimer.singleShot(1, self._run_display_stage)

    def _select_in_history(self, take_id: str) -> None:
        self.history.blockSignals(True)
        self.history.select(take_id)
        self.history.blockSignals(False)

    def _on_current_changed(self, item: TakeItem) -> None:
        self._select_in_history(item.id)
        # A/B: keep playing from the same position when swapping the pair
        keep = self.player.playing and self.session.ab_pair_contains(item.id)
        try:
            self.player.load(item.take.audio, item.take.sample_rate, keep_position=keep)
        except PlaybackError as exc:
            self.show_error("Playback failed", str(exc))

    def _on_explanation_changed(self, item: TakeItem) -> None:
        self.history.refresh(item)
        if self.session.current is item:
            self._show_explanation()
        self._update_actions()

    def _show_chips(self, item: TakeItem) -> None:
        self.chips.set_words(item.take.words, item.take.word_weights)
        self.session.set_active_words([])  # new chips: the next playhead tick marks the active ones again

    def _run_display_stage(self) -> None:
        if self._display_stages:
            self._display_stages.pop(0)()
        if self._display_stages:
            QTimer.singleShot(1, self._run_display_stage)

    def _finish_display(self) -> None:
        """Run what is left of a staged refresh now (before acting on what the views show)."""
        while self._display_stages:
            self._display_stages.pop(0)()

    def display_pending(self) -> bool:
        return bool(self._display_stages)

    def _show_explanation(self) -> None:
        item = self.session.current
        ex = item.explanation if self.session.explanation_matches(item) else None
        self.timeline.set_heatmap(ex)
        self._refresh_importance()

    def _refresh_importance(self) -> None:
        item = self.session.current
        if not self.session.explanation_matches(item):
            self.bars.set_values(None, None)
            self.chips.set_importances(None)
            return
        ex = item.explanation
        sel = self.session.selection
        try:
            values = ex.word_importance(sel)
        except IntervalError as exc:
            self.statusBar().showMessage(str(exc), 4000)
            sel, values = None, ex.word_importance(None)
        levels = tuple(float(v) for v in self.timeline.heat_bar.levels())
        self.bars.set_values(list(ex.words), values, sel, levels=levels)
        self.chips.set_importances(values, levels=levels)

    def _on_selection(self, sel: tp.Any) -> None:
        if self.timeline.selection != sel:  # set here, not dragged on the timeline
            self.timeline.set_selection(sel, emit=False)
        self._refresh_importance()
        self._on_loop(self.loop_check.isChecked())

    # ================================================================== playback
    def toggle_play(self) -> None:
        if not self.player.available or self.session.current is None:
            return
        try:
            self.player.toggle()
        except PlaybackError as exc:
            self.show_error("Playback failed", str(exc))
        self._tick_playhead()

    def stop(self) -> None:
        self.player.stop()
        self._tick_playhead()

    def seek(self, t: float) -> None:
        try:
            self.player.seek(t)
        except PlaybackError as exc:
            self.show_error("Playback failed", str(exc))
        self._tick_playhead()

    def _on_loop(self, on: bool) -> None:
        self.player.set_loop(self.session.selection if on else None)

    def _tick_playhead(self) -> None:
        """Move the playhead to what the stream says is being heard (30 ms GUI timer: redraw only)."""
        playing = self.player.poll()
        pos = self.player.position()
        cur = self.session.current
        state = (playing, pos, cur.id if cur else None, len(self.session.active_words),
                 id(cur.explanation) if cur else 0, self.display_pending())
        if state == self._last_tick:
            return  # idle: nothing to redraw
        self._last_tick = state
        self.timeline.set_playhead(pos)
        self.play_btn.setText("❚❚ Pause" if playing else ("▶ Play" if self.player.available else "▶ Play (off)"))
        dur = cur.take.duration if cur else 0.0
        self.time_label.setText(f"{_fmt_time(pos)} / {_fmt_time(dur)}")
        self._update_active_words(pos)

    def _update_active_words(self, pos: float) -> None:
        item = self.session.current
        pf = self.session.per_frame(item) if self.session.explanation_matches(item) else None
        if pf is None or not len(pf):
            if self.session.active_words:
                self.session.set_active_words([])  # → chips.set_active
                self.timeline.set_active_words((), pos)
            self.words_label.setText("")
            return
        frame = int(np.clip(pos * item.explanation.frame_rate, 0, len(pf) - 1))
        active = self.words_at(pf[frame])
        self.session.set_active_words(active)  # → chips.set_active, when they changed
        self.timeline.set_active_words(active, pos)
        words = item.explanation.words
        self.words_label.setText("At the playhead: " + ", ".join(words[i] for i in active))

    @staticmethod
    def words_at(row: np.ndarray) -> list[int]:
        """The words that matter at one frame: the top third, if above the frame's mean."""
        if not len(row):
            return []
        k = max(1, int(math.ceil(len(row) / 3)))
        order = np.argsort(-row, kind="stable")[:k]
        return sorted(int(i) for i in order if row[i] >= row.mean())

    # ================================================================== A/B
    def set_ab(self, side: str) -> None:
        self._finish_display()
        if self.session.current is None:
            return
        self.session.set_ab(side, self.session.current.id)

    def switch_ab(self) -> None:
        self._finish_display()
        s = self.session
        if not s.ab_complete:
            return
        on_a = s.current is not None and s.current.id == s.ab["A"]
        s.set_ab_side("B" if on_a else "A")
        self.show_take(s.ab[s.ab_side])

    def _on_ab_changed(self, _ab: dict, _side: str) -> None:
        self._update_ab_label()
        self._update_actions()

    def _update_ab_label(self) -> None:
        ab, items = self.session.ab, self.session.items
        parts = []
        for side in "AB":
            tid = ab[side]
            it = items.get(tid) if tid else None
            parts.append(f"{side}: {it.take.kind} seed {it.take.params.seed}" if it else f"{side}: —")
        text = " | ".join(parts) + f" — hearing {self.session.ab_side}"
        a, b = (items.get(ab[s] or "") for s in "AB")
        if a and b and a.take.params.seed != b.take.params.seed:
            text += " (different seeds: compare takes with the same seed)"
        self.ab_label.setText(text)

    # ================================================================== export
    def _drag_settings(self) -> tp.Any:
        return self.settings.export

    def _wav_for(self, take_id: str) -> Path | None:
        item = self.session.items.get(take_id)
        if item is None:
            return None
        try:
            folder = drag_dir() / item.id  # one folder per take: same-named files never clash
            folder.mkdir(exist_ok=True)
            path, _ = export_take(item.take, folder, self._drag_settings(), overwrite=True)
        except (ExportError, OSError) as exc:
            self.show_error("Could not prepare the WAV to drag", str(exc))
            return None
        return path

    def _mime_for_current(self) -> tp.Any:
        if self.session.current is None:
            return None
        path = self._wav_for(self.session.current.id)
        return None if path is None else wav_mime([path])

    def export_current(self, folder: str | Path, opts: tp.Any = None) -> Path | None:
        """Export the current take to ``folder``; shows and records an error instead of raising."""
        self._finish_display()
        current = self.session.current
        if current is None:
            return None
        opts = opts or self.settings.export
        try:
            path, note = export_take(current.take, folder, opts)
        except ExportError as exc:
            self.last_error = ("Export WAV", str(exc), "")
            self.show_error("Export failed", str(exc))
            return None
        self.statusBar().showMessage(f"Exported {path} ({note})", 8000)
        return path

    def export_wav_dialog(self) -> None:
        if self.session.current is None:
            return
        opts = self.settings.export
        if not opts.folder:
            opts.folder = str(Path.home())
        dlg = ExportDialog(opts, self.session.current.take, self)
        if dlg.exec():
            self.settings.export = dlg.result_settings()
            save_settings(self.collect_settings())
            self.export_current(self.settings.export.folder, self.settings.export)

    def export_explanation(self, path: str | Path, fmt: str) -> Path | None:
        self._finish_display()
        item = self.session.current
        if not self.session.explanation_matches(item):
            return None
        path = Path(path)
        try:
            if fmt == "json":
                out = write_text_atomic(path, json.dumps(item.explanation.to_json(self.session.selection),
                                                         indent=1, ensure_ascii=False))
            elif fmt == "csv":
                out = write_text_atomic(path, explanation_csv(item.explanation))
            else:
                out = self._export_heatmap_png(path)
        except (ExportError, AgxError) as exc:
            self.last_error = (f"Export {fmt}", str(exc), "")
            self.show_error(f"Export {fmt.upper()} failed", str(exc))
            return None
        self.statusBar().showMessage(f"Exported {out}", 8000)
        return out

    def _export_heatmap_png(self, path: Path) -> Path:
        """The word × time heatmap with its time axis, word labels and colour bar, at 2× scale."""
        from PySide6.QtGui import QImage, QPainter
        from .export import atomic_write
        tl = self.timeline
        rect = tl.heat.sceneBoundingRect()
        rect.setRight(max(rect.right(), tl.heat_bar.sceneBoundingRect().right()) + 4)
        rect.setLeft(rect.left() - 4)
        img = QImage(int(rect.width() * 2), int(rect.height() * 2), QImage.Format.Format_ARGB32)
        img.fill(tl.backgroundBrush().color())
        painter = QPainter(img)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        tl.scene().render(painter, img.rect().toRectF(), rect)
        painter.end()

        def writer(tmp: str) -> None:
            if not img.save(tmp, "PNG"):
                raise ExportError(f"could not write a PNG to {path.parent}")
        return atomic_write(path, writer, suffix=".png.part")

    def export_explanation_dialog(self, fmt: str) -> None:
        if not self.session.explanation_matches(self.session.current):
            return
        ext = {"json": "JSON (*.json)", "csv": "CSV (*.csv)", "png": "PNG image (*.png)"}[fmt]
        start = Path(self.settings.export.folder or Path.home()) / f"explanation_{self.session.current.id}.{fmt}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export explanation as {fmt.upper()}", str(start), ext)
        if path:
            self.export_explanation(path, fmt)

    def open_data_folder(self) -> None:
        """Open the autosave folder in the file manager (or say where it is)."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices
        folder = data_dir()
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            QMessageBox.information(self, "Data folder", f"Takes, explanations and settings are kept in\n{folder}")

    # ================================================================== state of the controls
    def _update_actions(self) -> None:
        problem = self.prompt_problem()
        for b in (self.generate_btn, self.gen_explain_btn, self.variations_btn):
            b.setEnabled(not problem)
            b.setToolTip(problem or ("Queued after the running job" if self.runner.busy else ""))
        self.hint_label.setText(problem)
        self.hint_label.setVisible(bool(problem))
        has = self.session.current is not None
        explained = self.session.explanation_matches(self.session.current)
        self.explain_btn.setEnabled(has)
        self.explain_btn.setToolTip("" if has else "Generate a take first")
        self.regenerate_btn.setEnabled(has)
        self.reset_chips_btn.setEnabled(has and self.chips.edited())
        for b in (self.factual_btn, self.counterfactual_btn):
            b.setEnabled(explained)
        self.cancel_btn.setEnabled(self.runner.busy)
        self.clear_queue_btn.setVisible(bool(self.runner.pending))
        self.export_wav_act.setEnabled(has)
        self.drag_handle.setEnabled(has)
        for a in (self.export_json_act, self.export_csv_act, self.export_png_act):
            a.setEnabled(explained)
        self.set_a_btn.setEnabled(has)
        self.set_b_btn.setEnabled(has)
        self.ab_btn.setEnabled(self.session.ab_complete)

    # ================================================================== quitting
    def closeEvent(self, ev: tp.Any) -> None:  # noqa: N802 (Qt API)
        if not self._ask_before_quitting_unsaved():
            ev.ignore()
            return
        self._closing = True
        if self.runner.busy or self.runner.pending:
            self.statusBar().showMessage("Cancelling the running job…")
        self.runner.shutdown()
        self.player.close()
        self._playhead_timer.stop()
        save_settings(self.collect_settings())
        super().closeEvent(ev)
