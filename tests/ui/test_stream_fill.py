"""Play as it generates, seen on the timeline (issue 20 item 2): while a take is generated with the toggle
on, the waveform and spectrogram show ITS decoded audio filling in left to right over the take's full
duration (not the previous take's), the rest hatched, the playhead never drawn past the decoded end; the
take replaces the fill when done, a cancel puts the previous take's views back. Asserts on the plotted
data (curve points, image, view range) a user sees."""
from __future__ import annotations

import numpy as np
import pytest

from uihelpers import wait_idle


def _wired(w):
    """The window with the controller's ``partial_audio`` reaching the timeline (as MainWindow wires it;
    connected here only where this version of the window does not)."""
    from PySide6.QtCore import SIGNAL
    if not w.controller.receivers(SIGNAL("partial_audio(PyObject,int,double)")):
        w.controller.partial_audio.connect(w.timeline.set_partial_audio)
    return w


def _curve(w) -> tuple[np.ndarray, np.ndarray]:
    x, y = w.timeline.wave_curve.getData()
    return (np.zeros(0) if x is None else np.array(x)), (np.zeros(0) if y is None else np.array(y))


def _x_range(w) -> tuple[float, float]:
    return tuple(float(v) for v in w.timeline.wave.getViewBox().viewRange()[0])


def _generate(w, qtbot, seconds: float, seed: int) -> None:
    w.session.set_params(duration=seconds, seed=seed)
    w.commands.trigger("generate")
    wait_idle(qtbot, w)


def test_the_decoded_audio_fills_in_over_the_full_take_then_the_take_replaces_it(make_window, qtbot):
    w = _wired(make_window())
    w.session.set_prompt("rain on a tin roof")
    _generate(w, qtbot, 1.0, seed=1)  # a previous take, shorter: its waveform must not stay on screen
    w.commands.trigger("play_live")
    model = w.session.model
    total = int(3.0 * model.frame_rate) / model.frame_rate
    tl, seen = w.timeline, []

    def on_chunk(job, end, chunk):  # after the controller and the timeline took the chunk
        p = w.player
        p._stream.pump(1.0)  # the device plays faster than chunks arrive: the player waits at the end
        w.transport.tick()   # the playhead the window draws, from the player's position
        x, _ = _curve(w)
        seen.append({"curve_end": float(x.max()) if len(x) else 0.0, "points": len(x), "range": _x_range(w),
                     "decoded": tl.preview.decoded_seconds, "buffered": p.buffered_frames / p.sample_rate,
                     "playhead": tl.playhead(), "pending": tuple(tl.pending[0].getRegion()),
                     "spec_cols": 0 if tl.spec_img.image is None else tl.spec_img.image.shape[0],
                     "label": tl.pending_labels[0].textItem.toPlainText() if tl.pending_labels[0].isVisible() else "", "title": tl.wave.titleLabel.text,
                     "heat": (tl.heat_state, tl.heat_img.mapRectToParent(tl.heat_img.boundingRect()).width())})
    w.runner.audio.connect(on_chunk)
    _generate(w, qtbot, 3.0, seed=5)

    assert len(seen) >= 3
    for s in seen:
        assert s["range"] == pytest.approx((0.0, total))  # the full take from the first chunk: no rescale
        assert s["curve_end"] <= s["decoded"] <= s["buffered"] + 1e-9  # drawn only where decoded
        assert s["playhead"] <= s["decoded"] + 1e-9  # never drawn past the decoded end
        assert s["pending"] == pytest.approx((s["decoded"], total))  # the rest is hatched
        assert "being generated" in s["title"]
        assert s["label"] in ("", f"generating… {s['decoded']:.1f} of {total:.1f} s decoded")
        assert s["heat"] == ("live", pytest.approx(total))  # the live map on the same time axis
    assert seen[0]["curve_end"] < 0.5 * total and seen[0]["label"]  # the first chunk: a short start, not a take
    growth = [s["curve_end"] for s in seen]
    assert growth == sorted(growth) and growth[-1] > growth[0]  # fills in left to right
    cols = [s["spec_cols"] for s in seen]
    assert cols == sorted(cols) and 0 < cols[0] < cols[-1]
    assert any(s["playhead"] == pytest.approx(s["decoded"]) for s in seen)  # it caught up and waited there

    # done: the take's own waveform and spectrogram, the fill gone
    item = w.session.current
    assert item.take.duration == pytest.approx(total)
    lo, hi = item.env
    x, y = _curve(w)
    assert np.array_equal(y, np.column_stack([lo, hi]).ravel())
    assert x.max() == pytest.approx(total) and _x_range(w) == pytest.approx((0.0, total))
    assert np.array_equal(tl.spec_img.image, item.spec.db)
    assert tl.preview is None and not any(r.isVisible() for r in tl.pending)
    assert not any(label.isVisible() for label in tl.pending_labels)
    assert tl.wave.titleLabel.text == "Waveform"


