"""Takes history (every take kept, with a thumbnail) and drag-out of WAV files."""
from __future__ import annotations

import typing as tp
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QRect, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDrag, QFont, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QApplication, QListWidget, QListWidgetItem, QToolButton

from ..analysis import envelope

THUMB = QSize(120, 36)
DRAG_SIZE = QSize(260, 56)  # what follows the pointer while a take is dragged out
KIND_COLORS = {"original": "#5fb3ff", "weighted": "#ffb347", "factual": "#77dd77", "counterfactual": "#ff6961",
               "masked": "#c39bd3", "region": "#f7dc6f", "timeline": "#48c9b0"}


def wav_mime(paths: tp.Sequence[Path]) -> QMimeData:
    """Mime data a DAW / file manager accepts: file URLs of WAVs on disk."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(Path(p).resolve())) for p in paths])
    return mime


def _draw_waveform(p: QPainter, rect: QRect, lo: np.ndarray, hi: np.ndarray) -> None:
    """The min/max envelope ``lo``/``hi`` as one vertical line per pixel column of ``rect``, peak-normalised."""
    n = rect.width()
    if n <= 0 or len(lo) == 0:
        return
    idx = np.linspace(0, len(lo), n + 1).astype(int)
    mid, half = rect.top() + rect.height() / 2, rect.height() / 2 - 2
    peak = max(float(np.abs(np.concatenate([lo, hi])).max()), 1e-6)
    for x in range(n):
        a, b = idx[x], max(idx[x] + 1, idx[x + 1])
        ylo, yhi = float(lo[a:b].min()), float(hi[a:b].max())
        p.drawLine(rect.left() + x, int(mid - yhi / peak * half), rect.left() + x, int(mid - ylo / peak * half))


def thumbnail(item: tp.Any, size: QSize = THUMB) -> QPixmap:
    """A small waveform picture of a take, coloured by its kind, with a bar if it is explained."""
    pm = QPixmap(size)
    pm.fill(QColor("#26282c"))
    lo, hi = item.env
    p = QPainter(pm)
    p.setPen(QPen(QColor(KIND_COLORS.get(item.take.kind, "#cccccc"))))
    _draw_waveform(p, QRect(0, 0, size.width(), size.height()), lo, hi)
    if item.explanation is not None:
        p.fillRect(0, size.height() - 3, size.width(), 3, QColor("#ffd400"))
    p.end()
    return pm


def drag_pixmap(wav: Path, size: QSize = DRAG_SIZE) -> QPixmap:
    """The picture under the pointer while a take is dragged out: the dropped file's name over a mini
    waveform of that file, so the user sees which take (and which file name) is about to land."""
    import soundfile as sf
    pm = QPixmap(size)
    pm.fill(QColor("#2b2d31"))
    p = QPainter(pm)
    p.setPen(QPen(QColor("#5fb3ff")))
    p.drawRect(0, 0, size.width() - 1, size.height() - 1)
    font = QFont(p.font())
    font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
    p.setFont(font)
    line = p.fontMetrics().height()
    text_rect = QRect(6, 2, size.width() - 12, line)
    p.setPen(QPen(QColor("#e6e6e6")))
    p.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
               p.fontMetrics().elidedText(wav.name, Qt.TextElideMode.ElideMiddle, text_rect.width()))
    try:
        audio, _sr = sf.read(str(wav), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, ValueError):  # unreadable: the name alone still says what lands
        audio = np.zeros((0, 1), np.float32)
    if len(audio):
        lo, hi = envelope(audio.T, size.width())
        p.setPen(QPen(QColor("#5fb3ff")))
        _draw_waveform(p, QRect(6, line + 4, size.width() - 12, size.height() - line - 8), lo, hi)
    p.end()
    return pm


def start_wav_drag(source: tp.Any, mime: QMimeData) -> None:
    """Drag ``mime``'s WAV file(s) out of the app (copy), showing :func:`drag_pixmap` of the first."""
    drag = QDrag(source)
    drag.setMimeData(mime)
    urls = mime.urls()
    if urls:
        pixmap = drag_pixmap(Path(urls[0].toLocalFile()))
        drag.setPixmap(pixmap)
        drag.setHotSpot(QPoint(12, pixmap.height() // 2))
    drag.exec(Qt.DropAction.CopyAction)


def what_changed(item: tp.Any) -> str:
    """What a take changed, in a few words: a guided candidate's rank and score, a region edit
    ("mute dog · region 2.00–5.00 s"), a timeline's segments ("0–2.5 s: a dog barks | ..."); '' else."""
    t = item.take
    if item.notes.get("rank_label"):
        return str(item.notes["rank_label"])
    if t.kind == "region":
        from agx_desktop.engine.region import edit_label
        return edit_label(t)
    if t.kind == "timeline" and t.segments:
        return " | ".join(f"{s['start']:g}–{s['end']:g} s: {s['text']}" for s in t.segments)
    return ""


def describe(item: tp.Any) -> str:
    t = item.take
    lines = [f"{t.prompt}", f"{t.kind} · seed {int(t.params.seed)} · {t.duration:.2f} s · {t.model_id}"]
    if t.speed:  # sampled under a speed setting (bf16/int8/threads): not the float32 take of this seed
        lines[-1] += f" · {t.speed.get('label', 'speed settings')}"
    changed = what_changed(item)
    if changed:
        lines.insert(1, changed)
    if t.word_weights is not None:
        ws = [f"{w}×{v:g}" for w, v in zip(t.words, t.word_weights) if abs(v - 1.0) > 1e-9]
        lines.append("weights: " + (", ".join(ws) if ws else "all 1"))
    if item.explanation is not None:
        lines[-1] += " · explained"
    return "\n".join(lines)


class TakeList(QListWidget):
    """The takes history; drag items out of it to get WAV files."""

    current_take_changed = Signal(str)

    def __init__(self, wav_for: tp.Callable[[str], Path], parent: tp.Any = None) -> None:
        super().__init__(parent)
        self.wav_for = wav_for
        self.setIconSize(THUMB)
        self.setWordWrap(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.setToolTip("Every take you made. Click to show it; drag one into a DAW or file manager for a WAV.")
        self.currentItemChanged.connect(self._on_current)
        self._ids: list[str] = []

    def add(self, item: tp.Any) -> QListWidgetItem:
        row = QListWidgetItem(QIcon(thumbnail(item)), describe(item))
        row.setData(Qt.ItemDataRole.UserRole, item.id)
        row.setToolTip(describe(item))
        self.insertItem(0, row)  # newest first
        self._ids.insert(0, item.id)
        return row

    def refresh(self, item: tp.Any) -> None:
        row = self.row_of(item.id)
        if row is not None:
            row.setIcon(QIcon(thumbnail(item)))
            row.setText(describe(item))
            row.setToolTip(describe(item))

    def row_of(self, take_id: str) -> QListWidgetItem | None:
        for i in range(self.count()):
            if self.item(i).data(Qt.ItemDataRole.UserRole) == take_id:
                return self.item(i)
        return None

    def select(self, take_id: str) -> None:
        row = self.row_of(take_id)
        if row is not None and self.currentItem() is not row:
            self.setCurrentItem(row)

    def ids(self) -> list[str]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def mimeData(self, items: tp.Sequence[QListWidgetItem]) -> QMimeData:  # noqa: N802 (Qt API)
        paths = [self.wav_for(it.data(Qt.ItemDataRole.UserRole)) for it in items]
        return wav_mime([p for p in paths if p is not None])

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return ["text/uri-list"]

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.CopyAction

    def startDrag(self, _actions: Qt.DropAction) -> None:  # noqa: N802 (Qt API)
        """Drag the selected take out as its WAV, with the file's name and waveform under the pointer."""
        items = self.selectedItems()
        mime = self.mimeData(items) if items else None
        if mime is not None and mime.urls():
            start_wav_drag(self, mime)

    def _on_current(self, cur: QListWidgetItem | None, _prev: tp.Any) -> None:
        if cur is not None:
            self.current_take_changed.emit(cur.data(Qt.ItemDataRole.UserRole))


class DragHandle(QToolButton):
    """Press and drag this button out of the window to drop the current take as a WAV."""

    def __init__(self, mime_for_current: tp.Callable[[], QMimeData | None], parent: tp.Any = None) -> None:
        super().__init__(parent)
        self.mime_for_current = mime_for_current
        self.setText("⇲ Drag WAV")
        self.setToolTip("Drag this into a DAW or file manager to drop the current take as a WAV "
                        "(written with the export settings)")
        self._press: QPoint | None = None

    def mousePressEvent(self, ev: tp.Any) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            self._press = ev.position().toPoint()
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: tp.Any) -> None:
        if self._press is not None and (ev.position().toPoint() - self._press).manhattanLength() >= \
                QApplication.startDragDistance():
            self._press = None
            mime = self.mime_for_current()
            if mime is not None:
                start_wav_drag(self, mime)
            self.setDown(False)
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: tp.Any) -> None:
        self._press = None
        super().mouseReleaseEvent(ev)
