"""The word-edit panel: the prompt's words as chips (mute, weight, replace) and the requests made from
them: Regenerate with the same seed, Regenerate region (the selection; the rest spliced back or
regenerated), Reset words, N Variations, Hear factual / counterfactual."""
from __future__ import annotations

import typing as tp

from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFrame, QGridLayout, QGroupBox, QPushButton, QScrollArea,
                               QSpinBox, QVBoxLayout)

from agx_desktop.engine.limits import DEFAULT_CROSSFADE

from ..widgets.chips import ChipsPanel

if tp.TYPE_CHECKING:
    from ..analysis import TakeItem
    from ..controller import Controller
    from ..jobs import Job
    from ..settings import Settings


class WordEditPanel(QGroupBox):
    """The buttons are bound to the window's actions ("regenerate", "reset_words", "variations"...)."""

    def __init__(self, controller: Controller) -> None:
        super().__init__("Edit the prompt's words and regenerate")
        self.controller = controller
        self.session = controller.session
        ev = QVBoxLayout(self)
        self.chips = ChipsPanel()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.chips)
        ev.addWidget(scroll, 1)
        btns = QGridLayout()
        self.regenerate_btn = QPushButton("Regenerate (same seed)")
        self.reset_chips_btn = QPushButton("Reset words")
        self.variations_spin = QSpinBox()
        self.variations_spin.setRange(1, 16)
        self.variations_spin.setPrefix("N = ")
        self.variations_btn = QPushButton("Variations")
        self.variations_btn.setToolTip("Generate N takes with different random seeds")
        self.factual_btn = QPushButton("Hear factual")
        self.counterfactual_btn = QPushButton("Hear counterfactual")
        self.region_btn = QPushButton("Regenerate region")
        self.tail_combo = QComboBox()
        self.tail_combo.addItem("splice the rest back", "splice")
        self.tail_combo.addItem("regenerate the rest", "regenerate")
        self.tail_combo.setToolTip("After the region: put the original audio back (crossfaded), or go on "
                                   "generating with the original words (the rest may change)")
        self.crossfade_spin = QDoubleSpinBox()
        self.crossfade_spin.setRange(0.0, 2.0)
        self.crossfade_spin.setSingleStep(0.01)
        self.crossfade_spin.setDecimals(2)
        self.crossfade_spin.setValue(DEFAULT_CROSSFADE)
        self.crossfade_spin.setPrefix("fade ")
        self.crossfade_spin.setSuffix(" s")
        self.crossfade_spin.setToolTip("Length of the equal-power crossfades at the region's edges")
        for w, row, col in ((self.regenerate_btn, 0, 0), (self.reset_chips_btn, 0, 1), (self.variations_spin, 0, 2),
                            (self.variations_btn, 0, 3), (self.factual_btn, 1, 0), (self.counterfactual_btn, 1, 1),
                            (self.region_btn, 2, 0), (self.tail_combo, 2, 1), (self.crossfade_spin, 2, 2)):
            btns.addWidget(w, row, col)
        ev.addLayout(btns)
        self.chips.changed.connect(lambda: self.session.set_words_edited(self.chips.edited()))
        self.session.active_words_changed.connect(self.chips.set_active)

    def show_words(self, item: TakeItem) -> None:
        """Chips for ``item``'s words, with the weights it was made with."""
        self.chips.set_words(item.take.words, item.take.word_weights)
        self.session.set_active_words([])  # new chips: the next playhead tick marks the active ones again

    def show_importances(self, values: tp.Sequence[float] | None, levels: tuple[float, float] = (0.0, 1.0),
                         groups: tp.Mapping[int, str] | None = None, measure: str = "importance") -> None:
        """The chips' colours (and, in the bars' sound view, each word's kind: ``groups``)."""
        self.chips.set_importances(values, levels=levels, groups=groups, measure=measure)

    def regenerate(self) -> Job | None:
        """The current take again, same seed, with the chips' weights and words."""
        self.controller.display.finish()  # the chips show the current take
        return self.controller.regenerate(self.chips.words(), self.chips.weights())

    def regenerate_region(self) -> Job | None:
        """The selected region again with the chips' weights and words (the audio before it is kept)."""
        self.controller.display.finish()
        return self.controller.regenerate_region(self.chips.words(), self.chips.weights(),
                                                 tail=str(self.tail_combo.currentData()),
                                                 crossfade=float(self.crossfade_spin.value()))

    def variations(self) -> Job | None:
        return self.controller.variations(int(self.variations_spin.value()))

    def restore(self, s: Settings) -> None:
        self.variations_spin.setValue(s.variations)

    def store(self, s: Settings) -> None:
        s.variations = int(self.variations_spin.value())
