"""Time-aligned panes (Sonic Visualiser style): waveform, spectrogram and word × time heatmap.

All three share one x axis in seconds (linked ViewBoxes), one playhead (an InfiniteLine per pane)
and one selection (a LinearRegionItem per pane, kept in sync). Left-drag selects a region, a click
seeks, the wheel zooms time; the y axes are fixed.

The heatmap has one row per prompt word (first word on top). On a prompt-timeline take each
segment's words are drawn over that segment's time only (cells outside it blank, a thin line at each
boundary, the segment's label at its start). Row labels never overlap: when the rows are shorter than
a line of text only every k-th word is labelled (the title says so) and hovering a row names its word.

While a take is generated with Play as it generates on, :meth:`TimelineView.set_partial_audio` shows its
decoded audio instead of the previous take's: the waveform and spectrogram fill in left to right over
the new take's full duration, the part not decoded yet hatched and labelled "generating…", and the
playhead is never drawn past the decoded end.
"""
from __future__ import annotations

import functools
import json
import time
import typing as tp
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetricsF

from agx_desktop.engine.word_kinds import prompt_word_kinds

from .decoded_preview import DecodedPreview
from .row_labels import labelled_indices

AXIS_WIDTH = 96
PLAYHEAD_PEN = pg.mkPen("#ffd400", width=2)
REGION_BRUSH = pg.mkBrush(80, 160, 255, 50)
LIVE_TITLE = "live (cross-attention, provisional)"
LIVE_OPACITY = 0.55  # the provisional map is drawn paler than an explanation
SEGMENT_PEN = pg.mkPen("#e8e8e8", width=1, style=Qt.PenStyle.DashLine)
LABEL_GAP_PX = 0.5  # at least this much between two row labels
FILL_INTERVAL_MS = 100  # the audio of a take being generated is redrawn at most 10 times a second
PENDING_BRUSH = QBrush(QColor(154, 160, 166, 70), Qt.BrushStyle.BDiagPattern)  # not decoded yet: hatched
PENDING_TEXT = "generating…"
PENDING_TITLE = "the take being generated, as it decodes (preview)"
SPEED_RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results"


