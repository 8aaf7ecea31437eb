"""Batch… (issue 21 item 3): make many takes from a prompt sheet, or from the current prompt × N with
chosen intensities/modifiers, in the background with progress and cancel.

The dialog only prepares the run; :func:`agx_desktop.batch.runner.run_batch` does it on a
:class:`~agx_desktop.ui.jobs.JobRunner` thread (the same engine path as ``agx batch``: resumable,
atomic per take, manifest.csv). Each take is announced by :attr:`BatchDialog.take_ready` (a
:class:`~agx_desktop.ui.analysis.TakeItem`) as soon as it is written, so the window can add it to
its takes list while the batch goes on: File ▸ Batch… (``MainWindow.open_batch``) runs it on the
window's own job queue (job bar progress, Cancel) and adds each take to the session.
"""
from __future__ import annotations

import csv
import io
import tempfile
import typing as tp
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QProgressBar, QPushButton,
                               QRadioButton, QSpinBox, QVBoxLayout, QWidget)

from .jobs import Job, JobContext, JobRunner

if tp.TYPE_CHECKING:
    from agx_desktop.batch.plan import WorkItem
    from agx_desktop.batch.runner import Summary

HEADER = ["prompt", "count", "duration", "model", "fxname", "explain", "format"]


def prompt_sheet(prompt: str, count: int, modifiers: tp.Sequence[str], duration: float, model: str,
                 explain: bool) -> str:
    """CSV text for "the current prompt × ``count``", once per modifier ("soft", "loud", "distant"...
    put before the prompt); no modifiers: the prompt as it is."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for modifier in [m.strip() for m in modifiers if m.strip()] or [""]:
        text = f"{modifier} {prompt}".strip()
        writer.writerow([text, count, f"{duration:g}", model, "", "yes" if explain else "no", "wav24"])
    return out.getvalue()


def parse_modifiers(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


def batch_job(sheet: Path, out: Path, workers: int,
              on_take: tp.Callable[["WorkItem", Path], None]) -> tp.Callable[[JobContext], "Summary"]:
    """The job function: ``run_batch`` with the job's progress and cancel token (worker thread)."""
    def run(ctx: JobContext) -> "Summary":
        from agx_desktop.batch.backends import make_backend
        from agx_desktop.batch.runner import run_batch
        from agx_desktop.engine.errors import Cancelled

        def progress(done: int, total: int) -> None:
            try:
                ctx.progress("batch", done, total)
            except Cancelled:
                pass  # run_batch sees the token and stops after the take in hand
        with make_backend(workers=workers) as backend:
            return run_batch(sheet, out, backend, progress=False, on_take=on_take, on_progress=progress,
                             cancel=ctx.cancel)
    return run


