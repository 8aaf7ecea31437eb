"""The guided-edit dock (issue 17 item 3): an intent per content word of the current take (keep /
more / less / none), the scope (whole clip or the selection), candidates per round and rounds; "Run
guided edit" queues the closed loop (progress names the round and step; the job bar cancels it).
Each round is listed as it finishes (its number, its candidates ranked with their scores, whether the
intent is met); at the end the ranked candidates come back as takes, listed best first, with A/B =
(parent, best).

Function words ("a", "then", "while") are not offered: the loop changes content words only."""
from __future__ import annotations

import typing as tp

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFormLayout, QGridLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QSpinBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from agx_desktop.engine.guided_edit import is_function_word

if tp.TYPE_CHECKING:
    from ..analysis import TakeItem
    from ..controller import Controller
    from agx_desktop.engine.guided_edit import RoundResult

    from ..jobs import Job

INTENT_CHOICES = (("keep", "keep"), ("more", "more"), ("less", "less"), ("none (remove)", "none"))


class GuidedEditDock(QDockWidget):
    """"Run guided edit" is bound to the window's ``guided_edit`` action."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__("Guided edit", parent)
        self.controller = controller
        self.session = s = controller.session
        self.setObjectName("guided_dock")
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(QLabel("What should change? (content words)"))
        self.intent_grid = QGridLayout()
        lay.addLayout(self.intent_grid)
        self.intents: dict[str, QComboBox] = {}
        form = QFormLayout()
        self.scope_combo = QComboBox()
        self.scope_combo.addItem("whole clip", False)
        self.scope_combo.addItem("the selection", True)
        self.candidates_spin = QSpinBox()
        self.candidates_spin.setRange(1, 16)
        self.candidates_spin.setValue(4)  # one LM batch per round: as the CLI
        self.rounds_spin = QSpinBox()
        self.rounds_spin.setRange(1, 10)
        self.rounds_spin.setValue(2)
        form.addRow("Where", self.scope_combo)
        form.addRow("Candidates per round", self.candidates_spin)
        form.addRow("At most rounds", self.rounds_spin)
        lay.addLayout(form)
        self.run_btn = QPushButton("Run guided edit")
        lay.addWidget(self.run_btn)
        lay.addWidget(QLabel("Rounds, as each finishes:"))
        self.rounds_tree = QTreeWidget()
        self.rounds_tree.setHeaderHidden(True)
        self.rounds_tree.setToolTip("Each round: whether its best candidate meets the intent, and its candidates "
                                    "ranked with their scores")
        lay.addWidget(self.rounds_tree, 1)
        self._max_rounds = 0
        lay.addWidget(QLabel("Candidates, best first (click to hear; A/B = parent, best):"))
        self.results = QListWidget()
        self.results.setWordWrap(True)
        self.results.setToolTip("Each candidate: rank, whether it met the intent, its score and what it changed")
        lay.addWidget(self.results, 1)
        self.setWidget(body)
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        s.current_changed.connect(self.show_words)
        self.results.currentItemChanged.connect(self._on_pick)
        controller.guided_ranked.connect(self.show_ranked)
        controller.guided_round.connect(self.show_round)

    def show_words(self, item: TakeItem | None) -> None:
        """One intent box per content word of ``item`` (its intent kept when the word stays)."""
        words: list[str] = []
        for w in (item.take.words if item is not None else ()):
            w = w.strip(".,;:!?\"'()")  # "barks." is the word "barks"
            if w and not is_function_word(w) and w not in words:
                words.append(w)
        if words == list(self.intents):
            return
        old = {w: box.currentData() for w, box in self.intents.items()}
        while self.intent_grid.count():
            widget = self.intent_grid.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        self.intents = {}
        for i, word in enumerate(words):
            box = QComboBox()
            for text, data in INTENT_CHOICES:
                box.addItem(text, data)
            box.setCurrentIndex(max(0, box.findData(old.get(word, "keep"))))
            self.intent_grid.addWidget(QLabel(word), i // 2, 2 * (i % 2))
            self.intent_grid.addWidget(box, i // 2, 2 * (i % 2) + 1)
            self.intents[word] = box

    def set_intent(self, word: str, intent: str) -> None:
        box = self.intents[word]
        box.setCurrentIndex(box.findData(intent))

    def chosen(self) -> list[tuple[str, str]]:
        """(word, intent) for every word not left on 'keep'."""
        return [(w, box.currentData()) for w, box in self.intents.items() if box.currentData() != "keep"]

    def run(self) -> Job | None:
        job = self.controller.guided_edit(self.chosen(), bool(self.scope_combo.currentData()),
                                          int(self.candidates_spin.value()), int(self.rounds_spin.value()))
        if job is not None:  # a new run: its rounds replace the last run's
            self.rounds_tree.clear()
            self._max_rounds = int(self.rounds_spin.value())
        return job

    def show_round(self, result: RoundResult) -> None:
        """One finished round: "Round 1/3 · ✗ not met yet · best 0.62", then its own candidates ranked."""
        mine = [c for c in result.candidates if c.round == result.index]
        best = mine[0].score.value if mine else 0.0
        state = "✓ intent met" if result.met else ("✗ not met yet" if result.index < self._max_rounds else "✗ not met")
        head = QTreeWidgetItem([f"Round {result.index}/{self._max_rounds or result.index} · {state} · "
                                f"best score {best:.2f}"])
        for rank, cand in enumerate(mine, 1):
            head.addChild(QTreeWidgetItem([f"#{rank} {'✓' if cand.met else '✗'} score {cand.score.value:.2f} · "
                                           f"{cand.label}"]))
        self.rounds_tree.addTopLevelItem(head)
        for i in range(self.rounds_tree.topLevelItemCount() - 1):
            self.rounds_tree.topLevelItem(i).setExpanded(False)
        head.setExpanded(True)
        self.rounds_tree.scrollToItem(head)

    def round_texts(self) -> list[list[str]]:
        """Per round shown: its heading, then its candidates' lines."""
        out = []
        for i in range(self.rounds_tree.topLevelItemCount()):
            head = self.rounds_tree.topLevelItem(i)
            out.append([head.text(0)] + [head.child(j).text(0) for j in range(head.childCount())])
        return out

    def show_ranked(self, parent: TakeItem, items: list[TakeItem]) -> None:
        self.results.blockSignals(True)
        self.results.clear()
        head = QListWidgetItem(f"parent: take {parent.id} · {parent.take.prompt}")
        head.setData(Qt.ItemDataRole.UserRole, parent.id)
        self.results.addItem(head)
        for item in items:
            row = QListWidgetItem(str(item.notes.get("rank_label", item.id)))
            row.setData(Qt.ItemDataRole.UserRole, item.id)
            self.results.addItem(row)
        self.results.blockSignals(False)

    def ranked_labels(self) -> list[str]:
        return [self.results.item(i).text() for i in range(1, self.results.count())]

    def _on_pick(self, row: QListWidgetItem | None, _prev: tp.Any) -> None:
        if row is not None:
            self.controller.show_take(row.data(Qt.ItemDataRole.UserRole))
