"""The table of actions on its own: menus and shortcuts are built from it, and which command is
enabled follows the session, the job queue and the autosave state (no engine, no take files)."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMainWindow, QPushButton

from agx_desktop.ui.actions import ACTIONS, ActionTable, cpu_has_bf16, thread_choices
from agx_desktop.ui.controller import Controller
from agx_desktop.ui.jobs import Job, JobRunner
from agx_desktop.ui.playback import FakeStream, Player
from agx_desktop.ui.session import Session
from agx_desktop.ui.settings import Settings
from agx_desktop.ui.store import TakeStore


class Explained:
    def __init__(self, take_id: str) -> None:
        self.take_id = take_id


def take(take_id: str, explained: bool = False) -> SimpleNamespace:
    return SimpleNamespace(id=take_id, explanation=Explained(take_id) if explained else None,
                           take=SimpleNamespace(words=["rain", "falls"], duration=1.0))


class Host(QMainWindow):
    """The least a window offers the table's slots: its controller."""

    def __init__(self, controller: Controller) -> None:
        super().__init__()
        self.controller = controller


@pytest.fixture
def table(qtbot, data_dir):
    runner = JobRunner()
    c = Controller(Session(), runner, TakeStore(data_dir / "takes"), Player(stream_factory=FakeStream), Settings())
    window = Host(c)
    qtbot.addWidget(window)
    t = ActionTable(window, c)
    t.refresh()
    yield t
    runner.shutdown()


#: rows whose enabled-when their own tests check (tests/ui/test_editing.py, test_live_view.py)
ELSEWHERE = {"batch", "play_live", "timeline", "guided_edit", "regenerate_region"}


def enabled(t: ActionTable) -> set[str]:
    return {name for name in t.actions if t.is_enabled(name) and name not in ELSEWHERE}


ALWAYS = {"open_data", "quit", "clear_selection", "about", "shortcuts", "play", "stop",  # play/stop: a player is there
          "speed_int8", "threads_auto", *(f"threads_{n}" for n in thread_choices()),  # speed settings: always
          *({"speed_bf16"} if cpu_has_bf16() else set())}  # greyed where the CPU has no native bf16


def test_names_are_unique_and_menus_hold_what_the_table_says(table):
    names = [spec.name for spec in ACTIONS]
    assert len(names) == len(set(names))
    window = table.parent()
    menus = {m.title(): [a.text() for a in m.actions() if not a.isSeparator()]
             for m in (a.menu() for a in window.menuBar().actions())}
    expected: dict[str, list[str]] = {}
    for spec in ACTIONS:  # each menu holds its rows, in the table's order
        if spec.menu is not None:
            expected.setdefault(spec.menu, []).append(spec.text)
    assert menus == expected
    assert menus["&Playback"][:2] == ["Play / Pause", "Stop"] and menus["&File"][-1] == "&Quit"
    assert {"Clear selection", "Region start at the playhead", "Region end at the playhead"} <= set(menus["&Playback"])
    assert menus["&Help"] == ["Keyboard shortcuts", "About AGX Desktop"]
    keys = {name: table.action(name).shortcut() for name in table.actions}
    assert keys["generate"] == QKeySequence("Ctrl+Return")
    assert keys["generate_explain"] == QKeySequence("Ctrl+Shift+Return")
    assert keys["explain"] == QKeySequence("Ctrl+Shift+X") and keys["export_wav"] == QKeySequence("Ctrl+E")
    assert keys["play"] == QKeySequence("Space") and keys["clear_selection"] == QKeySequence("Esc")
    assert keys["regenerate"] == QKeySequence("Ctrl+R") and keys["switch_ab"] == QKeySequence("Ctrl+B")
    assert keys["mark_in"] == QKeySequence("I") and keys["mark_out"] == QKeySequence("O")
    assert [keys[f"mute_word_{n}"] for n in (1, 9)] == [QKeySequence("Alt+1"), QKeySequence("Alt+9")]
    shortcut_only = {a for a in window.actions()}  # the requests' shortcuts work anywhere in the window
    assert table.action("generate") in shortcut_only and table.action("export_wav") not in shortcut_only


def test_enabled_follows_the_session(table):
    s = table.controller.session
    assert enabled(table) == ALWAYS  # an empty prompt, no take
    assert "Type a prompt" in table.action("generate").toolTip()
    s.set_prompt("rain on a tin roof")
    assert enabled(table) == ALWAYS | {"generate", "generate_explain", "variations"}
    s.add_take(take("a"))
    s.set_current("a")
    has_take = {"explain", "regenerate", "export_wav", "set_a", "set_b", "mark_in", "mark_out", "mute_word_1",
                "mute_word_2"}
    assert enabled(table) == ALWAYS | {"generate", "generate_explain", "variations"} | has_take
    s.set_words_edited(True)
    assert table.is_enabled("reset_words")
    s.set_words_edited(False)
    s.add_take(take("b", explained=True))
    s.set_current("b")
    explained = {"factual", "counterfactual", "export_json", "export_csv", "export_png"}
    assert explained <= enabled(table)
    s.set_explanation(s.items["b"], Explained("another take"))  # a damaged folder's explanation: not this take's
    assert not explained & enabled(table)
    assert not table.is_enabled("switch_ab")
    s.set_ab_pair("a", "b")
    assert table.is_enabled("switch_ab")
    s.set_prompt("")
    assert not {"generate", "generate_explain", "variations"} & enabled(table)


def test_cancel_follows_the_job_queue_and_tooltips_say_queued(table, qtbot):
    c = table.controller
    generate = QPushButton("Generate")
    table.bind("generate", generate)
    c.session.set_prompt("rain")
    release = threading.Event()
    assert not table.is_enabled("cancel") and generate.toolTip() == ""
    c.runner.submit(Job("wait", lambda ctx: release.wait(10)))
    assert table.is_enabled("cancel") and generate.isEnabled()
    assert generate.toolTip() == "Queued after the running job"
    release.set()
    qtbot.waitUntil(lambda: not c.runner.busy, timeout=5000)
    assert not table.is_enabled("cancel") and generate.toolTip() == ""


def test_retry_save_is_enabled_while_a_take_is_unsaved(table):
    c = table.controller
    item = take("a")
    c.session.add_take(item)
    assert not table.is_enabled("retry_save")
    c.store.mark_unsaved(item, "the disk is full")
    c.save_state_changed.emit()
    assert table.is_enabled("retry_save")


def test_a_bound_button_runs_its_action_and_follows_it(table, monkeypatch):
    c = table.controller
    ran: list[str] = []
    button = QPushButton("Explain")
    table.bind("explain", button)
    table.action("explain").triggered.connect(lambda: ran.append("explain"))
    table.refresh()
    assert not button.isEnabled() and button.toolTip() == "Generate a take first"
    assert button.statusTip() == f"Explain ({QKeySequence('Ctrl+Shift+X').toString(QKeySequence.SequenceFormat.NativeText)})"
    c.session.add_take(take("a"))
    c.session.set_current("a")
    assert button.isEnabled() and button.toolTip() == ""
    monkeypatch.setattr(c, "explain", lambda: ran.append("controller"))  # what the slot calls (no engine here)
    button.click()
    assert ran == ["controller", "explain"]
