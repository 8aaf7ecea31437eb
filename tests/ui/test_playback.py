"""The playhead follows the audio stream's clock (a fake stream whose clock the test moves)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from agx_desktop.ui.panels.transport import words_at
from agx_desktop.ui.playback import FakeStream, Player


def test_player_position_is_what_is_heard():
    sr = 16000
    p = Player(stream_factory=lambda **kw: FakeStream(latency=0.1, **kw), blocksize=256)
    p.load(np.zeros((1, sr * 2), np.float32), sr)
    p.play()
    stream = p._stream
    assert p.position() == 0.0
    stream.pump(0.35)  # the device has been fed 0.45 s, but only 0.25 s has reached the speaker
    assert p.position() == pytest.approx(0.25, abs=1 / sr)
    stream.pump(0.5)
    assert p.position() == pytest.approx(0.75, abs=1 / sr)
    p.pause()
    stream.pump(0.5)  # a paused player does not move
    assert p.position() == pytest.approx(0.75, abs=1 / sr)
    p.play()
    p._stream.pump(0.3)
    assert p.position() == pytest.approx(0.75 + 0.2, abs=1 / sr)
    p.stop()
    assert p.position() == 0.0


def test_ab_switch_while_playing_keeps_the_position_and_the_timeline():
    """Switching A→B while playing neither moves the playhead nor rewinds what is heard: B is heard from
    the frame the timeline has reached (the device's queued blocks of A play out first)."""
    sr, block, latency = 16000, 256, 0.08
    streams: list[FakeStream] = []
    heard: list[np.ndarray] = []  # what reached the "device", block by block, in order

    class RecordingStream(FakeStream):
        def __init__(self, **kw: object) -> None:
            super().__init__(latency=latency, **kw)
            callback = self.callback

            def record(out: np.ndarray, frames: int, time_info: object, status: object) -> None:
                callback(out, frames, time_info, status)
                heard.append(out[:, 0].copy())
            self.callback = record
            streams.append(self)

    p = Player(stream_factory=RecordingStream, blocksize=block)
    frames = np.arange(sr * 3, dtype=np.float32)
    take_a, take_b = -frames[None], frames[None]  # each sample says which frame of the timeline it is
    p.load(take_a, sr)
    p.play()
    streams[-1].pump(1.0)
    before = p.position()
    assert before == pytest.approx(1.0 - latency, abs=1 / sr)  # the device holds the last 80 ms
    queued = sum(len(b) for b in heard)  # frames of A already handed to the device
    p.load(take_b, sr, keep_position=True)  # the A/B switch
    assert p.playing and len(streams) == 1  # no restart: the same stream goes on
    assert abs(p.position() - before) <= block / sr
    streams[-1].pump(0.5)
    assert p.position() == pytest.approx(before + 0.5, abs=block / sr)
    played = np.concatenate(heard)
    frame_of = np.abs(played)  # the timeline frame each output sample came from
    assert np.array_equal(frame_of, np.arange(len(played), dtype=np.float32))  # no jump, no repeat
    first_b = int(np.argmax(played > 0))
    assert first_b == queued and (played[first_b:] > 0).all()  # B follows A's queued blocks, at once


def test_player_loops_the_region_and_stops_at_end():
    sr = 8000
    p = Player(stream_factory=lambda **kw: FakeStream(latency=0.0, **kw), blocksize=128)
    p.load(np.arange(sr, dtype=np.float32)[None] / sr, sr)
    p.set_loop((0.25, 0.5))
    p.play(0.0)  # outside the loop: starts at the loop start
    positions = []
    for _ in range(40):
        p._stream.pump(0.05)
        positions.append(p.position())
    assert min(positions) >= 0.25 - 1e-9 and max(positions) <= 0.5 + 1e-9
    p.set_loop(None)
    p.stop()
    p.play(0.9)
    p._stream.pump(0.5)
    assert not p.poll() and not p.playing  # reached the end: stopped


def test_no_portaudio_disables_transport(make_window):
    reason = "Playback is off: PortAudio library not found (install PortAudio, e.g. libportaudio2, to hear takes)"
    w = make_window(player=Player(stream_factory=None, reason=reason))
    for b in (w.transport.play_btn, w.transport.stop_btn, w.transport.loop_check):
        assert not b.isEnabled() and "PortAudio" in b.toolTip()
    w.transport.toggle_play()  # harmless


def test_default_player_without_portaudio_says_why():
    p = Player()
    try:
        import sounddevice  # noqa: F401
    except OSError:
        assert not p.available and "PortAudio" in p.reason


def test_playhead_and_words_follow_the_stream_clock(generated, qtbot):
    w = generated
    item = w.session.current
    ex = item.explanation
    pf = np.asarray(ex.per_frame_words())
    qtbot.keyClick(w.timeline, Qt.Key.Key_Space)  # space = play/pause
    assert w.player.playing
    stream = w.player._stream
    for t in (0.2, 0.45, 0.7):
        stream.pump(t - stream.time)
        w.transport.tick()
        heard = t - stream.latency
        for line in w.timeline.playheads:  # all panes, one playhead, at what is heard
            assert line.value() == pytest.approx(heard, abs=1e-3)
        frame = int(np.clip(w.player.position() * ex.frame_rate, 0, len(pf) - 1))
        expected = words_at(pf[frame])
        assert w.session.active_words == expected
        assert [c.active for c in w.words.chips.chips] == [i in expected for i in range(len(w.words.chips.chips))]
        assert w.transport.words_label.text().endswith(", ".join(ex.words[i] for i in expected))
        xs, ys = w.timeline.active_marks.getData()  # markers on the heatmap rows, at the playhead
        assert np.allclose(xs, heard, atol=1e-3) and sorted(len(ex.words) - 0.5 - ys) == expected
    w.transport.toggle_play()
    assert not w.player.playing
    stopped_at = w.timeline.playhead()
    qtbot.wait(100)  # the GUI timer keeps ticking; nothing moves without the stream
    assert w.timeline.playhead() == pytest.approx(stopped_at)


def test_loop_selection_and_seek(generated, qtbot):
    w = generated
    w.timeline.set_selection((0.2, 0.4))
    w.transport.loop_check.setChecked(True)
    w.transport.seek(0.3)
    assert w.timeline.playhead() == pytest.approx(0.3, abs=1e-3)
    w.transport.toggle_play()
    for _ in range(20):
        w.player._stream.pump(0.05)
        w.transport.tick()
        assert 0.2 - 1e-3 <= w.timeline.playhead() <= 0.4 + 1e-3
    w.transport.stop()
    QApplication.processEvents()


def test_device_refusing_the_rate_falls_back_to_48k():
    def picky(samplerate, **kw):
        if samplerate != 48000:
            raise RuntimeError("Invalid sample rate [PaErrorCode -9997]")
        return FakeStream(samplerate=samplerate, latency=0.0, **kw)
    p = Player(stream_factory=picky)
    p.load(np.zeros((1, 16000), np.float32), 16000)
    p.seek(0.25)
    p.play()
    assert p.sample_rate == 48000 and p.playing
    assert p.position() == pytest.approx(0.25, abs=1e-3)
    p._stream.pump(0.1)
    assert p.position() == pytest.approx(0.35, abs=1e-3)


def test_device_refusing_everything_raises_one_clear_error(make_window, monkeypatch):
    from agx_desktop.ui.playback import PlaybackError

    def broken(**kw):
        raise RuntimeError("Device unavailable [PaErrorCode -9985]")
    p = Player(stream_factory=broken)
    p.load(np.zeros((1, 1600), np.float32), 16000)
    with pytest.raises(PlaybackError, match="Device unavailable"):
        p.play()
    assert not p.playing
