"""The prompt timeline dialog (issue 17 item 2): a table of segments, start / end / words
("0–2.5 s: a dog barks", "2.5–5 s: a church bell rings"); Generate queues one take whose words follow
them (the same can be typed in the prompt: ``0-2.5: a dog barks | 2.5-5: a church bell rings``)."""
from __future__ import annotations

import typing as tp

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from agx_desktop.engine.errors import AgxError

if tp.TYPE_CHECKING:
    from agx_desktop.engine.timeline import Segment

    from ..controller import Controller
    from ..jobs import Job

EXAMPLE = ((0.0, 2.5, "a dog barks"), (2.5, 5.0, "a church bell rings"))


class TimelineDialog(QDialog):
    """Edit the segments; "Generate timeline" queues the take and closes the dialog."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        from agx_desktop.engine.timeline import Segment, take_segments
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Prompt timeline")
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Each segment's words play over its time span; the last one ends the take."))
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Start (s)", "End (s)", "Words"])
        self.table.horizontalHeader().setStretchLastSection(True)
        lay.addWidget(self.table, 1)
        row_btns = QHBoxLayout()
        self.add_btn = QPushButton("Add segment")
        self.remove_btn = QPushButton("Remove segment")
        row_btns.addWidget(self.add_btn)
        row_btns.addWidget(self.remove_btn)
        row_btns.addStretch(1)
        lay.addLayout(row_btns)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #ff8a80;")
        self.problem.setWordWrap(True)
        lay.addWidget(self.problem)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.generate_btn = self.buttons.addButton("Generate timeline", QDialogButtonBox.ButtonRole.AcceptRole)
        lay.addWidget(self.buttons)
        self.add_btn.clicked.connect(self._add_after_last)
        self.remove_btn.clicked.connect(lambda: self.table.removeRow(max(0, self.table.currentRow())))
        self.buttons.accepted.connect(self.generate)
        self.buttons.rejected.connect(self.reject)
        self.resize(560, 300)
        current = controller.session.current
        segs = take_segments(current.take) if current is not None and current.take.kind == "timeline" else None
        self.set_segments(segs or [Segment(a, b, t) for a, b, t in EXAMPLE])

    def set_segments(self, segments: tp.Sequence[Segment]) -> None:
        self.table.setRowCount(0)
        for seg in segments:
            self.add_row(seg.start, seg.end, seg.text)

    def add_row(self, start: float, end: float, text: str) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        for col, value in enumerate((f"{start:g}", f"{end:g}", text)):
            self.table.setItem(row, col, QTableWidgetItem(value))

    def _add_after_last(self) -> None:
        last = self.segments_or_none()
        start = last[-1].end if last else 0.0
        self.add_row(start, start + 2.5, "")

    def segments_or_none(self) -> list[Segment] | None:
        try:
            return self.segments()
        except (AgxError, ValueError):
            return None

    def segments(self) -> list[Segment]:
        """The table's segments (ValueError naming the row for a start/end that is not a number)."""
        from agx_desktop.engine.timeline import Segment
        out = []
        for row in range(self.table.rowCount()):
            cells = [(self.table.item(row, c).text() if self.table.item(row, c) else "").strip() for c in range(3)]
            try:
                start, end = float(cells[0]), float(cells[1])
            except ValueError:
                raise ValueError(f"row {row + 1}: start and end must be seconds, e.g. 0 and 2.5") from None
            if not cells[2]:
                raise ValueError(f"row {row + 1}: say what sounds there, e.g. 'a dog barks'")
            out.append(Segment(start, end, cells[2]))
        return out

    def generate(self) -> Job | None:
        """Queue the timeline take (and close) or say what is wrong in the dialog."""
        try:
            segments = self.segments()
        except ValueError as exc:
            self.problem.setText(str(exc))
            return None
        job = self.controller.generate_timeline(segments)
        if job is not None:
            self.accept()
        return job
