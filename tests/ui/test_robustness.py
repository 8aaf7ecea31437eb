"""Bad input and 'nothing lost': empty prompt, duration limits, corrupt autosaves, queueing,
cancel, worker errors, settings, quitting during a job."""
from __future__ import annotations

import json
import time

import pytest
from PySide6.QtCore import Qt

from uihelpers import wait_idle


def test_empty_prompt_disables_generate_with_hint(make_window, qtbot):
    w = make_window()
    for text in ("", "   "):
        w.session.set_prompt(text)
        assert not w.generation.generate_btn.isEnabled() and not w.generation.gen_explain_btn.isEnabled()
        assert w.generation.hint_label.isVisible() and "prompt" in w.generation.hint_label.text().lower()
        assert "prompt" in w.generation.generate_btn.toolTip().lower()
        qtbot.mouseClick(w.generation.generate_btn, Qt.MouseButton.LeftButton)
        assert w.controller.generate() is None and not w.runner.busy and not w.runner.pending
    w.session.set_prompt("wind")
    assert w.generation.generate_btn.isEnabled() and not w.generation.hint_label.isVisible()
    w.session.set_prompt(" ".join(["wind"] * 600))  # more tokens than the text encoder takes
    assert not w.generation.generate_btn.isEnabled() and "shorten" in w.generation.hint_label.text()


def test_duration_control_stays_in_model_range(make_window):
    w = make_window()
    assert w.session.model is not None
    assert w.generation.duration_spin.maximum() == pytest.approx(w.session.model.max_duration)
    w.session.set_params(duration=999)
    assert w.generation.duration_spin.value() == pytest.approx(w.session.model.max_duration)
    w.session.set_params(duration=-5)
    assert w.generation.duration_spin.value() > 0


def test_autosave_reloads_and_skips_corrupt_takes(make_window, qtbot, data_dir):
    w = make_window()
    w.session.set_prompt("rain on a roof")
    w.session.set_params(duration=1.0)
    for seed in (1, 2):
        w.session.set_params(seed=seed)
        w.controller.generate()
    wait_idle(qtbot, w)
    w.controller.explain()
    wait_idle(qtbot, w)
    ids = set(w.session.items)
    explained = w.session.current.id
    w.close()
    takes = data_dir / "takes"
    folders = sorted(takes.iterdir())
    assert len(folders) == 2
    # corrupt one more take: a copy with a broken take.json, and a stray folder
    import shutil
    bad = takes / "20990101000000_broken"
    shutil.copytree(folders[0], bad)
    (bad / "take.json").write_text("{ not json")
    (takes / "not_a_take").mkdir()
    w2 = make_window()
    assert set(w2.session.items) == ids
    assert w2.session.items[explained].explanation is not None
    assert w2.notice_bar.isVisible() and "skipped" in w2.notice_bar.text()
    assert "2 autosaved take folder(s)" in w2.notice_bar.text() and "2 take(s) loaded" in w2.notice_bar.text()
    w2.notice_bar.linkActivated.emit("dismiss")
    assert not w2.notice_bar.isVisible()
    assert len(w2.controller.notices) == 2
    assert w2.takes.history.count() == 2


def test_settings_are_remembered(make_window, qtbot, data_dir):
    w = make_window()
    w.session.set_prompt("thunder far away")
    w.session.set_params(seed=1234)
    w.generation.explainer.form.set_value("epochs", 7)
    w.session.set_params(duration=2.5)
    w.generation.temp_spin.setValue(0.65)
    assert w.session.params.temperature == pytest.approx(0.65)  # what Generate sends to the engine
    w.close()
    saved = json.loads((data_dir / "settings.json").read_text())
    assert saved["prompt"] == "thunder far away" and saved["seed"] == 1234 and saved["temperature"] == 0.65
    assert saved["sampling_custom"] == ["temperature"]
    w2 = make_window()
    assert w2.generation.prompt_edit.text() == "thunder far away"
    assert w2.generation.seed_spin.value() == 1234 and w2.generation.duration_spin.value() == 2.5
    assert w2.generation.explainer.form.value("epochs") == 7 and w2.session.explainer[1].epochs == 7
    assert w2.generation.temp_spin.value() == pytest.approx(0.65)  # the user's value beats the model's default


@pytest.mark.real_bundled
def test_sampling_follows_the_model_until_the_user_changes_it(make_window, qtbot, data_dir):
    from agx_desktop.engine.bundled import loader
    if not loader.weights_present():
        pytest.skip("shipped weights not present")
    w = make_window()
    d = w.session.model.default_params()
    assert (d.temperature, d.top_k, d.cfg_coef) == (pytest.approx(0.8), 0, 3.0)  # bundled's, see its model card
    assert w.generation.temp_spin.value() == pytest.approx(0.8) and w.generation.topk_spin.value() == 0
    assert w.session.params.temperature == pytest.approx(0.8) and not w.generation.sampling_reset_btn.isEnabled()
    w.generation.temp_spin.setValue(1.1)
    assert w.generation.sampling_reset_btn.isEnabled() and "temperature" in w.generation.sampling_reset_btn.toolTip()
    w.generation.topk_spin.setValue(7)
    w.session.set_sampling_custom(w.session.sampling_custom - {"top_k"})  # as if only the temperature had been changed
    w.session.set_model(None)
    w.controller.load_model(w.session.model_id)  # a model (re)load keeps the user's value, resets the others
    wait_idle(qtbot, w)
    assert w.session.model is not None and w.generation.temp_spin.value() == pytest.approx(1.1) and w.generation.topk_spin.value() == 0
    w.generation.sampling_reset_btn.click()
    assert w.generation.temp_spin.value() == pytest.approx(0.8) and not w.session.sampling_custom
    assert not w.generation.sampling_reset_btn.isEnabled()
    w.close()
    assert json.loads((data_dir / "settings.json").read_text())["sampling_custom"] == []

