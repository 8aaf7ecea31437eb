"""The prompt's words as chips, coloured by importance; each can be muted, boosted or replaced."""
from __future__ import annotations

import typing as tp

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QSizePolicy, QSlider, QToolButton, QWidget
from superqt import QFlowLayout

from agx_desktop.engine.guided_edit import is_function_word

from .importance import GROUP, importance_color


class WordChip(QFrame):
    """One word: its importance as colour, a mute toggle, a 0–3 weight slider, inline replace."""

    changed = Signal()

    def __init__(self, index: int, word: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.original = word
        self.word = word
        self.importance: float | None = None
        self.levels = (0.0, 1.0)
        self.active = False
        self.group: str | None = None  # sound | context | function in the bars' sound view, else None
        # function words ("a", "then", "while") are shown dimmed and smaller: still editable, but the
        # content words are what the guided edit proposes to change
        self.function_word = is_function_word(word)
        self.setObjectName("chip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 3, 4, 3)
        lay.setSpacing(4)
        self.label = QLabel(word)
        self.label.setToolTip("Double-click to replace this word")
        self.edit = QLineEdit(word)
        self.edit.setMaximumWidth(110)
        self.edit.hide()
        self.edit.editingFinished.connect(self._finish_edit)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 300)
        self.slider.setSingleStep(10)
        self.slider.setPageStep(50)
        self.slider.setValue(100)
        self.slider.setFixedWidth(56)
        self.slider.setToolTip("Weight of this word when regenerating: 0 mutes, 1 leaves it, up to 3 boosts it")
        self.slider.valueChanged.connect(self._on_slider)
        self.value = QLabel("1.0×")
        self.value.setMinimumWidth(30)
        self.mute = QToolButton()
        self.mute.setText("M")
        self.mute.setCheckable(True)
        self.mute.setToolTip("Mute this word (weight 0) when regenerating")
        self.mute.toggled.connect(self._on_mute)
        for wdg in (self.label, self.edit, self.slider, self.value, self.mute):
            lay.addWidget(wdg)
        self._restyle()

    # ------------------------------------------------------------------ state
    @property
    def weight(self) -> float:
        return 0.0 if self.mute.isChecked() else self.slider.value() / 100.0

    def set_weight(self, w: float) -> None:
        self.mute.setChecked(False)
        self.slider.setValue(int(round(max(0.0, min(3.0, w)) * 100)))

    def set_muted(self, muted: bool) -> None:
        self.mute.setChecked(muted)

    def replace_word(self, word: str) -> None:
        word = word.strip()
        if word and " " not in word:
            self.word = word
        self.label.setText(self.word)
        self._restyle()
        self.changed.emit()

    def set_importance(self, value: float | None, levels: tuple[float, float] = (0.0, 1.0),
                       group: str | None = None, measure: str = "importance") -> None:
        """Colour by ``value``; ``group`` (the bars' sound view: sound | context | function) marks the
        word's kind with a dotted border and names it in the tooltip; ``measure`` names what ``value`` is."""
        self.importance = value
        self.levels = levels
        self.group = group
        tip = "not explained yet" if value is None else f"{measure} {value:.2f}"
        if group is not None:
            kind = f" ({GROUP[group].tip})"
        else:
            kind = " (function word)" if self.function_word else ""
        self.setToolTip(f"{self.original}{kind}: {tip}")
        self._restyle()

    def set_active(self, active: bool) -> None:
        if active != self.active:
            self.active = active
            self._restyle()

    # ------------------------------------------------------------------ events
    def mouseDoubleClickEvent(self, ev: tp.Any) -> None:
        self.label.hide()
        self.edit.setText(self.word)
        self.edit.show()
        self.edit.setFocus()
        self.edit.selectAll()

    def _finish_edit(self) -> None:
        if self.edit.isVisible():
            self.edit.hide()
            self.label.show()
            self.replace_word(self.edit.text())

    def _on_mute(self, on: bool) -> None:
        self.slider.setEnabled(not on)
        self._update_value()
        self._restyle()
        self.changed.emit()

    def _on_slider(self, _v: int) -> None:
        self._update_value()
        self._restyle()
        self.changed.emit()

    def _update_value(self) -> None:
        self.value.setText("mute" if self.mute.isChecked() else f"{self.weight:.1f}×")

    def _restyle(self) -> None:
        bg = QColor("#3a3d42") if self.importance is None else importance_color(self.importance, self.levels)
        fg = "#000000" if bg.lightnessF() > 0.55 else "#ffffff"
        border = "3px solid #ffffff" if self.active else "1px solid #66696e"
        font = "text-decoration: line-through;" if self.mute.isChecked() else ""
        weight = "bold" if self.word != self.original or abs(self.weight - 1.0) > 1e-6 else "normal"
        if self.function_word:
            border = "3px solid #ffffff" if self.active else "1px dashed #55585d"
            fg = "#9a9da2" if self.importance is None else fg
            font += " font-size: 11px; font-style: italic;"
        if self.group in ("context", "function") and not self.active:  # the sound view: kind shown subtly
            border = f"2px dotted {GROUP[self.group].color}"
        self.setStyleSheet(f"QFrame#chip {{ background: {bg.name()}; border: {border}; border-radius: 8px; }}"
                           f"QFrame#chip QLabel {{ color: {fg}; background: transparent; font-weight: {weight}; {font} }}"
                           "QFrame#chip QToolButton:checked { background: #c0392b; color: #ffffff; border-radius: 3px; }")


class ChipsPanel(QWidget):
    """All chips of the current take's prompt."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.flow = QFlowLayout(self)  # chips left to right, wrapping lines
        self.flow.setHorizontalSpacing(6)
        self.flow.setVerticalSpacing(6)
        self.flow.setContentsMargins(2, 2, 2, 2)
        self.chips: list[WordChip] = []
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def set_words(self, words: list[str], weights: tp.Sequence[float] | None = None) -> None:
        for chip in self.chips:
            self.flow.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for i, w in enumerate(words):
            chip = WordChip(i, w, self)
            if weights is not None and i < len(weights):
                chip.set_weight(float(weights[i]))
                if float(weights[i]) == 0.0:
                    chip.set_muted(True)
            chip.changed.connect(self.changed)
            self.flow.addWidget(chip)
            self.chips.append(chip)
        self.updateGeometry()
        self.changed.emit()

    def set_importances(self, values: tp.Sequence[float] | None, levels: tuple[float, float] = (0.0, 1.0),
                        groups: tp.Mapping[int, str] | None = None, measure: str = "importance") -> None:
        """Colour the chips by importance on the heatmap's colour scale (``levels``); ``groups`` (word
        index → sound | context | function) marks each word's kind, in the bars' sound view."""
        for i, chip in enumerate(self.chips):
            chip.set_importance(None if values is None or i >= len(values) else float(values[i]), levels,
                                group=None if groups is None else groups.get(i), measure=measure)

    def set_active(self, active: tp.Collection[int]) -> None:
        for i, chip in enumerate(self.chips):
            chip.set_active(i in active)

    def weights(self) -> list[float]:
        return [c.weight for c in self.chips]

    def words(self) -> list[str]:
        return [c.word for c in self.chips]

    def edited(self) -> bool:
        return any(c.word != c.original or abs(c.weight - 1.0) > 1e-9 for c in self.chips)

    def reset(self) -> None:
        for c in self.chips:
            c.set_weight(1.0)
            c.replace_word(c.original)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, w: int) -> int:
        return self.flow.heightForWidth(w)
