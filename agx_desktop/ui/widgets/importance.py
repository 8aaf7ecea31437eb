"""Bar chart of word importances: holistic, or the interval explanation of the selected region."""
from __future__ import annotations

import math
import typing as tp

import numpy as np
import pyqtgraph as pg

CMAP = pg.colormap.get("viridis")
LABEL_CHARS = 12        # a word's tick shows at most this many characters
VALUE_LABEL_MIN_PX = 28  # narrower bars get no value text above them (it would overlap the next one's)


def importance_color(value: float, levels: tuple[float, float] = (0.0, 1.0)) -> tp.Any:
    """QColor for an importance, on the heatmap's colour map scaled to ``levels`` (its colour bar)."""
    lo, hi = levels
    x = (float(value) - lo) / (hi - lo) if hi > lo else 0.5
    return CMAP.map(float(np.clip(x, 0.0, 1.0)), mode="qcolor")


class ImportanceBars(pg.PlotWidget):
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
        self.mode = "holistic"
        self.set_values(None, None)

    def set_values(self, words: list[str] | None, values: tp.Sequence[float] | None,
                   interval: tuple[float, float] | None = None,
                   levels: tuple[float, float] = (0.0, 1.0)) -> None:
        for t in self.labels:
            self.removeItem(t)
        self.labels = []
        if not words or values is None:
            self.words, self.values = [], np.zeros(0)
            self.bars.setOpts(x=[], height=[], brushes=[])
            self.getAxis("bottom").setTicks([[]])
            self.setTitle("Word importance (explain a take)", color="#d0d0d0", size="9pt")
            return
        self.words, self.values = list(words), np.asarray(values, dtype=float)
        self.mode = "holistic" if interval is None else "interval"
        x = np.arange(len(words))
        self.bars.setOpts(x=x, height=self.values, width=0.7,
                          brushes=[pg.mkBrush(importance_color(v, levels)) for v in self.values],
                          pens=[pg.mkPen("#dddddd", width=0.5)] * len(words))
        self.setXRange(-0.6, len(words) - 0.4, padding=0)
        top = float(self.values.max()) if len(self.values) else 1.0
        self.setYRange(0, min(1.15, max(0.05, top * 1.2)), padding=0)  # room for the value labels
        for i, v in enumerate(self.values):
            t = pg.TextItem(f"{v:.2f}", color="#d0d0d0", anchor=(0.5, 1.0))
            t.setPos(i, float(v))
            self.addItem(t)
            self.labels.append(t)
        self.setToolTip("\n".join(f"{w}: {v:.2f}" for w, v in zip(self.words, self.values)))
        self._title = ("Holistic word importance (whole take)" if interval is None
                       else f"Interval word importance {interval[0]:.2f}–{interval[1]:.2f} s")
        self._relabel()

    def label_step(self) -> int:
        """Every how many bars a word is written under its bar, so that no two tick labels overlap."""
        if not self.words:
            return 1
        char_px = self.fontMetrics().averageCharWidth() or 7
        longest = max(min(len(w), LABEL_CHARS) for w in self.words) * char_px + 6
        bar_px = max(1.0, self.getPlotItem().vb.width() / len(self.words))
        return max(1, math.ceil(longest / bar_px))

    def _relabel(self) -> None:
        """Ticks every :meth:`label_step` bars (the tooltip names all); value texts only on wide bars."""
        if not getattr(self, "words", None):  # also while PlotWidget's __init__ resizes, before ours ran
            return
        step = self.label_step()
        self.getAxis("bottom").setTicks([[(i, w[:LABEL_CHARS]) for i, w in enumerate(self.words) if i % step == 0]])
        bar_px = self.getPlotItem().vb.width() / len(self.words)
        for t in self.labels:
            t.setVisible(bar_px >= VALUE_LABEL_MIN_PX)
        note = "" if step == 1 else f" · 1 in {step} labelled"  # the tooltip names all
        self.setTitle(self._title + note, color="#d0d0d0", size="9pt")

    def resizeEvent(self, ev: tp.Any) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(ev)
        self._relabel()
