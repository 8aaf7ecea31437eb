"""The whole loop without a mouse: key events only, as a keyboard user would drive the window."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from agx_desktop.ui.actions import ACTIONS, key_text, shortcut_rows
from uihelpers import wait_idle

CTRL, SHIFT, ALT = (Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier,
                    Qt.KeyboardModifier.AltModifier)


def key(qtbot, key: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """One key pressed on whatever has the focus (shortcuts included), as the user's keyboard sends it."""
    qtbot.keyClick(QApplication.focusWidget(), key, mods)


def test_keyboard_only_loop(make_window, qtbot, tmp_path):
    w = make_window()
    w.activateWindow()
    w.generation.prompt_edit.setFocus()
    qtbot.waitUntil(lambda: w.generation.prompt_edit.hasFocus())
    w.session.set_params(duration=1.0, seed=3)
    key(qtbot, Qt.Key.Key_A, CTRL)  # the remembered prompt, selected: typing replaces it
    qtbot.keyClicks(w.generation.prompt_edit, "a dog barks then a bell rings")
    key(qtbot, Qt.Key.Key_Space)  # in the prompt Space types
    assert w.session.prompt == "a dog barks then a bell rings "
    key(qtbot, Qt.Key.Key_Return)  # Enter in the prompt generates and leaves the prompt
    wait_idle(qtbot, w)
    assert len(w.session.items) == 1
    qtbot.waitUntil(lambda: w.timeline.hasFocus())
    w.generation.explainer.form.set_value("epochs", 3)
    key(qtbot, Qt.Key.Key_X, CTRL | SHIFT)  # explain
    wait_idle(qtbot, w)
    assert w.session.explanation_matches(w.session.current)

    key(qtbot, Qt.Key.Key_Space)  # Space plays (the timeline has the focus)...
    assert w.player.playing
    w.player._stream.pump(0.3)
    key(qtbot, Qt.Key.Key_Space)  # ...and pauses
    assert not w.player.playing
    at = w.player.position()
    assert at > 0.1
    key(qtbot, Qt.Key.Key_I)  # region from the playhead to the end...
    assert w.session.selection == pytest.approx((at, 1.0), abs=0.03)
    w.transport.seek(0.9)
    key(qtbot, Qt.Key.Key_O)  # ...to here
    assert w.session.selection == pytest.approx((at, 0.9), abs=0.03)
    assert w.timeline.selection == pytest.approx(w.session.selection)

    first = w.session.current.id
    key(qtbot, Qt.Key.Key_1, ALT)  # mute word 1, regenerate with the same seed
    assert w.words.chips.chips[0].mute.isChecked()
    key(qtbot, Qt.Key.Key_R, CTRL)
    wait_idle(qtbot, w)
    second = w.session.current
    assert second.id != first and second.take.word_weights[0] == 0.0

    key(qtbot, Qt.Key.Key_A, CTRL | SHIFT)  # the muted take is A...
    w.takes.history.setFocus()  # (Tab would get there too; the list then has the focus)
    key(qtbot, Qt.Key.Key_Down)  # newest first: the next row is the first take
    qtbot.waitUntil(lambda: w.session.current.id == first)
    assert w.takes.ab_label.text().endswith("hearing another take")  # the label follows the list
    key(qtbot, Qt.Key.Key_B, CTRL | SHIFT)  # ...the first one B
    assert w.session.ab == {"A": second.id, "B": first}
    assert w.takes.ab_label.text().endswith("hearing B")
    key(qtbot, Qt.Key.Key_B, CTRL)  # switch A/B
    assert w.session.current.id == second.id and w.session.ab_side == "A"
    label = w.takes.ab_label.text()
    assert label.endswith("hearing A") and ("mute a" in label or "a×0" in label), label  # says what changed

    # a focused button presses with Space and Enter, and then Space does not play
    w.takes.set_a_btn.setFocus()
    pressed: list[str] = []
    w.takes.set_a_btn.clicked.connect(lambda: pressed.append("reset"))
    key(qtbot, Qt.Key.Key_Space)
    key(qtbot, Qt.Key.Key_Return)
    assert pressed == ["reset", "reset"] and not w.player.playing

    # export through the dialog, keys only: Ctrl+E, type the folder, Enter
    out = tmp_path / "out"
    out.mkdir()
    w.settings.export.folder = str(out)

    def fill_dialog() -> None:
        dlg = QApplication.activeModalWidget()
        assert dlg is not None and dlg.windowTitle() == "Export WAV"
        qtbot.keyClick(dlg, Qt.Key.Key_Return)
    QTimer.singleShot(300, fill_dialog)
    key(qtbot, Qt.Key.Key_E, CTRL)
    qtbot.waitUntil(lambda: any(out.glob("*.wav")), timeout=10000)
    assert len(list(out.glob("*.wav"))) == 1


def test_escape_in_the_prompt_goes_to_the_timeline_and_space_then_plays(make_window, qtbot):
    w = make_window()
    w.session.set_params(duration=0.5, seed=1)
    w.session.set_prompt("rain")
    w.commands.trigger("generate")
    wait_idle(qtbot, w)
    w.activateWindow()
    w.generation.prompt_edit.setFocus()
    qtbot.waitUntil(lambda: w.generation.prompt_edit.hasFocus())
    key(qtbot, Qt.Key.Key_Escape)
    assert w.timeline.hasFocus() and w.session.prompt == "rain"
    key(qtbot, Qt.Key.Key_Space)
    assert w.player.playing


def test_the_shortcut_sheet_lists_the_table_and_the_readme_too(make_window, qtbot):
    w = make_window()
    w.commands.trigger("shortcuts")
    sheet = w.shortcut_sheet
    assert sheet.isVisible()
    rows = sheet.rows()
    assert rows == shortcut_rows()
    with_keys = [s for s in ACTIONS if s.shortcut is not None and key_text(s.shortcut)]  # Quit: none offscreen
    assert {k for k, _ in rows} >= {key_text(s.shortcut) for s in with_keys}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Keyboard"):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    for spec in with_keys:  # the README names every shortcut of the table
        keys = key_text(spec.shortcut)
        if spec.name.startswith("mute_word_"):
            keys = "Alt+1"
        assert re.search(re.escape(keys), section), keys
    sheet.close()
