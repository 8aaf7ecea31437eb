"""The generation panel: prompt, model, duration, seed, sampling and the explainer controls.

It edits the request being prepared in the :class:`~agx_desktop.ui.session.Session` (prompt, params,
model choice) and shows it back: setting ``session.set_params(seed=3)`` moves the seed box, typing in
the box changes ``session.params``. Guidance, top-k and temperature follow the loaded model's
recommendation until the user changes one (``session.sampling_custom``).
"""
from __future__ import annotations

import math
import random
import typing as tp

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QIcon, QValidator
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QToolButton, QVBoxLayout, QWidget)

from superqt import QFlowLayout

from agx_desktop.engine.models import BUNDLED_ID, ModelInfo, list_models, max_duration

from ..controller import MAX_SEED
from .explainer import ExplainerPanel

if tp.TYPE_CHECKING:
    from agx_desktop.engine.take import GenerationParams

    from ..session import Session
    from ..settings import Settings

SAMPLING = ("cfg_coef", "top_k", "temperature")


def dice_icon() -> QIcon:
    """A die face (five pips), drawn so it renders without an emoji font."""
    from PySide6.QtGui import QBrush, QColor, QPainter, QPixmap
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


class ClampedSpin(QDoubleSpinBox):
    """A duration box that lets a too-large number be typed, then says it used the maximum
    (Qt's box silently refuses the keys, so "99" became "0.1")."""

    clamped = Signal(str)  # what was typed and what is used instead, for the status bar

    def validate(self, text: str, pos: int) -> object:
        state = super().validate(text, pos)
        if state[0] == QValidator.State.Invalid:
            try:
                float(text.removesuffix(self.suffix()).strip())
            except ValueError:
                return state
            return (QValidator.State.Intermediate, text, pos)
        return state

    def fixup(self, text: str) -> str:
        try:
            typed = float(text.removesuffix(self.suffix()).strip())
        except ValueError:
            return super().fixup(text)
        used = min(max(typed, self.minimum()), self.maximum())
        if used != typed:
            side = "above" if typed > used else "below"
            bound = "maximum" if typed > used else "minimum"
            self.clamped.emit(f"duration {typed:g} s is {side} this model's {used:g} s {bound}: using {used:g} s")
        return self.textFromValue(used)


def _spin(cls: type, lo: float, hi: float, step: float | None = None, tip: str = "") -> tp.Any:
    spin = cls()
    spin.setRange(lo, hi)
    if step is not None:
        spin.setSingleStep(step)
    if tip:
        spin.setToolTip(tip)
    return spin


