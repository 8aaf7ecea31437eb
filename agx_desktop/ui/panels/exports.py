"""The export commands that need a window: the Export WAV dialog, the file dialogs for an explanation,
the heatmap picture (drawn from the timeline) and opening the data folder."""
from __future__ import annotations

import typing as tp
from pathlib import Path

from PySide6.QtCore import QObject, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ..export import ExportError, atomic_write
from ..paths import data_dir
from ..widgets.export_dialog import ExportDialog

if tp.TYPE_CHECKING:
    from ..controller import Controller
    from ..widgets.timeline import TimelineView


class ExportActions(QObject):
    """Dialogs in front of :meth:`Controller.export_current` / :meth:`Controller.export_explanation`."""

    def __init__(self, controller: Controller, timeline: TimelineView, window: QWidget,
                 save_settings: tp.Callable[[], None]) -> None:
        super().__init__(window)
        self.controller = controller
        self.timeline = timeline
        self.dialog_parent = window
        self.save_settings = save_settings

    def export_wav_dialog(self) -> None:
        session, settings = self.controller.session, self.controller.settings
        if session.current is None:
            return
        if not settings.export.folder:
            settings.export.folder = str(Path.home())
        dlg = ExportDialog(settings.export, session.current.take, self.dialog_parent)
        if dlg.exec():
            settings.export = dlg.result_settings()
            self.save_settings()
            self.controller.export_current(settings.export.folder, settings.export)

    def export_explanation(self, path: str | Path, fmt: str) -> Path | None:
        return self.controller.export_explanation(path, fmt, render_png=self.heatmap_png)

    def export_explanation_dialog(self, fmt: str) -> None:
        session = self.controller.session
        if not session.explanation_matches(session.current):
            return
        ext = {"json": "JSON (*.json)", "csv": "CSV (*.csv)", "png": "PNG image (*.png)"}[fmt]
        folder = self.controller.settings.export.folder or Path.home()
        start = Path(folder) / f"explanation_{session.current.id}.{fmt}"
        path, _ = QFileDialog.getSaveFileName(self.dialog_parent, f"Export explanation as {fmt.upper()}", str(start), ext)
        if path:
            self.export_explanation(path, fmt)

    def heatmap_png(self, path: Path) -> Path:
        """The word × time heatmap with its time axis, word labels and colour bar, at 2× scale."""
        tl = self.timeline
        rect = tl.heat.sceneBoundingRect()
        rect.setRight(max(rect.right(), tl.heat_bar.sceneBoundingRect().right()) + 4)
        rect.setLeft(rect.left() - 4)
        img = QImage(int(rect.width() * 2), int(rect.height() * 2), QImage.Format.Format_ARGB32)
        img.fill(tl.backgroundBrush().color())
        painter = QPainter(img)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        tl.scene().render(painter, img.rect().toRectF(), rect)
        painter.end()

        def writer(tmp: str) -> None:
            if not img.save(tmp, "PNG"):
                raise ExportError(f"could not write a PNG to {path.parent}")
        return atomic_write(path, writer, suffix=".png.part")

    def open_data_folder(self) -> None:
        """Open the autosave folder in the file manager (or say where it is)."""
        folder = data_dir()
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            QMessageBox.information(self.dialog_parent, "Data folder",
                                    f"Takes, explanations and settings are kept in\n{folder}")
