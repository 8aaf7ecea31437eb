"""The sound designer's loop on the real widgets and the real engine:
generate → explain → select a region → mute a word → regenerate → export."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QComboBox

from uihelpers import GapMeter, wait_idle

from agx_desktop.ui.settings import ExportSettings


def _send_mouse(widget, kind, pos, button, buttons):
    ev = QMouseEvent(kind, QPointF(pos), widget.mapToGlobal(pos).toPointF(), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def drag_select(qtbot, timeline, plot, t0: float, t1: float) -> None:
    """Left-drag on ``plot`` of the timeline from t0 to t1 seconds, with real mouse events."""
    vb = plot.getViewBox()
    y = float(np.mean(vb.viewRange()[1]))
    vp = timeline.viewport()
    p0 = timeline.mapFromScene(vb.mapViewToScene(QPointF(t0, y)))
    p1 = timeline.mapFromScene(vb.mapViewToScene(QPointF(t1, y)))
    L = Qt.MouseButton.LeftButton
    _send_mouse(vp, QMouseEvent.Type.MouseButtonPress, p0, L, L)
    for k in range(1, 11):
        p = p0 + (p1 - p0) * (k / 10)
        _send_mouse(vp, QMouseEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, L)
        qtbot.wait(5)
    _send_mouse(vp, QMouseEvent.Type.MouseButtonRelease, p1, L, Qt.MouseButton.NoButton)
    qtbot.wait(20)


def test_full_loop(make_window, qtbot, tmp_path, capsys):
    w = make_window()
    w.session.set_prompt("a dog barks then a bell rings")
    w.session.set_params(duration=3.0)
    w.session.set_params(seed=3)
    w.generation.explainer.form.set_value("epochs", 50)

    # ---- generate + explain, measuring how long the GUI thread is ever blocked meanwhile
    meter = GapMeter()
    meter.start()
    jobs = []
    w.runner.started.connect(jobs.append)
    import time
    stages = []
    w.runner.progress.connect(lambda j, st, d, t: stages.append((st, d, round((time.perf_counter() - j.t_started) * 1000)))
                              if not stages or stages[-1][0] != st else None)
    qtbot.mouseClick(w.generation.gen_explain_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.runner.busy or w.session.current is not None, timeout=5000)
    wait_idle(qtbot, w)
    qtbot.wait(100)
    meter.stop()
    job = jobs[0]
    during = meter.max_gap_between(job.t_started, job.t_finished)
    with capsys.disabled():
        print(f"\nGUI thread max gap: {during * 1000:.1f} ms while Generate + Explain ran "
              f"({job.t_finished - job.t_started:.1f} s, {meter.ticks} ticks of 10 ms); "
              f"{meter.max_gap * 1000:.1f} ms including showing the result")
        if os.environ.get("AGX_GAP_DEBUG"):
            print(sorted(((round(g * 1000), round((at - job.t_started) * 1000)) for g, at in meter.gaps), reverse=True)[:8], stages)
    assert meter.ticks > 20
    # the bound tells a job on the GUI thread (seconds of freeze) from a free one; it is loose because the
    # GUI thread competes for 2 cores with the job and other processes (66-98 ms seen at load 4-5, ~40 quiet)
    assert during < 0.250, f"GUI thread blocked for {during * 1000:.0f} ms while the job ran"
    # showing a result is split into short event-loop stages; a loose bound catches regressions only
    assert meter.max_gap < 0.400, f"showing the result blocked the GUI thread for {meter.max_gap * 1000:.0f} ms"

    item = w.session.current
    take, ex = item.take, item.explanation
    assert ex is not None and ex.take_id == take.id
    assert take.params.seed == 3 and abs(take.duration - 3.0) < 0.05
    assert w.takes.history.count() == 1
    # the panes show it on one time axis
    assert w.timeline.spec_img.image is not None and w.timeline.spec_img.image.shape[0] > 10
    heat = w.timeline.heat_img.image
    assert heat.shape == (ex.n_frames, len(ex.words))
    assert w.timeline.words == list(ex.words)
    xr = w.timeline.wave.getViewBox().viewRange()[0]
    for p in (w.timeline.spec, w.timeline.heat):
        assert np.allclose(p.getViewBox().viewRange()[0], xr)
    assert w.bars.mode == "holistic"
    np.testing.assert_allclose(w.bars.values, ex.word_importance())
    assert [c.importance for c in w.words.chips.chips] == list(ex.word_importance())
    assert (item.folder / "explanation.json").is_file()  # autosaved

    assert w.grab().save(str(tmp_path / "after_explain.png"))  # renders offscreen without errors

    # ---- select a region by dragging on the spectrogram: the bars switch to the interval explanation
    w.timeline.set_selection(None)
    drag_select(qtbot, w.timeline, w.timeline.spec, 0.5, 1.5)
    sel = w.timeline.selection
    assert sel is not None and abs(sel[0] - 0.5) < 0.05 and abs(sel[1] - 1.5) < 0.05
    assert w.bars.mode == "interval"
    np.testing.assert_allclose(w.bars.values, ex.word_importance(sel))
    for r in w.timeline.regions:  # one selection in every pane
        assert np.allclose(r.getRegion(), sel)

    # ---- mute a word and regenerate with the same seed
    dog = w.words.chips.chips[1]
    assert dog.word == "dog"
    qtbot.mouseClick(dog.mute, Qt.MouseButton.LeftButton)
    boosted = w.words.chips.chips[5]
    boosted.slider.setValue(250)
    assert w.words.chips.weights() == [1.0, 0.0, 1.0, 1.0, 1.0, 2.5, 1.0]
    qtbot.mouseClick(w.words.regenerate_btn, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, w)
    new = w.session.current
    assert new is not item and new.take.kind == "weighted" and new.take.parent == take.id
    assert new.take.params.seed == 3 and new.take.word_weights == [1.0, 0.0, 1.0, 1.0, 1.0, 2.5, 1.0]
    assert not np.array_equal(new.take.codes.numpy(), take.codes.numpy())  # the weights changed what was sampled
    assert w.takes.history.count() == 2 and set(w.takes.history.ids()) == {take.id, new.take.id}
    assert w.words.chips.weights()[1] == 0.0  # the chips show the weights the take was made with
    assert w.session.ab == {"A": take.id, "B": new.take.id} and w.takes.ab_btn.isEnabled()  # ready to compare

    # ---- export (24-bit, 48 kHz, −14 LUFS) with metadata
    out = tmp_path / "exports"
    out.mkdir()
    opts = ExportSettings(subtype="PCM_24", sample_rate=48000, normalize="lufs", lufs=-14.0)
    path = w.controller.export_current(out, opts)
    assert path is not None and path.parent == out
    assert path.name.startswith("MISCMisc_A Dog Barks Then A Bell Rings_AGX_AGXDesktop")
    info = sf.info(str(path))
    assert info.samplerate == 48000 and info.subtype == "PCM_24"
    assert abs(info.duration - new.take.duration) < 0.01
    with sf.SoundFile(str(path)) as f:
        assert "seed=3" in f.comment and "model=bundled" in f.comment and "a dog barks" in f.comment
        assert f.title == new.take.prompt
    assert [p.name for p in out.iterdir()] == [path.name]  # nothing else (no temp files)

    # ---- explanation exports
    w.controller.show_take(take.id)
    for fmt in ("json", "csv", "png"):
        p = w.exports.export_explanation(out / f"expl.{fmt}", fmt)
        assert p is not None and p.stat().st_size > 0
    import json
    doc = json.loads((out / "expl.json").read_text())
    assert doc["words"] == list(ex.words) and len(doc["per_frame"]) == ex.n_frames


def test_factual_counterfactual_and_variations(generated, qtbot):
    w = generated
    base = w.session.current
    assert w.words.factual_btn.isEnabled() and w.words.counterfactual_btn.isEnabled()
    qtbot.mouseClick(w.words.factual_btn, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, w)
    assert w.session.current.take.kind == "factual" and w.session.current.take.parent == base.id
    w.controller.show_take(base.id)
    qtbot.mouseClick(w.words.counterfactual_btn, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, w)
    assert w.session.current.take.kind == "counterfactual"
    assert not w.words.factual_btn.isEnabled()  # the new take is not explained yet
    w.words.variations_spin.setValue(3)
    stages: list[str] = []
    w.runner.progress.connect(lambda _job, stage, _d, _t: stages.append(stage))
    qtbot.mouseClick(w.words.variations_btn, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, w)
    assert w.takes.history.count() == 6
    seeds = {w.session.items[i].take.params.seed for i in w.takes.history.ids()[:3]}
    assert len(seeds) == 3
    # the job bar says which variation is running, with its seed
    import re
    shown = {re.search(r" · (\d)/3 \(seed (\d+)\)$", st).groups() for st in stages if " · " in st}
    assert {k for k, _ in shown} == {"1", "2", "3"} and {int(sd) for _, sd in shown} == seeds


def test_replace_word_regenerates_new_prompt_same_seed(generated, qtbot):
    w = generated
    base = w.session.current
    chip = w.words.chips.chips[1]
    qtbot.mouseDClick(chip, Qt.MouseButton.LeftButton)
    assert chip.edit.isVisible()
    chip.edit.setText("cat")
    chip.edit.editingFinished.emit()
    assert w.words.chips.words()[1] == "cat"
    qtbot.mouseClick(w.words.regenerate_btn, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, w)
    assert w.session.current.take.prompt == "a cat barks then a bell rings"
    assert w.session.current.take.params.seed == base.take.params.seed and w.session.current.take.parent == base.id


def test_ab_compare_keeps_position(generated, qtbot):
    w = generated
    a = w.session.current
    w.commands.trigger("set_a")
    w.words.chips.chips[2].set_muted(True)
    w.commands.trigger("regenerate")
    wait_idle(qtbot, w)
    b = w.session.current
    w.commands.trigger("set_b")
    assert w.takes.ab_btn.isEnabled() and "different seeds" not in w.takes.ab_label.text()
    w.controller.show_take(a.id)
    w.session.set_ab_side("A")
    w.transport.toggle_play()
    w.player._stream.pump(0.4)
    before = w.player.position()
    w.commands.trigger("switch_ab")
    assert w.session.current is b and w.player.playing
    assert abs(w.player.position() - before) < 0.02
    w.commands.trigger("switch_ab")
    assert w.session.current is a


def test_ab_label_tells_apart_two_takes_that_read_alike(generated, qtbot):
    """Two originals with the same seed and different prompts read "A: original, seed 1 | B: original,
    seed 1": the label then shows each side's prompt, and its tooltip names both in full."""
    w = generated
    a = w.session.current
    w.commands.trigger("set_a")
    w.session.set_prompt("rain on a tin roof")
    w.commands.trigger("generate")
    wait_idle(qtbot, w)
    b = w.session.current
    assert b is not a and b.take.params.seed == a.take.params.seed
    w.commands.trigger("set_b")
    text, tip = w.takes.ab_label.text(), w.takes.ab_label.toolTip()
    assert "“rain on a tin roof”" in text and f"“{a.take.prompt[:23]}" in text
    assert f"A: “{a.take.prompt}”" in tip and "B: “rain on a tin roof”" in tip and b.id in tip


