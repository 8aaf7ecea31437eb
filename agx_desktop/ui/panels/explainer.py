"""The explainer controls: which method explains a take, and its settings (AudioGenX's epochs)."""
from __future__ import annotations

import typing as tp

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from agx_desktop.engine.explain import SUMMARIES, available_methods

from .. import tasks

if tp.TYPE_CHECKING:
    from ..session import Session
    from ..settings import Settings


class ExplainerPanel(QWidget):
    """Method picker + epochs; what it shows is the session's ``explainer``."""

    def __init__(self, session: Session, spacing: int = 4, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(spacing)
        self.method_combo = QComboBox()
        for m in sorted(available_methods(), key=lambda m: (m != "audiogenx", m)):  # AudioGenX first
            self.method_combo.addItem(m)
            self.method_combo.setItemData(self.method_combo.count() - 1, SUMMARIES.get(m, m), Qt.ToolTipRole)
        self.method_combo.setToolTip("Explanation method: AudioGenX (the paper's), a baseline to compare, or "
                                     "counterfactual occlusion (hover an entry for what it does)")
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setToolTip("AudioGenX training epochs (the paper uses 50)")
        for w in (QLabel("Explainer"), self.method_combo, QLabel("Epochs"), self.epochs_spin):
            lay.addWidget(w)
        self.method_combo.currentTextChanged.connect(self._push)
        self.epochs_spin.valueChanged.connect(self._push)
        self._push()

    def method(self) -> str:
        return self.method_combo.currentText()

    def settings(self) -> dict[str, int]:
        return {"epochs": int(self.epochs_spin.value())}

    def _push(self, *_args: tp.Any) -> None:
        self.epochs_spin.setEnabled(self.method() in tasks.TRAINED_METHODS)
        self.session.set_explainer(self.method(), self.settings())

    def restore(self, s: Settings) -> None:
        self.epochs_spin.setValue(s.epochs)
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findText(s.method)))

    def store(self, s: Settings) -> None:
        s.epochs, s.method = int(self.epochs_spin.value()), self.method()
