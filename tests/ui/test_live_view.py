"""Live and streaming in the app (issue 20 items 1-2) and Batch… in the window (issue 21 item 3):
the provisional heatmap fills in during a generate job and the explanation replaces it; Play as it
generates never plays past the decoded audio and ends on the very take a plain generate makes; File ▸
Batch… puts every take of a sheet into the takes list."""
from __future__ import annotations

import numpy as np

from uihelpers import wait_idle


def _filled_frames(w) -> int:
    """Frames of the heatmap image with a value for every word (columns not reached yet are NaN)."""
    img = w.timeline.heat_img.image
    return 0 if img is None else int(np.isfinite(img).all(axis=1).sum())


def test_live_map_fills_in_during_the_job_then_the_explanation_replaces_it(make_window, qtbot):
    w = make_window()
    w.session.set_prompt("a dog barks then a bell rings")
    w.session.set_params(duration=1.0, seed=3)
    w.generation.explainer.form.set_value("epochs", 3)
    seen = []  # what the window shows as each live map arrives (the window's slot ran first)

    def on_live(snapshot):
        if snapshot is not None:
            seen.append((w.runner.running is not None, w.timeline.heat_state, _filled_frames(w),
                         snapshot.per_frame.shape[0], w.timeline.heat.titleLabel.text))
    w.session.live_changed.connect(on_live)
    w.commands.trigger("generate_explain")
    wait_idle(qtbot, w)

    assert seen, "no live map reached the window"
    assert all(running for running, *_ in seen)  # every one arrived while the job ran
    assert all(state == "live" and "provisional" in title for _, state, _, _, title in seen)
    filled = [f for _, _, f, _, _ in seen]
    assert 0 < filled[0] < seen[0][3]  # left part first, the rest still empty
    assert filled == sorted(filled) and filled[-1] == seen[-1][3]  # fills in left to right, to the end
    # the explanation replaced it
    explained = w.session.current
    assert w.timeline.heat_state == "explained" and "AudioGenX" in w.timeline.heat.titleLabel.text
    assert w.timeline.heat_img.opacity() == 1.0

    # a take generated without Explain keeps its live map, shown again when it is current again
    w.session.set_params(seed=4)
    w.commands.trigger("generate")
    wait_idle(qtbot, w)
    live_take = w.session.current
    assert live_take is not explained and w.timeline.heat_state == "live"
    assert "not yet measured" in w.timeline.heat.toolTip() or "Spearman" in w.timeline.heat.toolTip()
    w.controller.show_take(explained.id)
    wait_idle(qtbot, w)
    assert w.timeline.heat_state == "explained"
    w.controller.show_take(live_take.id)
    wait_idle(qtbot, w)
    assert w.timeline.heat_state == "live" and _filled_frames(w) == live_take.take.codes.shape[-1]


def test_play_as_it_generates_never_passes_decoded_audio_and_ends_on_the_take(make_window, qtbot):
    from agx_desktop.ui.panels.transport import fmt_time
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model

    w = make_window()
    assert not w.commands.action("play_live").isChecked()  # off by default
    w.commands.trigger("play_live")
    assert w.controller.play_while_generating and w.jobs.play_live_btn.isChecked()
    w.session.set_prompt("rain on a tin roof")
    w.session.set_params(duration=3.0, seed=5)
    heard = []  # (position, decoded frames in the player) as each chunk arrives and the device plays on

    def on_chunk(job, end, chunk):
        p = w.player
        assert p.streaming and p.buffered_frames == end
        p._stream.pump(1.0)  # the device plays faster than chunks arrive: it must wait at the end
        heard.append((p.position_frames(), p.buffered_frames))
        w.transport.tick()  # the time shown is the new take's decoded length, not the previous take's
        labels.append((w.transport.time_label.text(), fmt_time(end / p.sample_rate)))
    labels: list[tuple[str, str]] = []
    w.runner.audio.connect(on_chunk)
    w.commands.trigger("generate")
    wait_idle(qtbot, w)

    take = w.session.current.take
    assert labels and all(text.endswith(f"/ {decoded} …") for text, decoded in labels)
    w.transport.tick()
    assert w.transport.time_label.text().endswith(f"/ {fmt_time(take.duration)}")  # done: the take's length
    assert len(heard) >= 2 and w.player.playing
    assert all(pos <= end for pos, end in heard)  # never beyond what is decoded
    assert any(pos == end for pos, end in heard[:-1])  # it did catch up and wait there
    # the take replaced the previews: same length, its samples, the position kept (no jump)
    assert w.player.buffered_frames == take.audio.shape[-1] == heard[-1][1]
    assert np.array_equal(w.player._buf.T, take.audio)
    before = w.player.position_frames()
    w.player._stream.pump(0.1)
    assert w.player.position_frames() >= before > 0
    plain = generate(load_model("bundled"), take.prompt, take.params)
    assert np.array_equal(plain.audio, take.audio) and np.array_equal(plain.codes.numpy(), take.codes.numpy())


def test_batch_action_runs_a_sheet_and_its_takes_join_the_list(make_window, qtbot, tmp_path):
    w = make_window()
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("prompt,count,duration,model\nrain,1,0.5,stand-in\nwind,1,0.5,stand-in\n", encoding="utf-8")
    w.commands.trigger("batch")
    dialog = w.batch_dialog
    dialog.from_sheet.setChecked(True)
    dialog.sheet_path.setText(str(sheet))
    dialog.out.setText(str(tmp_path / "lib"))
    with qtbot.waitSignal(dialog.batch_finished, timeout=240_000):
        dialog.run_button.click()
        assert w.commands.is_enabled("cancel")  # the window's Cancel stops it too
    qtbot.waitUntil(lambda: len(w.history.ids()) == 2)
    assert sorted(w.session.items[i].take.prompt for i in w.history.ids()) == ["rain", "wind"]
    assert (dialog.progress.value(), dialog.progress.maximum()) == (2, 2)


def test_cancelled_while_playing_as_it_generates_leaves_no_half_take(make_window, qtbot):
    w = make_window()
    w.commands.trigger("play_live")
    w.session.set_prompt("rain on a tin roof")
    w.session.set_params(duration=3.0, seed=6)
    w.runner.audio.connect(lambda job, end, chunk: w.commands.trigger("cancel"))
    w.commands.trigger("generate")
    wait_idle(qtbot, w)
    assert w.session.current is None and not w.session.items
    assert not w.player.streaming and not w.player.playing and w.player.buffered_frames == 0
    assert w.session.live is None and w.timeline.heat_state == "empty"