def test_click_on_a_pane_seeks_and_escape_clears_the_selection(generated, qtbot):
    w = generated
    tl = w.timeline
    vb = tl.heat.getViewBox()
    pos = tl.mapFromScene(vb.mapViewToScene(QPointF(0.6, 1.0)))
    qtbot.mouseClick(tl.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert w.player.position() == pytest.approx(0.6, abs=0.02)
    w.transport.tick()
    assert tl.playhead() == pytest.approx(0.6, abs=0.02)
    tl.set_selection((0.2, 0.5))
    assert w.bars.mode == "interval"
    w.commands.trigger("clear_selection")
    assert tl.selection is None and w.bars.mode == "holistic"
    assert all(not r.isVisible() for r in tl.regions)


def test_model_picker_shows_what_is_usable(make_window):
    w = make_window()
    combo = w.generation.model_combo
    rows = {combo.itemData(i): i for i in range(combo.count())}
    assert "bundled" in rows and combo.currentData() == "bundled"
    for info in w.generation.model_infos:
        item = combo.model().item(rows[info.id])
        assert item.isEnabled() == info.usable
        assert info.status in combo.itemData(rows[info.id], Qt.ItemDataRole.ToolTipRole)


def test_baseline_explainers_run_from_the_picker(generated, qtbot):
    w = generated
    form = w.generation.explainer.form
    combo = form.findChild(QComboBox)
    assert form.methods()[0] == "audiogenx"
    form.set_method("random")
    assert not form.editor("epochs").isEnabled() and w.session.explainer[0] == "random"
    w.controller.explain()
    wait_idle(qtbot, w)
    assert w.controller.last_error is None
    assert w.session.current.explanation.method == "random"
    i = combo.findText("occlusion")
    assert "regenerates the take" in combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
    combo.setCurrentIndex(i)
    assert not form.editor("epochs").isEnabled()
    w.controller.explain()
    wait_idle(qtbot, w)
    assert w.controller.last_error is None
    ex = w.session.current.explanation
    assert ex.method == "occlusion" and ex.extras["reproduced"] and ex.step_masks.max() == 1
    form.set_method("audiogenx")
    assert form.editor("epochs").isEnabled()


def test_zooming_in_draws_the_waveform_from_the_samples(generated, qtbot):
    w = generated
    take = w.session.current.take
    w.timeline.wave.setXRange(0.30, 0.33, padding=0)  # 480 samples at 16 kHz
    a, b = w.timeline.wave.getViewBox().viewRange()[0]
    x, y = w.timeline.wave_curve.getData()
    assert a - 1e-3 <= x.min() and x.max() <= b + 1e-3 and len(x) > 400
    mono = take.audio.mean(axis=0)
    i = int(round(x[0] * take.sample_rate))
    assert np.isclose(y[0], mono[i])
    w.timeline.wave.setXRange(0, take.duration, padding=0)
    x, y = w.timeline.wave_curve.getData()
    assert x.max() > 0.9 * take.duration and y.max() == pytest.approx(mono.max(), abs=1e-6)
