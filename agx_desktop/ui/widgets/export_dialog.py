"""File → Export WAV… options dialog (format, rate, normalisation, name pattern, folder)."""
from __future__ import annotations

import copy
import typing as tp

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget)

from ..export import PATTERN_FIELDS, RATES, SUBTYPES, ExportError, file_name
from ..settings import DEFAULT_PATTERN, ExportSettings


class ExportDialog(QDialog):
    def __init__(self, opts: ExportSettings, take: tp.Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export WAV")
        self.take = take
        self.opts = copy.deepcopy(opts)
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.folder = QLineEdit(self.opts.folder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.folder)
        row.addWidget(browse)
        form.addRow("Folder", row)
        self.subtype = QComboBox()
        for k, v in SUBTYPES.items():
            self.subtype.addItem(v, k)
        self.subtype.setCurrentIndex(max(0, self.subtype.findData(self.opts.subtype)))
        form.addRow("Format", self.subtype)
        self.rate = QComboBox()
        for k, v in RATES.items():
            self.rate.addItem(v if k else f"native ({take.sample_rate} Hz)", k)
        self.rate.setCurrentIndex(max(0, self.rate.findData(self.opts.sample_rate)))
        form.addRow("Sample rate", self.rate)
        self.norm = QComboBox()
        for k, v in (("lufs", "Loudness (LUFS)"), ("peak", "Peak (dBFS)"), ("none", "None")):
            self.norm.addItem(v, k)
        self.norm.setCurrentIndex(max(0, self.norm.findData(self.opts.normalize)))
        form.addRow("Normalise", self.norm)
        self.lufs = QDoubleSpinBox()
        self.lufs.setRange(-40, -5)
        self.lufs.setValue(self.opts.lufs)
        self.lufs.setSuffix(" LUFS")
        form.addRow("Target loudness", self.lufs)
        self.peak = QDoubleSpinBox()
        self.peak.setRange(-30, 0)
        self.peak.setValue(self.opts.peak_db)
        self.peak.setSuffix(" dBFS")
        form.addRow("Target peak", self.peak)
        self.true_peak = QDoubleSpinBox()
        self.true_peak.setRange(-12, 0)
        self.true_peak.setSingleStep(0.5)
        self.true_peak.setValue(self.opts.true_peak)
        self.true_peak.setSuffix(" dBTP")
        self.true_peak.setToolTip("The limiter keeps the true peak (4x oversampled) under this ceiling")
        form.addRow("True-peak ceiling", self.true_peak)
        self.max_limit = QDoubleSpinBox()
        self.max_limit.setRange(0, 60)
        self.max_limit.setValue(self.opts.max_limit)
        self.max_limit.setSuffix(" dB")
        self.max_limit.setToolTip("The most gain reduction the limiter may apply to reach the loudness target; "
                                  "lower keeps transients, and the message says when the target was not reached")
        form.addRow("Limit at most", self.max_limit)
        self.pattern = QLineEdit(self.opts.pattern)
        self.pattern.setToolTip("Fields: " + ", ".join("{" + f + "}" for f in PATTERN_FIELDS)
                                + f"\nDefault (UCS): {DEFAULT_PATTERN}")
        form.addRow("File name pattern", self.pattern)
        self.catid = QLineEdit(self.opts.catid)
        self.catid.setToolTip("UCS CatID, e.g. DOGBark, AMBForst, BELLHand")
        form.addRow("UCS CatID", self.catid)
        self.creator = QLineEdit(self.opts.creator)
        form.addRow("Creator ID", self.creator)
        self.source = QLineEdit(self.opts.source)
        form.addRow("Source ID", self.source)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        form.addRow("File name", self.preview)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        for w in (self.pattern, self.catid, self.creator, self.source, self.folder):
            w.textChanged.connect(self._update)
        for w in (self.norm,):
            w.currentIndexChanged.connect(self._update)
        self._update()
        # wide enough for the pattern and the UCS file name it makes (the issue found 362 px, cut off)
        metrics = self.pattern.fontMetrics()
        longest = max(metrics.horizontalAdvance(self.pattern.text() + "_" * 8),
                      metrics.horizontalAdvance(self.preview.text()), 360)
        self.setMinimumWidth(longest + 200)

    def result_settings(self) -> ExportSettings:
        o = self.opts
        o.folder = self.folder.text().strip()
        o.subtype = self.subtype.currentData()
        o.sample_rate = int(self.rate.currentData())
        o.normalize = self.norm.currentData()
        o.lufs, o.peak_db = float(self.lufs.value()), float(self.peak.value())
        o.true_peak, o.max_limit = float(self.true_peak.value()), float(self.max_limit.value())
        o.pattern = self.pattern.text()
        o.catid, o.creator, o.source = self.catid.text().strip(), self.creator.text().strip(), self.source.text().strip()
        return o

    def _update(self) -> None:
        self.lufs.setEnabled(self.norm.currentData() == "lufs")
        self.peak.setEnabled(self.norm.currentData() == "peak")
        ok = bool(self.folder.text().strip())
        try:
            self.preview.setText(file_name(self.take, self.result_settings()))
        except ExportError as exc:
            self.preview.setText(f"<span style='color:#ff6961'>{exc}</span>")
            ok = False
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export folder", self.folder.text())
        if d:
            self.folder.setText(d)
