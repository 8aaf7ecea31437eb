"""The Model menu's speed settings say what applies (review of issue 20's menu)."""
from __future__ import annotations

import torch


def test_int8_is_greyed_with_the_reason_while_the_loaded_model_is_not_on_the_cpu(make_window):
    """int8 runs on the CPU only: with a model loaded on the GPU the menu item was enabled (and checked,
    when remembered) yet every take failed; it is greyed with the reason, and enabled again for a CPU model."""
    import copy
    w = make_window()
    action = w.commands.action("speed_int8")
    assert action.isEnabled()  # no model loaded yet, or one on the CPU
    cpu = w.session.model
    assert cpu is not None and cpu.device.type == "cpu"
    gpu = copy.copy(cpu)
    gpu.device = torch.device("cuda")  # as a model loaded on the GPU reports itself (no GPU needed here)
    w.session.set_model(gpu)
    assert not action.isEnabled() and "CPU only" in action.toolTip()
    w.session.set_model(cpu)
    assert action.isEnabled() and "CPU only" not in action.toolTip()


def test_a_remembered_thread_count_this_machine_does_not_offer_shows_as_automatic(make_window, data_dir):
    """settings.json from a machine with more cores (or edited) asked for a thread count the menu has no
    item for: no thread item was checked, not even 'automatic', and sampling ran on that many threads
    (on a 2-core CPU, 16 threads oversubscribe the cores). It counts as automatic, and the menu says so."""
    import json

    from agx_desktop.ui import tasks
    from agx_desktop.ui.actions import thread_choices
    from agx_desktop.ui.paths import settings_path
    too_many = max(thread_choices()) + 1
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(json.dumps({"speed": {"threads": too_many}}), encoding="utf-8")
    w = make_window()
    checked = [name for name in w.commands.actions if name.startswith("threads_")
               and w.commands.action(name).isChecked()]
    assert checked == ["threads_auto"] and tasks.SPEED["threads"] == 0
