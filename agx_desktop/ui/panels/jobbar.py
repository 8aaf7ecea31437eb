"""The job bar: what runs (progress), what waits (queue), Play as it generates, Cancel and Clear queue."""
from __future__ import annotations

import typing as tp

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QToolButton, QWidget
from superqt.utils import qthrottled

if tp.TYPE_CHECKING:
    from ..jobs import Job, JobRunner

PROGRESS_REPAINT_MS = 50  # the bar redraws at most 20 times a second, however fast the engine steps


class JobBar(QWidget):
    """Follows a :class:`JobRunner`; ``cancel_btn`` is bound to the "cancel" action by the window."""

    def __init__(self, runner: JobRunner, spacing: int = 4, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(spacing)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Idle")
        self.progress.setTextVisible(True)
        # a busy bar (range 0..0, e.g. "Load model…") draws no text in Qt's styles: this label says what runs
        self.busy_label = QLabel("")
        self.busy_label.setVisible(False)
        self.cancel_btn = QPushButton("Cancel")
        self.clear_queue_btn = QPushButton("Clear queue")
        self.queue_label = QLabel("")
        # checkable, off by default; the window gives it the "play_live" action (text, tip, checked state)
        self.play_live_btn = QToolButton()
        self.play_live_btn.setText("Play as it generates")
        self.play_live_btn.setCheckable(True)
        lay.addWidget(self.busy_label)
        lay.addWidget(self.progress, 1)
        for w in (self.queue_label, self.play_live_btn, self.cancel_btn, self.clear_queue_btn):
            lay.addWidget(w)
        # the first step shows at once, then one redraw per 50 ms at most, the latest step last
        self._show_progress = qthrottled(self._draw_progress, timeout=PROGRESS_REPAINT_MS, leading=True)
        self.clear_queue_btn.clicked.connect(runner.clear_queue)
        runner.started.connect(self._on_started)
        runner.progress.connect(self._show_progress)
        runner.finished.connect(lambda job, _r: self._idle(f"Done: {job.title}"))
        runner.cancelled.connect(lambda job: self._idle(f"Cancelled: {job.title}"))
        runner.failed.connect(lambda job, _m, _d: self._idle(f"Failed: {job.title}"))
        runner.queue_changed.connect(self._on_queue_changed)
        self._on_queue_changed()

    def _on_started(self, job: Job) -> None:
        self._show_progress.cancel()
        self._busy(f"{job.title}…")

    def _draw_progress(self, job: Job, stage: str, done: int, total: int) -> None:
        if job is not self.runner.running:
            return  # a late step of a job that already ended
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
            self.progress.setFormat(f"{job.title} — {stage} {done}/{total}")
            self.busy_label.setVisible(False)
        else:
            self._busy(f"{job.title} — {stage}")

    def _busy(self, text: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)
        self.busy_label.setText(text)
        self.busy_label.setVisible(True)

    def _idle(self, text: str) -> None:
        self._show_progress.cancel()
        if self.runner.running is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat(text)
            self.busy_label.setVisible(False)

    def _on_queue_changed(self) -> None:
        n = len(self.runner.pending)
        self.queue_label.setText(f"{n} queued" if n else "")
        self.queue_label.setToolTip("\n".join(j.title for j in self.runner.pending))
        self.clear_queue_btn.setVisible(bool(n))