class GenerationPanel(QWidget):
    """Two rows: the prompt with Generate / Explain / Generate + Explain, then the parameters."""

    def __init__(self, session: Session, spacing: int = 4, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.notices: list[str] = []  # what went wrong listing the models (the window shows them)
        self._showing = False  # the panel itself is setting the boxes (not a user edit)
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(spacing)
        prompt_row = QHBoxLayout()
        rows.addLayout(prompt_row)
        self.params_row = QWidget()  # label + box pairs that wrap onto a second line on a narrow window
        params = QFlowLayout(self.params_row)
        params.setContentsMargins(0, 0, 0, 0)
        params.setHorizontalSpacing(spacing * 3)
        params.setVerticalSpacing(spacing)
        rows.addWidget(self.params_row)

        self.prompt_edit = QLineEdit()
        self.prompt_edit.setPlaceholderText("Describe a sound, e.g. “a dog barks then a bell rings”")
        self.prompt_edit.setClearButtonEnabled(True)
        f = self.prompt_edit.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.prompt_edit.setFont(f)
        self.generate_btn = QPushButton("Generate")
        self.generate_btn.setDefault(True)
        self.explain_btn = QPushButton("Explain")
        self.gen_explain_btn = QPushButton("Generate + Explain")
        prompt_row.addWidget(QLabel("Prompt"))
        prompt_row.addWidget(self.prompt_edit, 1)
        for b in (self.generate_btn, self.explain_btn, self.gen_explain_btn):
            prompt_row.addWidget(b)

        self.model_combo = QComboBox()
        self.model_combo.setMinimumWidth(150)
        self.model_infos = self._fill_models()
        self.duration_spin = _spin(ClampedSpin, 0.1, 10.0, 0.5)
        self.duration_spin.setDecimals(1)
        self.duration_spin.setSuffix(" s")
        self.seed_spin = _spin(QSpinBox, 0, MAX_SEED)
        self.seed_spin.setMinimumWidth(80)
        self.dice_btn = QToolButton()
        self.dice_btn.setIcon(dice_icon())
        self.dice_btn.setToolTip("Pick a random seed")
        self.cfg_spin = _spin(QDoubleSpinBox, 0.0, 10.0, 0.5,
                              "Classifier-free guidance: higher follows the prompt more closely")
        self.topk_spin = _spin(QSpinBox, 0, 2048, None, "Sample among the k most likely tokens (0 = all)")
        self.topk_spin.setSpecialValueText("all")  # 0: no top-k limit
        self.temp_spin = _spin(QDoubleSpinBox, 0.0, 2.0, 0.05,
                               "Sampling temperature: lower is more conservative (fewer stray sounds, less "
                               "variety), 0 = always the most likely token")
        self.sampling_reset_btn = QToolButton()
        self.sampling_reset_btn.setText("↺")
        self.explainer = ExplainerPanel(session, spacing)
        self.duration_max_label = QLabel("")  # the model's maximum, visible (not only in the tooltip)
        self.duration_max_label.setStyleSheet("color: #9aa0a6;")
        for group in ((("Model", self.model_combo),), (("Duration", self.duration_spin), ("", self.duration_max_label)),
                      (("Seed", self.seed_spin), ("", self.dice_btn)),
                      (("Guidance", self.cfg_spin), ("Top-k", self.topk_spin), ("Temp", self.temp_spin),
                       ("", self.sampling_reset_btn)), (("", self.explainer),)):
            box = QWidget()
            lay = QHBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.setSpacing(spacing)
            for label, w in group:
                if label:
                    lay.addWidget(QLabel(label))
                lay.addWidget(w)
            params.addWidget(box)
        for combo in self.explainer.findChildren(QComboBox):  # "audiogenx", never elided to "audiogei"
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)

        self.hint_label = QLabel("")  # why Generate is refused; the window places it under the job bar
        self.hint_label.setStyleSheet("color: #ffb347;")
        self._spins = {"duration": self.duration_spin, "seed": self.seed_spin, "cfg_coef": self.cfg_spin,
                       "top_k": self.topk_spin, "temperature": self.temp_spin}
        self._connect()
        self._show_sampling_state()

    def _connect(self) -> None:
        s = self.session
        self.prompt_edit.textChanged.connect(s.set_prompt)
        for name, spin in self._spins.items():
            spin.valueChanged.connect(lambda v, n=name: self._on_spin(n, v))
        self.dice_btn.clicked.connect(self.roll_seed)
        self.sampling_reset_btn.clicked.connect(self.reset_sampling)
        self.model_combo.currentIndexChanged.connect(
            lambda _i: s.choose_model(self.model_combo.currentData() or BUNDLED_ID))
        s.prompt_changed.connect(lambda p: self.prompt_edit.setText(p) if p != self.prompt_edit.text() else None)
        s.params_changed.connect(self._show_params)
        s.model_chosen.connect(self._on_model_chosen)
        s.model_changed.connect(self._on_model_loaded)
        s.sampling_custom_changed.connect(lambda _names: self._show_sampling_state())

    def _fill_models(self) -> list[ModelInfo]:
        """Every model, unavailable ones greyed out with the reason in their tooltip."""
        try:
            infos = list_models(check_network=False)
        except Exception as exc:  # the registry must never stop the window from opening
            infos = []
            self.notices.append(f"could not list models: {exc}")
        if not any(i.id == BUNDLED_ID for i in infos):
            infos.insert(0, ModelInfo(BUNDLED_ID, "", "bundled model", True, "ready"))
        for info in infos:
            label = info.id if info.trained else f"{info.id} (untrained)"
            self.model_combo.addItem(label if info.usable else f"{label} — unavailable", info.id)
            idx = self.model_combo.count() - 1
            self.model_combo.setItemData(idx, f"{info.description}\n{info.source}: {info.status}",
                                         Qt.ItemDataRole.ToolTipRole)
            if not info.usable:
                self.model_combo.model().item(idx).setEnabled(False)
        return infos

    # ------------------------------------------------------------------ the boxes <-> session.params
    def _value(self, name: str) -> float:
        value = self._spins[name].value()
        return int(value) if name in ("seed", "top_k") else float(value)

    def _on_spin(self, name: str, _value: float) -> None:
        if name in SAMPLING and not self._showing:
            self.session.mark_sampling_custom(name)  # this value now stays when the model changes
        self.session.set_params(**{name: self._value(name)})

    def _show_params(self, params: GenerationParams) -> None:
        """Show ``params`` without counting it as the user's edit; a value a box clamps (a duration
        beyond the model's) goes back to the session as the box shows it."""
        before, self._showing = self._showing, True
        try:
            for name, spin in self._spins.items():
                spin.setValue(getattr(params, name))
            self.session.set_params(**{name: self._value(name) for name in self._spins})
        finally:
            self._showing = before

    def roll_seed(self) -> None:
        self.seed_spin.setValue(random.randint(0, MAX_SEED))

    def show_problem(self, problem: str) -> None:
        """Why Generate is refused ('' hides the hint)."""
        self.hint_label.setText(problem)
        self.hint_label.setVisible(bool(problem))

    # ------------------------------------------------------------------ model
    def _set_duration_range(self, model_id: str) -> None:
        model = self.session.model
        if model is not None and model.id == model_id:
            hi, step = model.max_duration, 1.0 / model.frame_rate
        else:
            hi, step = max_duration(model_id), 0.02
        lo = max(0.1, math.ceil(step * 10) / 10)  # the shortest take: one frame, rounded up to 0.1 s
        self.duration_spin.setRange(lo, hi)
        self.duration_spin.setToolTip(f"Length of the take: {lo:g}–{hi:g} s for {model_id}")
        self.duration_max_label.setText(f"max {hi:g} s")

    def _on_model_chosen(self, model_id: str) -> None:
        self._set_duration_range(model_id)

    def _on_model_loaded(self, model: tp.Any) -> None:
        if model is not None:
            self._set_duration_range(model.id)
            self._apply_model_sampling()

    def _apply_model_sampling(self) -> None:
        """Set the sampling fields the user has not changed to the loaded model's recommendation."""
        model = self.session.model
        if model is None:
            return
        d = model.default_params()
        custom = self.session.sampling_custom
        before, self._showing = self._showing, True
        try:
            self.session.set_params(**{f: getattr(d, f) for f in SAMPLING if f not in custom})
        finally:
            self._showing = before
        self._show_sampling_state()

    def reset_sampling(self) -> None:
        """Guidance, top-k and temperature from the loaded model's recommendation (bundled: temp 0.8)."""
        self.session.follow_model_sampling()
        self._apply_model_sampling()

    def _show_sampling_state(self) -> None:
        custom = self.session.sampling_custom
        changed = ", ".join(sorted(custom))
        model = self.session.model.id if self.session.model is not None else "the model"
        self.sampling_reset_btn.setEnabled(bool(custom))
        self.sampling_reset_btn.setToolTip(
            f"Guidance, top-k and temperature follow {model}'s defaults until you change one"
            + (f"; yours: {changed}. Click to go back to the model's." if changed else "."))

    # ------------------------------------------------------------------ settings
    def restore(self, s: Settings) -> None:
        """Show the remembered settings (and choose their model; loading it is the controller's)."""
        self.prompt_edit.setText(s.prompt)
        idx = self.model_combo.findData(s.model)
        if idx < 0 or not self.model_combo.model().item(idx).isEnabled():
            idx = max(0, self.model_combo.findData(BUNDLED_ID))
        self.model_combo.setCurrentIndex(idx)
        self.session.choose_model(self.model_combo.currentData() or BUNDLED_ID)
        self._set_duration_range(self.session.model_id)
        before, self._showing = self._showing, True
        try:
            self.session.set_params(duration=float(s.duration), seed=min(max(0, s.seed), MAX_SEED),
                                    cfg_coef=float(s.cfg_coef), top_k=int(s.top_k), temperature=float(s.temperature))
            self._show_params(self.session.params)
        finally:
            self._showing = before
        self.session.set_sampling_custom(s.sampling_custom)
        self._show_sampling_state()
        self.explainer.restore(s)

    def store(self, s: Settings) -> None:
        p = self.session.params
        s.prompt, s.model = self.prompt_edit.text(), self.session.model_id
        s.duration, s.seed = float(p.duration), int(p.seed)
        s.cfg_coef, s.top_k, s.temperature = float(p.cfg_coef), int(p.top_k), float(p.temperature)
        s.sampling_custom = sorted(self.session.sampling_custom)
        self.explainer.store(s)
