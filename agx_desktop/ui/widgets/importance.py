"""Bar chart of word importances: holistic, or the interval explanation of the selected region."""
from __future__ import annotations

import typing as tp

import numpy as np
import pyqtgraph as pg

CMAP = pg.colormap.get("viridis")


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
        self.getAxis("bottom").setTicks([[(i, w[:12]) for i, w in enumerate(words)]])
        self.setXRange(-0.6, len(words) - 0.4, padding=0)
        top = float(self.values.max()) if len(self.values) else 1.0
        self.setYRange(0, min(1.15, max(0.05, top * 1.2)), padding=0)  # room for the value labels
        for i, v in enumerate(self.values):
            t = pg.TextItem(f"{v:.2f}", color="#d0d0d0", anchor=(0.5, 1.0))
            t.setPos(i, float(v))
            self.addItem(t)
            self.labels.append(t)
        title = ("Holistic word importance (whole take)" if interval is None
                 else f"Interval word importance {interval[0]:.2f}–{interval[1]:.2f} s")
        self.setTitle(title, color="#d0d0d0", size="9pt")