@functools.lru_cache(maxsize=4)
def live_tooltip(results: Path = SPEED_RESULTS) -> str:
    """What the live map is and how far it agrees with AudioGenX, from the measured benchmark
    (``benchmarks/bench_speed.py``: speed.json, else its --quick run speed_quick.json, said so);
    "not yet measured" when neither is there."""
    head = ("Provisional: the cross-attention the model computes while it samples, averaged over heads and "
            "layers. Explain the take for AudioGenX's map, which replaces this one.")
    for name, run in (("speed.json", ""), ("speed_quick.json", ", quick run")):
        try:
            live = json.loads((results / name).read_text(encoding="utf-8"))["live"]
            overall, per_step, n = float(live["holistic_mean"]), float(live["per_step_mean"]), int(live["n"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return (head + f"\nRank agreement with AudioGenX (Spearman ρ, {n} held-out captions, bundled model{run}): "
                f"{overall:.2f} for the whole-take word scores, {per_step:.2f} per step.")
    return head + "\nAgreement with AudioGenX: not yet measured."


def _timeline_segments(take: tp.Any) -> list[tuple[float, float, list[str]]] | None:
    """A prompt-timeline take's (start, end, words) per segment; None for any other take."""
    if getattr(take, "kind", None) != "timeline" or not getattr(take, "segments", None):
        return None
    from ...engine.timeline import segment_words
    return segment_words(take)


class TimeViewBox(pg.ViewBox):
    """A ViewBox whose left drag selects a time region and whose click seeks."""

    sigSeek = Signal(float)
    sigSelect = Signal(float, float, bool)  # start, end, finished

    def __init__(self, *args: tp.Any, **kwargs: tp.Any) -> None:
        super().__init__(*args, **kwargs)
        self.setMouseEnabled(x=True, y=False)
        self.setMenuEnabled(False)

    def mouseClickEvent(self, ev: tp.Any) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.sigSeek.emit(float(self.mapSceneToView(ev.scenePos()).x()))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev: tp.Any, axis: tp.Any = None) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            a = float(self.mapSceneToView(ev.buttonDownScenePos()).x())
            b = float(self.mapSceneToView(ev.scenePos()).x())
            self.sigSelect.emit(min(a, b), max(a, b), bool(ev.isFinish()))
        else:
            super().mouseDragEvent(ev, axis)


class TimelineView(pg.GraphicsLayoutWidget):
    """Waveform, spectrogram and heatmap panes with a shared time axis."""

    seek_requested = Signal(float)
    selection_changed = Signal(object)  # (start, end) seconds or None

    def __init__(self, parent: tp.Any = None) -> None:
        super().__init__(parent)
        self.setBackground("#1e1f22")
        self.ci.layout.setSpacing(2)
        self.duration = 1.0
        self._selection: tuple[float, float] | None = None
        self._syncing = False
        self.plots: list[pg.PlotItem] = []
        self.playheads: list[pg.InfiniteLine] = []
        self.regions: list[pg.LinearRegionItem] = []

        self.wave = self._add_plot(0, "Waveform", "amplitude")
        self.spec = self._add_plot(1, "Spectrogram", "Hz")
        self.heat = self._add_plot(2, "Word importance over time", "")
        self.heat.getAxis("bottom").setLabel("time", units="s")
        self.heat.getAxis("bottom").enableAutoSIPrefix(False)
        for p in self.plots[:-1]:
            p.getAxis("bottom").setStyle(showValues=False)
        for p in self.plots[1:]:
            p.setXLink(self.wave)
        self.ci.layout.setRowStretchFactor(0, 2)
        self.ci.layout.setRowStretchFactor(1, 3)
        self.ci.layout.setRowStretchFactor(2, 3)

        self.wave.setYRange(-1, 1, padding=0.02)
        # min/max envelope drawn as one vertical segment per bucket (fast at any zoom)
        self.wave_curve = pg.PlotCurveItem(pen=pg.mkPen("#5fb3ff", width=1), connect="pairs", antialias=False)
        self.wave.addItem(self.wave_curve)
        self._mono: np.ndarray | None = None  # channel mean, for detail when zoomed in
        self._sr = 1
        self.wave.getViewBox().sigXRangeChanged.connect(self._on_x_range)

        self.spec_img = pg.ImageItem(axisOrder="col-major")
        self.spec.addItem(self.spec_img)
        self.spec_bar = pg.ColorBarItem(values=(-100, 0), colorMap="inferno", label="dB", width=14,
                                        interactive=True)
        self.spec_bar.setImageItem(self.spec_img)
        self.addItem(self.spec_bar, row=1, col=1)

        self.heat_img = pg.ImageItem(axisOrder="col-major")
        self.heat.addItem(self.heat_img)
        self.heat_bar = pg.ColorBarItem(values=(0, 1), colorMap="viridis", label="importance", width=14,
                                        interactive=True)
        self.heat_bar.setImageItem(self.heat_img)
        self.addItem(self.heat_bar, row=2, col=1)
        self.heat_empty = pg.TextItem("Explain the take to see which words shape which moments",
                                      color="#9aa0a6", anchor=(0.5, 0.5))
        self.heat.addItem(self.heat_empty)
        self.words: list[str] = []
        self.heat_state = "empty"  # "empty", "live" (provisional cross-attention) or "explained"
        self.segments: list[tuple[float, float, list[str]]] = []  # a timeline take's (start, end, words)
        self._segment_items: list[tp.Any] = []
        self._per_frame: np.ndarray | None = None  # [frames, words] shown, NaN outside a word's segment
        self._heat_seconds = 1.0
        self._title, self._title_color = "", "#d0d0d0"
        self._take_segments: tuple[str | None, tp.Any] = (None, None)  # (take id, segments) of the take shown
        self.label_step = 1  # every label_step-th word is labelled
        axis = self.heat.getAxis("left")
        axis.setStyle(textFillLimits=[(0, 1.0)])  # the thinning below keeps the labels apart, not pyqtgraph
        self.heat.getViewBox().sigResized.connect(lambda *_: self._update_ticks())
        self.scene().sigMouseMoved.connect(self._on_hover)
        self._set_word_ticks([])
        # the words that matter at the playhead: a marker on their rows, riding the playhead
        self.active_marks = pg.ScatterPlotItem(size=11, symbol="t2", pen=pg.mkPen("#1e1f22", width=1),
                                               brush=pg.mkBrush("#ffffff"))
        self.active_marks.setZValue(110)
        self.heat.addItem(self.active_marks, ignoreBounds=True)
        self.spec.getAxis("left").enableAutoSIPrefix(False)
        self.spec.setYRange(0, 8000, padding=0)
        self._spec_rect: QRectF | None = None  # where set_item drew the spectrogram (put back after a fill)
        self.wave.setXRange(0, self.duration, padding=0)
        self.set_heatmap(None)
        self._init_fill()

    def _add_plot(self, row: int, title: str, ylabel: str) -> pg.PlotItem:
        vb = TimeViewBox()
        plot = self.addPlot(row=row, col=0, viewBox=vb)
        plot.setTitle(title, color="#d0d0d0", size="9pt")
        plot.getAxis("left").setWidth(AXIS_WIDTH)
        if ylabel:
            plot.getAxis("left").setLabel(ylabel)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        vb.sigSeek.connect(self._on_seek)
        vb.sigSelect.connect(self._on_select)
        line = pg.InfiniteLine(0, angle=90, pen=PLAYHEAD_PEN, movable=False)
        line.setZValue(100)
        plot.addItem(line, ignoreBounds=True)
        region = pg.LinearRegionItem((0, 0), brush=REGION_BRUSH, movable=True)
        region.setZValue(50)
        region.hide()
        region.sigRegionChanged.connect(self._on_region_item_changed)
        region.sigRegionChangeFinished.connect(self._on_region_item_finished)
        plot.addItem(region, ignoreBounds=True)
        self.plots.append(plot)
        self.playheads.append(line)
        self.regions.append(region)
        return plot

    def _init_fill(self) -> None:
        """The items of a take being generated (:meth:`set_partial_audio`): a hatched region over the time
        not decoded yet, with a label, on the waveform and spectrogram panes."""
        self.preview: DecodedPreview | None = None  # the decoded audio shown, None when no fill is on
        self._preview_audio: np.ndarray | None = None  # the latest audio handed in, drawn at the next fill
        self._saved_view: dict[str, tp.Any] | None = None  # what the panes showed before the fill
        self._last_fill = 0.0  # time.monotonic() of the last fill drawn
        self._fill_timer = QTimer(self)
        self._fill_timer.setSingleShot(True)
        self._fill_timer.timeout.connect(self._draw_preview)
        self._playhead_wanted = 0.0  # where the player says the playhead is (drawn clamped during a fill)
        self.pending: list[pg.LinearRegionItem] = []
        self.pending_labels: list[pg.TextItem] = []
        for plot in (self.wave, self.spec):
            region = pg.LinearRegionItem((0, 0), brush=PENDING_BRUSH, pen=pg.mkPen("#9aa0a6", width=1),
                                         movable=False)
            region.setZValue(40)  # under the selection and the playhead
            region.hide()
            plot.addItem(region, ignoreBounds=True)
            label = pg.TextItem(PENDING_TEXT, color="#d8dce0", anchor=(0.5, 0.5), fill=pg.mkBrush(30, 31, 34, 200))
            label.setZValue(45)
            label.hide()
            plot.addItem(label, ignoreBounds=True)
            self.pending.append(region)
            self.pending_labels.append(label)

    # ------------------------------------------------------------------ content
    def clear(self) -> None:
        self._end_fill(restore=False)
        self.wave_curve.setData([], [])
        self._mono = None
        self.spec_img.clear()
        self.set_heatmap(None)
        self.set_selection(None)

    def set_item(self, item: tp.Any) -> None:
        """Show a :class:`~agx_desktop.ui.analysis.TakeItem` (waveform, spectrogram, heatmap)."""
        if item is None:
            self.clear()
            return
        self._end_fill(restore=False)  # the take generated (or another one picked) replaces the preview
        take = item.take
        self.duration = max(take.duration, 1e-3)
        lo, hi = item.env
        x = np.linspace(0, self.duration, len(lo))
        self.wave_curve.setData(np.repeat(x, 2), np.column_stack([lo, hi]).ravel())
        audio = np.asarray(take.audio, dtype=np.float32)
        self._mono = audio.mean(axis=0) if audio.ndim == 2 else audio
        self._sr = int(take.sample_rate)
        spec = item.spec
        self.spec_img.setImage(spec.db, autoLevels=False)
        self._spec_rect = QRectF(0, 0, spec.duration, spec.max_freq)
        self.spec_img.setRect(self._spec_rect)
        top = float(np.percentile(spec.db, 99.5)) if spec.db.size else 0.0
        self.spec_bar.setLevels((max(top - 80.0, spec.floor), top))
        self.spec.setYRange(0, spec.max_freq, padding=0)
        self._take_segments = (take.id, _timeline_segments(take))
        self.set_heatmap(item.explanation)
        for p in self.plots:
            p.setLimits(xMin=0, xMax=self.duration, minXRange=0.02)
        self.wave.setXRange(0, self.duration, padding=0)
        if self._selection and self._selection[1] > self.duration:
            self.set_selection(None)

    def _on_x_range(self, _vb: tp.Any, rng: tp.Any) -> None:
        """Zoomed in: redraw the visible part of the waveform from the samples (min/max per pixel)."""
        if self._mono is None or not len(self._mono):
            return
        a, b = max(0.0, float(rng[0])), min(self.duration, float(rng[1]))
        if b <= a:
            return
        i0, i1 = int(a * self._sr), min(len(self._mono), int(np.ceil(b * self._sr)) + 1)
        n = i1 - i0
        if n <= 1:
            return
        if n <= 3000:  # few samples: draw them as a line through each sample
            y = self._mono[i0:i1]
            x = (i0 + np.arange(n)) / self._sr
            self.wave_curve.setData(np.repeat(x, 2)[1:-1], np.repeat(y, 2)[1:-1])
            return
        buckets = 1500
        edges = np.linspace(0, n, buckets + 1).astype(int)[:-1]
        seg = self._mono[i0:i1]
        lo = np.minimum.reduceat(seg, edges)
        hi = np.maximum.reduceat(seg, edges)
        x = (i0 + edges) / self._sr
        self.wave_curve.setData(np.repeat(x, 2), np.column_stack([lo, hi]).ravel())

    # ------------------------------------------------------------------ the take being generated
    def set_partial_audio(self, audio: np.ndarray | None, sample_rate: int = 0, total_seconds: float = 0.0) -> None:
        """Show ``audio`` [channels, n], all that is decoded so far of a take of ``total_seconds`` being
        generated, in place of the take shown; ``None`` drops it and puts back what was shown before
        (a cancelled or failed job). :meth:`set_item` of the finished take replaces it.

        From the first call the x axis spans ``total_seconds`` (the live map's time axis too), so nothing
        rescales as the audio grows; the time not decoded yet is hatched. Redraws are coalesced to one per
        :data:`FILL_INTERVAL_MS` (the first at once) and analyse only the new samples (DecodedPreview),
        so the generation running meanwhile is hardly slowed (benchmarks/results/speed.md)."""
        if audio is None:
            self._end_fill(restore=True)
            return
        total_seconds = max(float(total_seconds), audio.shape[-1] / float(sample_rate))
        preview = self.preview
        if preview is None:
            self._begin_fill(int(sample_rate), total_seconds)
        elif (preview.sample_rate != int(sample_rate) or abs(preview.total_seconds - total_seconds) > 1e-9
              or audio.shape[-1] < len(preview.mono)):  # another take's stream: start over, same saved view
            self._begin_fill(int(sample_rate), total_seconds, save=False)
        self._preview_audio = audio
        wait_ms = FILL_INTERVAL_MS - 1000 * (time.monotonic() - self._last_fill)
        if preview is None or wait_ms <= 0:
            self._draw_preview()
        elif not self._fill_timer.isActive():
            self._fill_timer.start(int(np.ceil(wait_ms)))

    def _begin_fill(self, sample_rate: int, total_seconds: float, save: bool = True) -> None:
        if save:
            curve_x, curve_y = self.wave_curve.getData()
            self._saved_view = {
                "curve": (curve_x, curve_y), "mono": self._mono, "sr": self._sr, "duration": self.duration,
                "x_range": tuple(self.wave.getViewBox().viewRange()[0]), "spec": self.spec_img.image,
                "spec_rect": self._spec_rect, "spec_levels": tuple(self.spec_bar.levels()),
                "spec_y": tuple(self.spec.getViewBox().viewRange()[1])}
        self.preview = DecodedPreview(sample_rate, total_seconds)
        self._mono = None  # no zoom detail from the previous take's samples
        self.duration = max(total_seconds, 1e-3)
        self.wave_curve.setData([], [])
        self.spec_img.clear()
        self.spec.setYRange(0, sample_rate / 2.0, padding=0)
        for p in self.plots:
            p.setLimits(xMin=0, xMax=self.duration, minXRange=0.02)
        self.wave.setXRange(0, self.duration, padding=0)
        for item in (*self.pending, *self.pending_labels):
            item.show()
        # set once: a title's text changing at each redraw would lay the panes out again each time
        self.wave.setTitle(f"Waveform — {PENDING_TITLE}", color="#e0b050", size="9pt")
        self.spec.setTitle(f"Spectrogram — {PENDING_TITLE}", color="#e0b050", size="9pt")

    def _draw_preview(self) -> None:
        """Draw the audio handed in last: waveform buckets, spectrogram columns, the hatched rest."""
        preview, audio = self.preview, self._preview_audio
        if preview is None or audio is None:
            return
        self._last_fill = time.monotonic()
        preview.update(audio)
        x, lo, hi = preview.envelope()
        self.wave_curve.setData(np.repeat(x, 2), np.column_stack([lo, hi]).ravel())
        db = preview.spectrogram_db()
        if len(db):
            self.spec_img.setImage(db, autoLevels=False)
            self.spec_img.setRect(QRectF(0, 0, len(db) * preview.hop_seconds, preview.sample_rate / 2.0))
            if preview.levels() != tuple(self.spec_bar.levels()):
                self.spec_bar.setLevels(preview.levels())
        end, total = preview.decoded_seconds, preview.total_seconds
        for region in self.pending:
            region.setRegion((end, total))
        self.pending_labels[0].setPos((end + total) / 2, 0.0)
        self.pending_labels[1].setPos((end + total) / 2, preview.sample_rate / 4.0)
        for label in self.pending_labels:
            label.setText(f"{PENDING_TEXT} {end:.1f} of {total:.1f} s decoded")
            label.setVisible(total - end > 1e-6)
        self.set_playhead(self._playhead_wanted)  # it may move on now that more is decoded

    def _end_fill(self, restore: bool) -> None:
        """No more fill; ``restore``: the panes show again what they showed before it began."""
        self._fill_timer.stop()
        if self.preview is None:
            return
        self.preview, self._preview_audio = None, None
        for item in (*self.pending, *self.pending_labels):
            item.hide()
        self.wave.setTitle("Waveform", color="#d0d0d0", size="9pt")
        self.spec.setTitle("Spectrogram", color="#d0d0d0", size="9pt")
        saved, self._saved_view = self._saved_view, None
        if not restore or saved is None:
            return
        self._mono, self._sr, self.duration = saved["mono"], saved["sr"], saved["duration"]
        for p in self.plots:
            p.setLimits(xMin=0, xMax=self.duration, minXRange=0.02)
        a, b = max(0.0, saved["x_range"][0]), min(self.duration, saved["x_range"][1])
        self.wave.setXRange(*((a, b) if b - a >= 0.02 else (0.0, self.duration)), padding=0)
        curve_x, curve_y = saved["curve"]
        self.wave_curve.setData([] if curve_x is None else curve_x, [] if curve_y is None else curve_y)
        if saved["spec"] is None:
            self.spec_img.clear()
        else:
            self.spec_img.setImage(saved["spec"], autoLevels=False)
            if saved["spec_rect"] is not None:
                self.spec_img.setRect(saved["spec_rect"])
        self.spec_bar.setLevels(saved["spec_levels"])
        self.spec.setYRange(*saved["spec_y"], padding=0)
        self.set_playhead(self._playhead_wanted)

    def set_live(self, snapshot: tp.Any) -> None:
        """Show a live map (``ui.tasks.LiveSnapshot``) filling in left to right, marked provisional:
        paler, titled so, columns not reached yet left empty (NaN is drawn transparent)."""
        if snapshot is None:
            self.set_heatmap(None)
            return
        self.active_marks.setData([], [])
        self.heat_empty.hide()
        self.heat_state = "live"
        self._clear_segments()
        per_frame = np.asarray(snapshot.per_frame, dtype=np.float32)
        self.words = list(snapshot.words)
        n = max(1, len(self.words))
        done = 100 * snapshot.steps_seen // max(1, snapshot.total_steps)
        self._set_title(f"{LIVE_TITLE} — {done} %", "#e0b050")
        self.heat.setToolTip(live_tooltip())
        self.heat_img.setOpacity(LIVE_OPACITY)
        self.heat_img.setImage(per_frame[:, ::-1], autoLevels=False)
        self.heat_img.setRect(QRectF(0, 0, max(snapshot.duration, 1e-3), n))
        self._per_frame, self._heat_seconds = per_frame, max(snapshot.duration, 1e-3)
        if snapshot.duration > self.duration + 1e-6:  # a longer take than the one shown: room for all of it
            for p in self.plots:
                p.setLimits(xMin=0, xMax=snapshot.duration, minXRange=0.02)
            self.wave.setXRange(0, snapshot.duration, padding=0)
        self.heat_bar.setLevels((0.0, 1.0))
        self._set_word_ticks(self.words)
        self.heat.setYRange(0, n, padding=0)

    def set_heatmap(self, explanation: tp.Any, segments: tp.Sequence[tuple[float, float, list[str]]] | None = None
                    ) -> None:
        """Show ``explanation``'s word × time map (``None``: the empty state). ``segments``: a timeline
        take's (start, end, words) per segment, its words in prompt order; each word's row is drawn over
        its own segment only (ignored unless their words are the explanation's words); by default those of
        the take shown (:meth:`set_item`) when the explanation is that take's."""
        self.active_marks.setData([], [])
        self.heat_img.setOpacity(1.0)
        self.heat.setToolTip("")
        self.heat_state = "empty" if explanation is None else "explained"
        self._clear_segments()
        if explanation is None:
            self._set_title("Word importance over time")  # no explanation yet: no method to name
            self.heat_img.clear()
            self.words = []
            self._per_frame = None
            self._set_word_ticks([])
            self.heat_empty.show()
            self.heat_empty.setPos(self.duration / 2, 0.5)
            self.heat.setYRange(0, 1, padding=0)
            return
        self.heat_empty.hide()
        from agx_desktop.engine.explain import method_label
        self._set_title(f"{method_label(explanation.method)} word importance over time")
        per_frame = np.asarray(explanation.per_frame_words(), dtype=np.float32).copy()  # [frames, words]
        self.words = list(explanation.words)
        n = max(1, len(self.words))
        seconds = explanation.n_frames / explanation.frame_rate
        if segments is None and self._take_segments[0] is not None and \
                getattr(explanation, "take_id", None) in (None, "", self._take_segments[0]):
            segments = self._take_segments[1]
        if segments and len(segments) > 1 and sum(len(w) for _, _, w in segments) == len(self.words):
            self.segments = [(float(a), float(b), list(w)) for a, b, w in segments]
            times = (np.arange(per_frame.shape[0]) + 0.5) / explanation.frame_rate
            row = 0
            for a, b, words in self.segments:
                outside = (times < a) | (times >= b)
                per_frame[outside, row:row + len(words)] = np.nan  # drawn transparent: blank cells
                row += len(words)
        img = per_frame[:, ::-1]  # first word on top
        self.heat_img.setImage(img, autoLevels=False)
        self.heat_img.setRect(QRectF(0, 0, seconds, n))
        self._per_frame, self._heat_seconds = per_frame, max(seconds, 1e-3)
        finite = per_frame[np.isfinite(per_frame)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if hi - lo < 0.05:
            mid = (hi + lo) / 2
            lo, hi = max(0.0, mid - 0.025), min(1.0, mid + 0.025)
        self.heat_bar.setLevels((lo, hi))
        self._set_word_ticks(self.words)
        self.heat.setYRange(0, n, padding=0)
        self._draw_segments(n)

    def _draw_segments(self, n: int) -> None:
        """A timeline take: a line at each segment boundary, one under each segment's rows, its label."""
        row = 0
        for i, (a, b, words) in enumerate(self.segments):
            if i:
                line = pg.InfiniteLine(a, angle=90, pen=SEGMENT_PEN, movable=False)
                rule = pg.InfiniteLine(n - row, angle=0, pen=SEGMENT_PEN, movable=False)
                self._segment_items += [line, rule]
            label = pg.TextItem(f"{a:g}–{b:g} s: {' '.join(words)}", color="#f0f0f0", anchor=(0, 0),
                                fill=pg.mkBrush(30, 31, 34, 190))
            label.setPos(a, n - row)
            self._segment_items.append(label)
            row += len(words)
        for item in self._segment_items:
            item.setZValue(60)
            self.heat.addItem(item, ignoreBounds=True)

    def _clear_segments(self) -> None:
        for item in self._segment_items:
            self.heat.removeItem(item)
        self._segment_items = []
        self.segments = []

    def segment_labels(self) -> list[str]:
        """The segment labels drawn on the heatmap (a timeline take), in time order."""
        return [item.textItem.toPlainText() for item in self._segment_items if isinstance(item, pg.TextItem)]

    def cell(self, seconds: float, word_index: int) -> float:
        """The value drawn at ``seconds`` for word ``word_index`` (NaN: blank, outside its segment)."""
        if self._per_frame is None:
            return float("nan")
        frame = int(np.clip(seconds / self._heat_seconds * self._per_frame.shape[0], 0, self._per_frame.shape[0] - 1))
        return float(self._per_frame[frame, word_index])

    # ------------------------------------------------------------------ row labels
    def _set_title(self, text: str, color: str = "#d0d0d0") -> None:
        self._title, self._title_color = text, color
        self._show_title()

    def _show_title(self) -> None:
        note = (" — some rows labelled (sound words first), hover a row for its word" if self.label_step > 1
                else "")
        self.heat.setTitle(self._title + note, color=self._title_color, size="9pt")

    def _set_word_ticks(self, words: list[str]) -> None:
        self._tick_words = list(words)
        self._tick_kinds = prompt_word_kinds(self._tick_words)  # once per prompt, not at every resize
        # many words: the heatmap takes more of the height from the waveform and spectrogram (3 → up to 8 of 13)
        self.ci.layout.setRowStretchFactor(2, int(np.clip(np.ceil(len(words) / 2), 3, 8)))
        self._update_ticks()

    def _label_height(self) -> float:
        axis = self.heat.getAxis("left")
        font = axis.style.get("tickFont") or axis.font()
        return QFontMetricsF(font).height()

    def _update_ticks(self) -> None:
        """Label every row when a line of text fits in one, else rows at least k apart, sound words first
        (:func:`.row_labels.labelled_indices`), so labels never overlap."""
        words = getattr(self, "_tick_words", [])
        n = len(words)
        row_px = self.heat.getViewBox().height() / max(n, 1)
        step = 1 if row_px <= 0 else max(1, int(np.ceil((self._label_height() + LABEL_GAP_PX) / row_px)))
        if step != self.label_step:
            self.label_step = step
            self._show_title()
        kinds = getattr(self, "_tick_kinds", None)
        ticks = [(n - 1 - i + 0.5, f"{words[i][:14]}") for i in labelled_indices(words, step, kinds)]
        self.heat.getAxis("left").setTicks([ticks, []])

    def label_rects(self) -> list[tuple[str, QRectF]]:
        """(label, rect in scene pixels) of each row label drawn: rows of the words labelled, one text line high."""
        axis, vb = self.heat.getAxis("left"), self.heat.getViewBox()
        h = self._label_height()
        out = []
        for y, text in (axis._tickLevels or [[]])[0]:
            centre = vb.mapViewToScene(QPointF(0, y)).y()
            out.append((text, QRectF(axis.sceneBoundingRect().left(), centre - h / 2, axis.width(), h)))
        return out

    def word_at(self, y: float) -> str | None:
        """The word of the heatmap row at ``y`` (view units: rows from the bottom), or None."""
        n = len(self.words)
        i = n - 1 - int(np.floor(y))
        return self.words[i] if 0 <= i < n and y >= 0 else None

    def _on_hover(self, pos: tp.Any) -> None:
        """Hovering the heatmap names the row's word (every word, labelled or not), the time and its value."""
        if not self.words or not self.heat.sceneBoundingRect().contains(pos):
            return
        point = self.heat.getViewBox().mapSceneToView(pos)
        word = self.word_at(point.y())
        if word is None or not 0 <= point.x() <= self._heat_seconds:
            self.heat_img.setToolTip("")
            return
        i = len(self.words) - 1 - int(np.floor(point.y()))
        value = self.cell(point.x(), i)
        shown = "outside its segment" if np.isnan(value) else f"importance {value:.2f}"
        self.heat_img.setToolTip(f"{word} · {point.x():.2f} s · {shown}")

    # ------------------------------------------------------------------ playhead / selection
    def set_playhead(self, seconds: float) -> None:
        """Draw the playhead at ``seconds``; during a fill never past the decoded audio drawn (the player
        does not play past what is decoded either, but the fill is drawn up to 100 ms later)."""
        self._playhead_wanted = float(seconds)
        if self.preview is not None:
            seconds = min(float(seconds), self.preview.decoded_seconds)
        for line in self.playheads:
            line.setValue(seconds)

    def set_active_words(self, indices: tp.Sequence[int], seconds: float) -> None:
        """Mark rows ``indices`` (word order, first word on top) at the playhead; none on a live map
        (its rows are the take being generated, the indices those of the take explained)."""
        if self.heat_state == "live":
            indices = []
        n = len(self.words)
        ys = [n - 1 - i + 0.5 for i in indices if 0 <= i < n]
        self.active_marks.setData([seconds] * len(ys), ys)

    def playhead(self) -> float:
        return float(self.playheads[0].value())

    @property
    def selection(self) -> tuple[float, float] | None:
        return self._selection

    def set_selection(self, region: tuple[float, float] | None, emit: bool = True) -> None:
        """Select ``(start, end)`` seconds (clamped to the clip) or clear with ``None``."""
        if region is not None:
            a, b = sorted((float(region[0]), float(region[1])))
            a, b = max(0.0, a), min(self.duration, b)
            region = (a, b) if b - a >= 0.02 else None
        self._selection = region
        self._syncing = True
        try:
            for r in self.regions:
                if region is None:
                    r.hide()
                else:
                    r.setRegion(region)
                    r.show()
        finally:
            self._syncing = False
        if emit:
            self.selection_changed.emit(region)

    def _on_seek(self, x: float) -> None:
        self.seek_requested.emit(float(np.clip(x, 0, self.duration)))

    def _on_select(self, a: float, b: float, finished: bool) -> None:
        self.set_selection((a, b), emit=True)

    def _on_region_item_changed(self, item: pg.LinearRegionItem) -> None:
        if self._syncing:
            return
        a, b = item.getRegion()
        self.set_selection((a, b), emit=True)

    def _on_region_item_finished(self, item: pg.LinearRegionItem) -> None:
        pass
