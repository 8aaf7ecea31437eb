"""The Model menu's speed settings (issue 20): off by default, remembered, and the next generated take is
sampled under them and says so (its speed record and the takes list)."""
from __future__ import annotations

import pytest
from uihelpers import wait_idle


def _generate(w, qtbot, seed):
    w.session.set_prompt("a dog barks")
    w.session.set_params(duration=0.5, seed=seed)
    w.commands.trigger("generate")
    wait_idle(qtbot, w)
    return w.session.current.take


def test_speed_settings_are_off_by_default_and_a_take_records_none(make_window, qtbot):
    w = make_window()
    assert w.settings.speed == {}
    assert not w.commands.action("speed_int8").isChecked() and not w.commands.action("speed_bf16").isChecked()
    assert w.commands.action("threads_auto").isChecked()
    assert _generate(w, qtbot, 1).speed is None


def test_int8_and_threads_persist_and_the_next_take_records_them(make_window, qtbot, data_dir):
    from agx_desktop.ui.settings import load_settings
    w = make_window()
    w.commands.trigger("speed_int8")
    w.commands.trigger("threads_1")
    assert load_settings().speed == {"int8": True, "threads": 1}  # remembered at once, not only at quit
    take = _generate(w, qtbot, 2)
    assert take.speed["label"] == "int8+1 threads" and "in-projections" in take.speed["quantisation"]
    assert "int8+1 threads" in w.history.row_of(take.id).text()  # the takes list says how it was made
    w.close()

    again = make_window()  # a new session starts with what was set
    assert again.commands.action("speed_int8").isChecked() and again.commands.action("threads_1").isChecked()
    assert not again.commands.action("threads_auto").isChecked()
    assert _generate(again, qtbot, 3).speed["label"] == "int8+1 threads"
    again.commands.trigger("speed_int8")  # off again: the next take is the float32 one
    again.commands.trigger("threads_auto")
    assert _generate(again, qtbot, 4).speed is None and load_settings().speed == {"int8": False, "threads": 0}


def test_bf16_is_greyed_with_the_reason_where_the_cpu_lacks_it(make_window):
    from agx_desktop.ui import actions
    w = make_window()
    action = w.commands.action("speed_bf16")
    if actions.cpu_has_bf16():
        assert action.isEnabled()
    else:
        assert not action.isEnabled() and "no native bf16" in action.toolTip()


@pytest.mark.real_bundled
def test_int8_take_of_the_trained_bundled_model_with_its_live_map(make_window, qtbot):
    """The trained bundled model has audiocraft's own attention, so int8 quantises its in-projections too;
    the app's live map (which reads their query/key rows) still fills in, and the take records int8."""
    w = make_window()
    w.commands.trigger("speed_int8")
    live = []
    w.runner.live.connect(lambda *a: live.append(a))
    take = _generate(w, qtbot, 5)
    assert take.speed is not None and take.speed["label"] == "int8" and live
