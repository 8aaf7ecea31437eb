"""The takes dock: every take of the session (drag one out as a WAV) and the A/B compare controls."""
from __future__ import annotations

import typing as tp

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QGridLayout, QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from agx_desktop.engine.safetext import terminal_safe

from ..widgets.history import TakeList

if tp.TYPE_CHECKING:
    from agx_desktop.engine.take import Take

    from ..analysis import TakeItem
    from ..controller import Controller


def what_changed(take: Take) -> str:
    """What distinguishes a take in the A/B label: its edit ("mute bell · region 2.00–3.50 s"), else its
    kind and the word weights that differ from 1 ("weighted: dog×0, bell×2"), not only "weighted"."""
    if take.edit:
        from agx_desktop.engine.region import edit_label  # region imports torch: not at the window's start
        return edit_label(take)
    weights = take.word_weights or ()
    changed = [f"{word}×{w:g}" for word, w in zip(take.words, weights) if float(w) != 1.0]
    return f"{take.kind}: {', '.join(changed)}" if changed else take.kind


class TakesDock(QDockWidget):
    """Clicking a take makes it current; "Set A" / "Set B" / "Switch A/B" are bound to actions."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__("Takes", parent)
        self.controller = controller
        self.session = s = controller.session
        self.setObjectName("takes_dock")
        dock_w = QWidget()
        dl = QVBoxLayout(dock_w)
        dl.setContentsMargins(4, 4, 4, 4)
        self.history = TakeList(controller.wav_for)
        dl.addWidget(self.history, 1)
        ab = QGroupBox("A/B compare")
        al = QGridLayout(ab)
        self.set_a_btn = QPushButton("Set A")
        self.set_b_btn = QPushButton("Set B")
        self.ab_btn = QPushButton("Switch A/B")
        self.ab_label = QLabel("Pick two takes (same seed) as A and B")
        self.ab_label.setWordWrap(True)
        al.addWidget(self.set_a_btn, 0, 0)
        al.addWidget(self.set_b_btn, 0, 1)
        al.addWidget(self.ab_btn, 0, 2)
        al.addWidget(self.ab_label, 1, 0, 1, 3)
        dl.addWidget(ab)
        self.setWidget(dock_w)
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.setMinimumWidth(230)
        self.history.current_take_changed.connect(controller.show_take)
        s.take_added.connect(self.history.add)
        s.take_updated.connect(self.history.refresh)
        s.explanation_changed.connect(self.history.refresh)
        s.current_changed.connect(self._select)
        s.ab_changed.connect(lambda _ab, _side: self._show_ab())
        s.current_changed.connect(lambda _item: self._show_ab())  # a click in the list: say which side is heard

    def _select(self, item: TakeItem) -> None:
        self.history.blockSignals(True)
        self.history.select(item.id)
        self.history.blockSignals(False)

    def _show_ab(self) -> None:
        ab, items = self.session.ab, self.session.items
        parts, full = [], []
        sides = {side: items.get(ab[side]) if ab[side] else None for side in "AB"}
        said = {side: f"{what_changed(it.take)}, seed {it.take.params.seed}" for side, it in sides.items() if it}
        same = len(said) == 2 and said["A"] == said["B"]  # two takes that read alike: their prompts tell them apart
        for side in "AB":
            it = sides[side]
            if it is None:
                parts.append(f"{side}: —")
                continue
            prompt = terminal_safe(it.take.prompt)
            short = prompt if len(prompt) <= 24 else prompt[:23] + "…"
            parts.append(f"{side}: “{short}” {said[side]}" if same else f"{side}: {said[side]}")
            full.append(f"{side}: “{prompt}” — {said[side]} (take {it.id})")
        current = self.session.current
        heard = next((side for side in "AB" if current is not None and ab[side] == current.id), None)
        text = " | ".join(parts) + (f" — hearing {heard}" if heard else " — hearing another take")
        a, b = (items.get(ab[s] or "") for s in "AB")
        if a and b and a.take.params.seed != b.take.params.seed:
            text += " (different seeds: compare takes with the same seed)"
        self.ab_label.setText(text)
        self.ab_label.setToolTip("\n".join(full))