def test_a_cancelled_stream_puts_the_previous_take_back(make_window, qtbot):
    w = _wired(make_window())
    w.session.set_prompt("rain on a tin roof")
    _generate(w, qtbot, 3.0, seed=1)
    before = w.session.current
    curve, spec, x_range = _curve(w), w.timeline.spec_img.image, _x_range(w)
    levels = tuple(w.timeline.spec_bar.levels())
    w.commands.trigger("play_live")
    during = []

    def on_chunk(job, end, chunk):
        during.append(_curve(w))
        w.commands.trigger("cancel")
    w.runner.audio.connect(on_chunk)
    _generate(w, qtbot, 3.0, seed=6)

    assert during and not np.array_equal(during[0][1], curve[1])  # the fill showed the new audio meanwhile
    assert w.session.current is before and len(w.session.items) == 1
    tl = w.timeline
    x, y = _curve(w)
    assert np.array_equal(x, curve[0]) and np.array_equal(y, curve[1])
    assert np.array_equal(tl.spec_img.image, spec) and tuple(tl.spec_bar.levels()) == levels
    assert _x_range(w) == pytest.approx(x_range)
    assert tl.preview is None and not any(r.isVisible() for r in tl.pending)
    assert tl.wave.titleLabel.text == "Waveform"


def test_no_fill_when_play_as_it_generates_is_off(make_window, qtbot):
    """Off, nothing is decoded before the take is done (that would cost ~50 % more time): the previous
    take stays drawn until the new one replaces it."""
    w = _wired(make_window())
    w.session.set_prompt("rain on a tin roof")
    _generate(w, qtbot, 1.0, seed=1)
    curve = _curve(w)
    fills, during = [], []
    w.controller.partial_audio.connect(lambda *args: fills.append(args))
    w.session.live_changed.connect(lambda snap: during.append(_curve(w)) if snap is not None else None)
    _generate(w, qtbot, 1.0, seed=2)
    assert not fills and during and all(np.array_equal(c[1], curve[1]) for c in during)
    assert w.timeline.preview is None


def test_decoded_preview_matches_the_take_analysis_over_the_decoded_part():
    """The incremental waveform buckets and spectrogram columns are those of the whole take's analysis
    (analysis.envelope / analysis.spectrogram) wherever the audio is decoded, however it arrives."""
    from agx_desktop.ui.analysis import envelope, spectrogram
    from agx_desktop.ui.widgets.decoded_preview import DecodedPreview

    sr, seconds = 16000, 2.0
    audio = (np.random.default_rng(0).standard_normal((1, int(sr * seconds))) * 0.3).astype(np.float32)
    preview = DecodedPreview(sr, seconds)
    for end in (100, 257, 258, 4000, 4001, 17000, audio.shape[-1]):
        preview.update(audio[:, :end])
        x, lo, hi = preview.envelope()
        assert len(x) == 0 or x[-1] <= end / sr
        assert preview.columns == 0 or (preview.columns - 1) * 128 + 256 < end  # whole windows only
    full_lo, full_hi = envelope(audio)
    assert np.array_equal(lo, full_lo) and np.array_equal(hi, full_hi)
    whole = spectrogram(audio, sr).db
    cols = preview.spectrogram_db()
    assert 0 < len(cols) <= len(whole) and np.array_equal(cols, whole[:len(cols)])


def test_redraws_are_coalesced_and_the_drawn_playhead_waits_for_them(qtbot, monkeypatch):
    """Chunks closer than FILL_INTERVAL_MS are drawn together later; meanwhile the player may already play
    the newer audio, but the playhead is drawn at the end of what is drawn, then moves on."""
    from agx_desktop.ui.widgets import timeline
    monkeypatch.setattr(timeline, "FILL_INTERVAL_MS", 60_000)  # the second chunk always comes "too soon"
    tl = timeline.TimelineView()
    qtbot.addWidget(tl)
    audio = (np.random.default_rng(1).standard_normal((1, 32000)) * 0.2).astype(np.float32)
    tl.set_partial_audio(audio[:, :8000], 16000, 2.0)  # the first: drawn at once
    tl.set_partial_audio(audio[:, :16000], 16000, 2.0)
    tl.set_playhead(0.9)  # what the player plays: already in the second chunk
    assert tl.preview.decoded_seconds == 0.5 and tl._fill_timer.isActive()
    assert tl.playhead() == 0.5 and float(_curve_of(tl).max()) <= 0.5
    tl._fill_timer.stop()
    tl._draw_preview()  # the timer's redraw
    assert tl.preview.decoded_seconds == 1.0 and tl.playhead() == pytest.approx(0.9)
    tl.set_partial_audio(None)  # cancelled with nothing shown before: empty again
    assert len(_curve_of(tl)) == 0 and tl.spec_img.image is None and tl.playhead() == pytest.approx(0.9)


def _curve_of(tl) -> np.ndarray:
    x, _ = tl.wave_curve.getData()
    return np.zeros(0) if x is None else np.asarray(x)
