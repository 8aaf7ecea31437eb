"""The transport: play / pause, stop, loop the selection, the playhead time, the words that matter at
the playhead, and the handle that drags the current take out as a WAV.

A 30 ms GUI timer asks the :class:`~agx_desktop.ui.playback.Player` what is being heard and reports it
(``playhead_moved``, ``active_words_moved``); it redraws only when something changed.
"""
from __future__ import annotations

import math
import typing as tp

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QWidget

from ..playback import PlaybackError
from ..widgets.history import DragHandle, wav_mime

if tp.TYPE_CHECKING:
    from PySide6.QtCore import QMimeData

    from ..analysis import TakeItem
    from ..controller import Controller
    from ..playback import Player
    from ..settings import Settings


def fmt_time(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:05.2f}"


def words_at(row: np.ndarray) -> list[int]:
    """The words that matter at one frame: the top third, if above the frame's mean."""
    if not len(row):
        return []
    k = max(1, int(math.ceil(len(row) / 3)))
    order = np.argsort(-row, kind="stable")[:k]
    return sorted(int(i) for i in order if row[i] >= row.mean())


class TransportPanel(QWidget):
    """Playback of the session's current take."""

    playhead_moved = Signal(float)               # seconds heard now
    active_words_moved = Signal(object, float)   # word indices active at the playhead, seconds

    def __init__(self, controller: Controller, player: Player, spacing: int = 4,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.session = controller.session
        self.player = player
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(spacing)
        self.play_btn = QPushButton("▶ Play")
        self.play_btn.setToolTip("Play / pause (Space)")
        self.stop_btn = QPushButton("■ Stop")
        self.loop_check = QCheckBox("Loop selection")
        self.time_label = QLabel("0:00.00 / 0:00.00")
        self.time_label.setMinimumWidth(130)
        self.words_label = QLabel("")
        self.words_label.setMinimumWidth(120)
        self.drag_handle = DragHandle(self.mime_for_current)
        for w in (self.play_btn, self.stop_btn, self.loop_check, self.time_label):
            lay.addWidget(w)
        lay.addWidget(self.words_label, 1)
        lay.addWidget(self.drag_handle)
        if not player.available:
            for w in (self.play_btn, self.stop_btn, self.loop_check):
                w.setEnabled(False)
                w.setToolTip(player.reason)
            self.play_btn.setText("▶ Play (off)")
        self._last_tick: tuple | None = None  # what the timer drew last
        self.timer = QTimer(self)
        self.timer.setInterval(30)
        self.timer.timeout.connect(self.tick)
        self.play_btn.clicked.connect(self.toggle_play)
        self.stop_btn.clicked.connect(self.stop)
        self.loop_check.toggled.connect(lambda _on: self.update_loop())
        s = self.session
        s.current_changed.connect(self._on_current_changed)
        s.selection_changed.connect(lambda _sel: self.update_loop())
        for signal in (s.current_changed, s.take_added):
            signal.connect(lambda *_a: self.drag_handle.setEnabled(s.current is not None))
        self.drag_handle.setEnabled(False)
        self.timer.start()

    def mime_for_current(self) -> QMimeData | None:
        """The current take as a WAV file to drop into a DAW (None without a take)."""
        if self.session.current is None:
            return None
        path = self.controller.wav_for(self.session.current.id)
        return None if path is None else wav_mime([path])

    def _on_current_changed(self, item: TakeItem) -> None:
        keep = self.player.playing and self.session.ab_pair_contains(item.id)  # A/B: play on from here
        try:
            self.player.load(item.take.audio, item.take.sample_rate, keep_position=keep)
        except PlaybackError as exc:
            self.controller.report_error("Playback failed", str(exc))
        self.update_loop()

    def toggle_play(self) -> None:
        if not self.player.available or self.session.current is None:
            return
        try:
            self.player.toggle()
        except PlaybackError as exc:
            self.controller.report_error("Playback failed", str(exc))
        self.tick()

    def stop(self) -> None:
        self.player.stop()
        self.tick()

    def seek(self, t: float) -> None:
        try:
            self.player.seek(t)
        except PlaybackError as exc:
            self.controller.report_error("Playback failed", str(exc))
        self.tick()

    def update_loop(self) -> None:
        self.player.set_loop(self.session.selection if self.loop_check.isChecked() else None)

    def tick(self) -> None:
        """Move the playhead to what the stream says is being heard (redraw only when it changed)."""
        playing = self.player.poll()
        pos = self.player.position()
        cur = self.session.current
        streaming = self.player.streaming  # a take being generated plays: its length is what is decoded so far
        state = (playing, pos, cur.id if cur else None, len(self.session.active_words),
                 id(cur.explanation) if cur else 0, self.controller.display.pending,
                 self.player.duration if streaming else None)
        if state == self._last_tick:
            return  # idle: nothing to redraw
        self._last_tick = state
        self.playhead_moved.emit(pos)
        self.play_btn.setText("❚❚ Pause" if playing else ("▶ Play" if self.player.available else "▶ Play (off)"))
        # while streaming, not the previous take's length: the new take's decoded audio, growing
        dur, growing = (self.player.duration, " …") if streaming else (cur.take.duration if cur else 0.0, "")
        self.time_label.setText(f"{fmt_time(pos)} / {fmt_time(dur)}{growing}")
        self._update_active_words(pos)

    def _update_active_words(self, pos: float) -> None:
        item = self.session.current
        pf = self.session.per_frame(item) if self.session.explanation_matches(item) else None
        if pf is None or not len(pf):
            if self.session.active_words:
                self.session.set_active_words([])
                self.active_words_moved.emit([], pos)
            self.words_label.setText("")
            return
        frame = int(np.clip(pos * item.explanation.frame_rate, 0, len(pf) - 1))
        active = words_at(pf[frame])
        self.session.set_active_words(active)
        self.active_words_moved.emit(active, pos)
        words = item.explanation.words
        self.words_label.setText("At the playhead: " + ", ".join(words[i] for i in active))

    def restore(self, s: Settings) -> None:
        self.loop_check.setChecked(s.loop)

    def store(self, s: Settings) -> None:
        s.loop = self.loop_check.isChecked()