class BatchDialog(QDialog):
    """Sheet or current prompt × N → a batch folder; takes announced as they arrive."""

    take_ready = Signal(object)      # TakeItem, emitted from the job's thread (queued to receivers)
    batch_finished = Signal(object)  # Summary
    batch_failed = Signal(str)       # one line

    def __init__(self, prompt: str = "", model: str = "bundled", runner: JobRunner | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch")
        self.model = model
        self.runner = runner or JobRunner(self)
        self.job: Job | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

        self.from_sheet = QRadioButton("Prompt sheet (CSV/TSV)")
        self.from_prompt = QRadioButton("Current prompt × N")
        group = QButtonGroup(self)
        group.addButton(self.from_sheet)
        group.addButton(self.from_prompt)
        self.sheet_path = QLineEdit()
        self.sheet_path.setPlaceholderText("prompt,count,duration,seed,catid,fxname,creator,source,explain,format")
        browse_sheet = QPushButton("Browse…")
        browse_sheet.clicked.connect(self._choose_sheet)
        self.prompt = QLineEdit(prompt)
        self.count = QSpinBox()
        self.count.setRange(1, 1000)
        self.count.setValue(3)
        self.modifiers = QLineEdit()
        self.modifiers.setPlaceholderText("e.g. soft, loud, distant (each × N; blank = the prompt as it is)")
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0.5, 30.0)
        self.duration.setSingleStep(0.5)
        self.duration.setValue(5.0)
        self.duration.setSuffix(" s")
        self.explain = QCheckBox("Explain every take")
        self.out = QLineEdit()
        self.out.setPlaceholderText("folder for takes/, export/ and manifest.csv (new, empty or an earlier batch)")
        browse_out = QPushButton("Browse…")
        browse_out.clicked.connect(self._choose_out)
        self.workers = QSpinBox()
        self.workers.setRange(1, 64)
        self.workers.setToolTip("1 = in this app's process; more = local worker processes, each with its own model")
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m takes")
        self.log = QListWidget()
        self.buttons = QDialogButtonBox()
        self.run_button = self.buttons.addButton("Run", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel batch", QDialogButtonBox.ButtonRole.DestructiveRole)
        close = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        close.clicked.connect(self.reject)

        sheet_row = QHBoxLayout()
        sheet_row.addWidget(self.sheet_path)
        sheet_row.addWidget(browse_sheet)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out)
        out_row.addWidget(browse_out)
        form = QFormLayout()
        form.addRow(self.from_sheet)
        form.addRow("Sheet", sheet_row)
        form.addRow(self.from_prompt)
        form.addRow("Prompt", self.prompt)
        form.addRow("Takes each", self.count)
        form.addRow("Intensities / modifiers", self.modifiers)
        form.addRow("Duration", self.duration)
        form.addRow("", self.explain)
        form.addRow("Output folder", out_row)
        form.addRow("Workers", self.workers)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(QLabel("Problems and notes"))
        layout.addWidget(self.log)
        layout.addWidget(self.buttons)
        (self.from_prompt if prompt else self.from_sheet).setChecked(True)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self._set_running(False)

    # ------------------------------------------------------------------ choices

    def _choose_sheet(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Prompt sheet", "", "Sheets (*.csv *.tsv *.txt)")
        if path:
            self.sheet_path.setText(path)
            self.from_sheet.setChecked(True)

    def _choose_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Batch folder")
        if path:
            self.out.setText(path)

    def sheet_file(self) -> Path:
        """The sheet to run: the chosen file, or one written for the current prompt × N."""
        if self.from_sheet.isChecked():
            return Path(self.sheet_path.text().strip())
        self._tmp = self._tmp or tempfile.TemporaryDirectory(prefix="agx-batch-")
        path = Path(self._tmp.name) / "prompt.csv"
        path.write_text(prompt_sheet(self.prompt.text(), self.count.value(), parse_modifiers(self.modifiers.text()),
                                     self.duration.value(), self.model, self.explain.isChecked()), encoding="utf-8")
        return path

    # ------------------------------------------------------------------ run

    def start(self) -> Job | None:
        """Check the choices (one line in the log if one is missing) and queue the batch job."""
        from agx_desktop.batch.runner import check_out_dir
        from agx_desktop.engine.errors import AgxError
        self.log.clear()
        if self.from_sheet.isChecked() and not self.sheet_path.text().strip():
            self.log.addItem("choose a prompt sheet, or Current prompt × N")
            return None
        if self.from_prompt.isChecked() and not self.prompt.text().strip():
            self.log.addItem("the prompt is empty: write what the sound is")
            return None
        if not self.out.text().strip():
            self.log.addItem("choose an output folder")
            return None
        try:
            out = check_out_dir(self.out.text().strip())
        except AgxError as exc:
            self.log.addItem(str(exc))
            return None
        self.job = Job("Batch", batch_job(self.sheet_file(), out, self.workers.value(), self._announce), kind="batch")
        self._set_running(True)
        return self.runner.submit(self.job)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.token.cancel()

    def _announce(self, item: "WorkItem", folder: Path) -> None:
        """Worker thread: read the written take back and hand it to the window."""
        from agx_desktop.engine import take_folder
        from .analysis import analyse
        take = take_folder.load_take(folder)
        explanation = None
        if item.explain:
            explanation = take_folder.load_explanation(folder, take)
        self.take_ready.emit(analyse(take, explanation, folder))

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _on_progress(self, job: Job, stage: str, done: int, total: int) -> None:
        if job is self.job:
            self.progress.setMaximum(max(total, 1))
            self.progress.setValue(done)

    def _on_finished(self, job: Job, summary: "Summary") -> None:
        if job is not self.job:
            return
        self._set_running(False)
        for line in summary.problems:
            self.log.addItem(line)
        for line in summary.failed:
            self.log.addItem(f"failed: {line}")
        state = "stopped" if summary.interrupted else "done"
        self.log.addItem(f"{state}: {summary.finished} of {summary.planned} takes in {summary.out}")
        self.batch_finished.emit(summary)

    def _on_failed(self, job: Job, message: str, details: str) -> None:
        if job is self.job:
            self._set_running(False)
            self.log.addItem(message)
            self.batch_failed.emit(message)

    def _on_cancelled(self, job: Job) -> None:
        if job is self.job:
            self._set_running(False)
            self.log.addItem("stopped: run again to continue where it left off")


__all__ = ["BatchDialog", "prompt_sheet", "parse_modifiers", "batch_job"]
