"""Bar chart of word importances: holistic, or the interval explanation of the selected region.

Two views of the same scores (issue 18): **All words (paper)**, every word in prompt order with the
paper's Eq. 7 importance (the default), and **Sound words first**, the same bars and values grouped by
kind (:mod:`agx_desktop.engine.word_kinds`): sound words (what sounds), then context words (how, where,
when it is heard), then function words ("a", "then"), each group ranked by score, labelled and
coloured apart. Nothing is hidden or rescaled: a function word the model needs keeps its bar and value.
"""
from __future__ import annotations

import math
import typing as tp
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QVBoxLayout, QWidget

from .row_labels import labelled_indices

if tp.TYPE_CHECKING:
    from agx_desktop.engine.word_kinds import WordKinds, WordScore

    from ..settings import Settings

CMAP = pg.colormap.get("viridis")
LABEL_CHARS = 12        # a word's tick shows at most this many characters
VALUE_LABEL_MIN_PX = 28  # narrower bars get no value text above them (it would overlap the next one's)

PAPER, SOUND = "paper", "sound"
#: The view choice as the user reads it (combo order).
VIEWS = {PAPER: "All words (paper)", SOUND: "Sound words first"}
CONTRAST_TEXT = "vs. rest of clip (variant)"
CONTRAST_TIP = ("A documented variant that departs from the paper, off by default: for the selected interval, "
                "each word's importance over the interval (Eq. 7 over its steps) minus its importance over the "
                "rest of the clip. The paper ranks the interval's own Eq. 7 importance; the difference keeps what "
                "this part needs more than the rest does (values from −1 to 1).")


@dataclass(frozen=True)
class WordGroup:
    """One group of the sound view: how it is labelled and coloured."""

    name: str    # sound | context | function (the chips' kind too)
    title: str   # the label over its bars
    short: str   # the label when the group is too narrow for its title
    color: str   # label, band and (context, function) bar colour
    noun: str    # one of its words, as the tooltips name it
    tip: str     # what the group holds, for tooltips


GROUPS = (
    WordGroup("sound", "sound", "snd", "#b5de2b", "sound word", "sound word: what sounds"),
    WordGroup("context", "context", "ctx", "#7fa6d6", "context word",
              "context word: how, where or when it is heard; ranked apart, score kept"),
    WordGroup("function", "function", "fn", "#8a8d92", "function word", "function word: ranked apart, score kept"),
)
GROUP = {g.name: g for g in GROUPS}
BAR_ALPHA = {"context": 200, "function": 150}  # context and function bars: their group's colour, the latter fainter


def grouped_words(kinds: WordKinds) -> list[tuple[WordGroup, list[WordScore]]]:
    """The sound view's groups in display order, each ranked by score: sound, context, function."""
    return [(GROUP["sound"], kinds.sound), (GROUP["context"], [w for w in kinds.content if w.context]),
            (GROUP["function"], kinds.function)]


def word_groups(kinds: WordKinds) -> dict[int, str]:
    """Each prompt word's group name by its index (the chips' kind)."""
    return {w.index: group.name for group, members in grouped_words(kinds) for w in members}


def importance_color(value: float, levels: tuple[float, float] = (0.0, 1.0)) -> tp.Any:
    """QColor for an importance, on the heatmap's colour map scaled to ``levels`` (its colour bar)."""
    lo, hi = levels
    x = (float(value) - lo) / (hi - lo) if hi > lo else 0.5
    return CMAP.map(float(np.clip(x, 0.0, 1.0)), mode="qcolor")


