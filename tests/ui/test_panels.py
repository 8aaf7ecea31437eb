"""Panels on their own, on a bare Session (no window, no engine): what they show follows the session,
and what the user edits in them goes into the session."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from agx_desktop.engine.take import GenerationParams
from agx_desktop.ui.panels.generation import GenerationPanel
from agx_desktop.ui.panels.transport import words_at
from agx_desktop.ui.session import Session
from agx_desktop.ui.settings import Settings


@pytest.fixture
def panel(qtbot):
    p = GenerationPanel(Session())
    qtbot.addWidget(p)
    p.restore(Settings())
    return p


def fake_model(model_id: str = "bundled") -> SimpleNamespace:
    return SimpleNamespace(id=model_id, max_duration=5.0, frame_rate=50,
                           default_params=lambda: GenerationParams(temperature=0.8, top_k=0, cfg_coef=3.0))


def test_the_boxes_follow_the_session_and_the_user_edits_go_into_it(panel):
    s = panel.session
    s.set_prompt("rain on a tin roof")
    s.set_params(seed=42, duration=2.5)
    assert panel.prompt_edit.text() == "rain on a tin roof"
    assert panel.seed_spin.value() == 42 and panel.duration_spin.value() == 2.5
    assert not s.sampling_custom  # set by code, not by the user
    panel.prompt_edit.setText("thunder")
    panel.seed_spin.setValue(7)
    panel.temp_spin.setValue(0.5)
    assert s.prompt == "thunder" and s.params.seed == 7 and s.params.temperature == pytest.approx(0.5)
    assert s.sampling_custom == {"temperature"}  # the user's: it stays when the model changes
    panel.roll_seed()
    assert s.params.seed == panel.seed_spin.value()


def test_duration_is_clamped_to_the_models_range(panel):
    s = panel.session
    s.set_model(fake_model())
    assert panel.duration_spin.maximum() == 5.0
    s.set_params(duration=999)
    assert s.params.duration == 5.0 == panel.duration_spin.value()  # the box's clamp goes back to the session
    s.choose_model("facebook/musicgen-small")  # before it loads: the engine's limit for its family
    assert panel.duration_spin.maximum() == 30.0


def test_sampling_follows_the_model_until_the_user_changes_it(panel):
    s = panel.session
    panel.topk_spin.setValue(7)
    s.set_model(fake_model())
    assert s.params.top_k == 7 and s.params.temperature == pytest.approx(0.8)  # the user's top-k stays
    assert panel.sampling_reset_btn.isEnabled() and "top_k" in panel.sampling_reset_btn.toolTip()
    panel.reset_sampling()
    assert s.params.top_k == 0 and not s.sampling_custom and not panel.sampling_reset_btn.isEnabled()


def test_settings_round_trip(panel):
    s = panel.session
    s.set_prompt("a door creaks")
    s.set_params(seed=9, duration=1.5)
    panel.temp_spin.setValue(0.65)
    panel.explainer.form.set_value("epochs", 12)
    saved = Settings()
    panel.store(saved)
    assert (saved.prompt, saved.seed, saved.duration, saved.temperature) == ("a door creaks", 9, 1.5, 0.65)
    assert saved.sampling_custom == ["temperature"] and saved.epochs == 12 and saved.method == "audiogenx"
    other = GenerationPanel(Session())
    other.restore(saved)
    assert other.session.prompt == "a door creaks" and other.session.params.seed == 9
    assert other.session.explainer[0] == "audiogenx" and other.session.explainer[1].epochs == 12
    other.deleteLater()


def test_problem_hint_shows_only_with_a_problem(panel):
    panel.show_problem("Type a prompt")
    assert panel.hint_label.isVisibleTo(panel) and panel.hint_label.text() == "Type a prompt"
    panel.show_problem("")
    assert not panel.hint_label.isVisibleTo(panel)


def test_words_at_the_playhead_are_the_top_third_above_the_mean():
    assert words_at(np.array([])) == []
    assert words_at(np.array([0.1, 0.9, 0.2, 0.8, 0.0, 0.3])) == [1, 3]
    assert words_at(np.array([0.5, 0.5, 0.5])) == [0]  # a flat frame: the first word only