def test_second_request_is_queued_visibly(make_window, qtbot):
    w = make_window()
    w.session.set_prompt("a bell rings")
    w.session.set_params(duration=1.0)
    j1 = w.controller.generate(explain_after=True)
    j2 = w.controller.generate()
    assert w.runner.running is j1 and w.runner.pending == [j2]
    assert w.jobs.queue_label.text() == "1 queued" and w.jobs.clear_queue_btn.isVisibleTo(w)
    wait_idle(qtbot, w)
    assert w.takes.history.count() == 2 and w.jobs.queue_label.text() == ""


def _long_explain(w, qtbot):
    w.session.set_prompt("a dog barks")
    w.session.set_params(duration=2.0)
    w.controller.generate()
    wait_idle(qtbot, w)
    w.generation.explainer.form.set_value("epochs", 1000)
    job = w.controller.explain()
    qtbot.waitUntil(lambda: w.runner.running is job and w.jobs.progress.maximum() == 1000 and w.jobs.progress.value() > 0,
                    timeout=20000)
    return job


def test_cancel_stops_within_a_second_and_changes_nothing(make_window, qtbot):
    w = make_window()
    job = _long_explain(w, qtbot)
    item = w.session.current
    n = len(w.session.items)
    cancelled = []
    w.runner.cancelled.connect(cancelled.append)
    t0 = time.perf_counter()
    qtbot.mouseClick(w.jobs.cancel_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: cancelled == [job], timeout=5000)
    assert time.perf_counter() - t0 < 1.0
    assert item.explanation is None and len(w.session.items) == n and w.session.current is item
    assert not (item.folder / "explanation.json").exists()
    assert "Cancelled" in w.jobs.progress.format()
    w.generation.explainer.form.set_value("epochs", 2)
    w.controller.explain()  # still usable
    wait_idle(qtbot, w)
    assert item.explanation is not None


def test_worker_error_shows_dialog_and_app_stays_usable(make_window, qtbot, monkeypatch):
    from agx_desktop.engine import generation  # the job imports generate from here when it runs
    w = make_window()
    w.session.set_prompt("a siren")
    w.session.set_params(duration=1.0)
    real = generation.generate

    def boom(*a, **k):
        raise RuntimeError("simulated failure deep in the engine")
    monkeypatch.setattr(generation, "generate", boom)
    w.controller.generate()
    wait_idle(qtbot, w)
    assert w.error_box is not None and w.error_box.isVisible()
    assert "simulated failure" in w.error_box.informativeText()
    assert "Traceback" in w.error_box.detailedText()
    assert w.takes.history.count() == 0
    w.error_box.close()
    monkeypatch.setattr(generation, "generate", real)
    w.controller.generate()
    wait_idle(qtbot, w)
    assert w.takes.history.count() == 1


def test_quit_during_a_job_cancels_and_waits(make_window, qtbot, data_dir):
    w = make_window()
    _long_explain(w, qtbot)
    t0 = time.perf_counter()
    w.close()
    assert time.perf_counter() - t0 < 3.0
    assert not w.runner.busy and w.runner._thread is None
    assert (data_dir / "settings.json").is_file()


def test_failed_autosave_keeps_the_take(make_window, qtbot, monkeypatch):
    from agx_desktop.ui import store as store_mod

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    w = make_window()
    monkeypatch.setattr(store_mod, "save_take", full)
    w.session.set_prompt("a clock ticks")
    w.session.set_params(duration=1.0)
    w.controller.generate()
    wait_idle(qtbot, w)
    assert w.takes.history.count() == 1 and w.session.current.folder is None
    assert w.notice_bar.isVisible() and "is full" in w.notice_bar.text() and "Retry save" in w.notice_bar.text()


def test_space_types_in_the_prompt_but_plays_elsewhere(generated, qtbot):
    w = generated
    w.generation.prompt_edit.setFocus()
    w.session.set_prompt("wind")
    qtbot.keyClick(w.generation.prompt_edit, Qt.Key.Key_Space)
    assert w.generation.prompt_edit.text() == "wind " and not w.player.playing
    w.timeline.setFocus()
    qtbot.keyClick(w.timeline, Qt.Key.Key_Space)
    assert w.player.playing
    qtbot.keyClick(w.timeline, Qt.Key.Key_Space)
    assert not w.player.playing


def test_a_direction_override_in_the_prompt_cannot_turn_the_app_s_text_around(make_window, qtbot):
    """A right-to-left override (U+202E) typed in the prompt: the engine refuses the prompt in one message,
    and the job bar, status line and error box show the prompt with it escaped, never the raw character
    (which turned the whole status line around)."""
    from PySide6.QtWidgets import QProgressBar
    w = make_window()
    w.session.set_prompt("rain \u202egnikab\u202c on a roof")
    w.session.set_params(duration=1.0)
    w.controller.generate()
    wait_idle(qtbot, w)
    assert w.error_box is not None and "control characters" in w.error_box.informativeText()
    shown = [w.statusBar().currentMessage(), w.findChildren(QProgressBar)[0].format(), w.error_box.text(),
             w.error_box.windowTitle()]
    assert any("\\u202e" in text for text in shown), shown
    assert not any(ch in text for text in shown for ch in "\u202e\u202c"), shown
    assert w.takes.history.count() == 0