def _faint(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


class ImportanceBars(pg.PlotWidget):
    """The bars. ``words``/``values`` hold what is drawn, bar by bar (prompt order in the paper view,
    grouped in the sound view); ``groups`` the group of each bar (empty in the paper view)."""

    def __init__(self, parent: tp.Any = None) -> None:
        super().__init__(parent)
        self.setBackground("#1e1f22")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.getAxis("left").setLabel("importance")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setYRange(0, 1, padding=0)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.addItem(self.bars)
        self.labels: list[pg.TextItem] = []
        self.values: np.ndarray = np.zeros(0)
        self.words: list[str] = []
        self.groups: list[str] = []
        self.mode = "holistic"
        self.view = PAPER
        self.contrast = False
        self._decor: list[tp.Any] = []  # the sound view's bands
        self._group_labels: list[tuple[pg.TextItem, WordGroup, int]] = []  # label, group, bars in it
        self._shown: tuple = (None, None, None, (0.0, 1.0), None, False)
        self.set_values(None, None)
        self.getPlotItem().vb.sigResized.connect(lambda *_: self._relabel())  # after the layout settles

    def set_view(self, view: str) -> None:
        """Show the last values in ``view`` (:data:`PAPER` or :data:`SOUND`)."""
        self.view = view if view in VIEWS else PAPER
        self.set_values(*self._shown[:4], kinds=self._shown[4], contrast=self._shown[5])

    def set_values(self, words: list[str] | None, values: tp.Sequence[float] | None,
                   interval: tuple[float, float] | None = None,
                   levels: tuple[float, float] = (0.0, 1.0), kinds: WordKinds | None = None,
                   contrast: bool = False) -> None:
        """Draw ``values`` of ``words``; ``kinds`` (the same scores with each word's kind) is needed by the
        sound view, ``contrast`` says the values are the interval-minus-rest variant."""
        self._shown = (words, values, interval, levels, kinds, contrast)
        for t in self.labels + [t for t, _, _ in self._group_labels] + self._decor:
            self.removeItem(t)
        self.labels, self._group_labels, self._decor = [], [], []
        if not words or values is None:
            self.words, self.values, self.groups, self.contrast = [], np.zeros(0), [], False
            self.bars.setOpts(x=[], height=[], brushes=[])
            self.getAxis("bottom").setTicks([[]])
            self._title = "Word importance (explain a take)"
            self.setToolTip("")
            self.setTitle(self._title, color="#d0d0d0", size="9pt")
            return
        self.mode = "holistic" if interval is None else "interval"
        self.contrast = bool(contrast and interval is not None)
        grouped = self.view == SOUND and kinds is not None and len(kinds.words) == len(words)
        if grouped:
            order = [(group, w.index) for group, members in grouped_words(kinds) for w in members]
            self.groups = [group.name for group, _ in order]
            self.words = [words[i] for _, i in order]
            self.values = np.asarray([float(values[i]) for _, i in order])
        else:
            self.groups, self.words, self.values = [], list(words), np.asarray(values, dtype=float)
        brushes, text_colors = [], []
        for i, v in enumerate(self.values):  # sound words (and the paper view): the heatmap's colours
            group = self.groups[i] if grouped else "sound"
            color = importance_color(v, levels) if group == "sound" else _faint(GROUP[group].color, BAR_ALPHA[group])
            brushes.append(pg.mkBrush(color))
            text_colors.append("#d0d0d0" if group == "sound" else GROUP[group].color)
        x = np.arange(len(self.words))
        self.bars.setOpts(x=x, height=self.values, width=0.7, brushes=brushes,
                          pens=[pg.mkPen("#dddddd", width=0.5)] * len(self.words))
        self.setXRange(-0.6, len(self.words) - 0.4, padding=0)
        for i, v in enumerate(self.values):
            t = pg.TextItem(f"{v:.2f}", color=text_colors[i], anchor=(0.5, 1.0 if v >= 0 else 0.0))
            t.setPos(i, float(v))
            self.addItem(t)
            self.labels.append(t)
        if grouped:
            self._add_groups()
        self.setToolTip(self._tooltip(grouped))
        self.getAxis("left").setLabel("importance − rest" if self.contrast else "importance")
        if interval is None:
            self._title = "Holistic word importance (whole take)"
        elif self.contrast:
            self._title = f"Interval {interval[0]:.2f}–{interval[1]:.2f} s − rest of clip (variant)"
        else:
            self._title = f"Interval word importance {interval[0]:.2f}–{interval[1]:.2f} s"
        self._relabel()

    def _fit_y(self) -> None:
        """The y range: the paper view of values in [0, 1] as always (room for the value texts above the
        bars); group labels (the sound view) or negative values (the contrast) get room measured in
        pixels, so no text overlaps another at any height."""
        top = max(float(self.values.max()), 0.0)
        bottom = min(float(self.values.min()), 0.0)
        lines_above, lines_below = (2 if self.groups else 1), (1 if bottom < 0 else 0)
        height = self.getPlotItem().vb.height()
        if (not self.groups and bottom >= 0) or height < 40:
            ytop, ybottom = min(1.15, max(0.05, top * 1.2)), bottom * 1.25
        else:
            line = self.fontMetrics().height() * 1.4 + 6  # a TextItem: the text and its margins
            per_px = max(top - bottom, 0.05) / max(height - (lines_above + lines_below) * line, height * 0.3)
            ytop, ybottom = top + lines_above * line * per_px, bottom - lines_below * line * per_px
        self.setYRange(ybottom, ytop, padding=0)
        for label, _, _ in self._group_labels:
            label.setPos(label.pos().x(), ytop)

    def _add_groups(self) -> None:
        """A faint band behind each group's bars and its label at the top (placed by :meth:`_fit_y`)."""
        start = 0
        for name in dict.fromkeys(self.groups):
            n = self.groups.count(name)
            group = GROUP[name]
            band = pg.LinearRegionItem((start - 0.5, start + n - 0.5), movable=False,
                                       brush=pg.mkBrush(_faint(group.color, 28)), pen=pg.mkPen(None))
            band.setZValue(-10)
            self.addItem(band)
            self._decor.append(band)
            label = pg.TextItem(group.title, color=group.color, anchor=(0.0, 0.0))
            label.setPos(start - 0.45, 0.0)
            label.setToolTip(group.tip)
            self.addItem(label)
            self._group_labels.append((label, group, n))
            start += n

    def _tooltip(self, grouped: bool) -> str:
        if not grouped:
            return "\n".join(f"{w}: {v:.2f}" for w, v in zip(self.words, self.values))
        head = ("Sound words first: the paper's scores, grouped by kind (sound, context, function), "
                "each group ranked by score")
        return "\n".join([head] + [f"{w}: {v:.2f} · {GROUP[g].noun}"
                                   for w, v, g in zip(self.words, self.values, self.groups)])

    def label_step(self) -> int:
        """Every how many bars a word is written under its bar, so that no two tick labels overlap."""
        if not self.words:
            return 1
        char_px = self.fontMetrics().averageCharWidth() or 7
        longest = max(min(len(w), LABEL_CHARS) for w in self.words) * char_px + 6
        bar_px = max(1.0, self.getPlotItem().vb.width() / len(self.words))
        return max(1, math.ceil(longest / bar_px))

    def _relabel(self) -> None:
        """Ticks every :meth:`label_step` bars (the tooltip names all); value texts only on wide bars;
        a group's label shortened, or left out, where its bars are too narrow for it."""
        if not getattr(self, "words", None):  # also while PlotWidget's __init__ resizes, before ours ran
            return
        self._fit_y()
        step = self.label_step()
        kinds = self.groups or None  # the sound view's groups ("sound", "context", "function"), else by the words
        self.getAxis("bottom").setTicks([[(i, self.words[i][:LABEL_CHARS])
                                          for i in labelled_indices(self.words, step, kinds)]])
        bar_px = self.getPlotItem().vb.width() / len(self.words)
        for t in self.labels:
            t.setVisible(bar_px >= VALUE_LABEL_MIN_PX)
        fm = self.fontMetrics()
        for label, group, n in self._group_labels:
            room = n * bar_px - 4
            text = next((s for s in (group.title, group.short) if fm.horizontalAdvance(s) <= room), "")
            label.setText(text)
        note = "" if step == 1 else " · some labelled (sound words first)"  # the tooltip names all
        self.setTitle(self._title + note, color="#d0d0d0", size="9pt")

    def resizeEvent(self, ev: tp.Any) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(ev)
        self._relabel()


class ImportancePanel(QWidget):
    """The bars with their view choice (paper | sound words first) and, for a selected interval, the
    contrast variant (off by default, not remembered: each run starts with the paper's measure)."""

    changed = Signal()  # the view or the contrast option changed: the window redraws bars and chips

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.view_combo = QComboBox()
        for view, text in VIEWS.items():
            self.view_combo.addItem(text, view)
        self.view_combo.setToolTip("All words (paper): every word in prompt order, the paper's Eq. 7 importance.\n"
                                   "Sound words first: the same scores, grouped: sound words (what sounds), then "
                                   "context words (how, where, when it is heard), then function words "
                                   "(\"a\", \"then\"), each ranked by score. Nothing is hidden.")
        self.contrast_box = QCheckBox(CONTRAST_TEXT)
        self.contrast_box.setToolTip(CONTRAST_TIP)
        self.contrast_box.setEnabled(False)  # until an interval is selected
        row.addWidget(self.view_combo)
        row.addWidget(self.contrast_box)
        row.addStretch(1)
        lay.addLayout(row)
        self.bars = ImportanceBars()
        lay.addWidget(self.bars, 1)
        self.view_combo.currentIndexChanged.connect(self._on_view)
        self.contrast_box.toggled.connect(lambda _on: self.changed.emit())

    @property
    def view(self) -> str:
        return str(self.view_combo.currentData())

    def set_view(self, view: str) -> None:
        index = self.view_combo.findData(view if view in VIEWS else PAPER)
        self.view_combo.setCurrentIndex(index)

    @property
    def contrast(self) -> bool:
        """Whether the contrast variant is asked for and applies (an interval is selected)."""
        return self.contrast_box.isEnabled() and self.contrast_box.isChecked()

    def set_interval_selected(self, selected: bool) -> None:
        """The contrast option applies to a selected interval only."""
        self.contrast_box.setEnabled(selected)

    def _on_view(self, _index: int) -> None:
        self.bars.set_view(self.view)
        self.changed.emit()

    def restore(self, s: Settings) -> None:
        self.set_view(s.word_view)

    def store(self, s: Settings) -> None:
        s.word_view = self.view
