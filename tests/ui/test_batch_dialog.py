"""Batch… dialog (issue 21 item 3): the current prompt × N with modifiers runs in the background,
takes are announced as they are written, progress reaches the total; a bad sheet row is listed by
number while the good rows are made; cancel stops with what is finished kept."""
from __future__ import annotations

import csv
import io

from agx_desktop.ui.batch_dialog import BatchDialog, prompt_sheet


def test_prompt_sheet_puts_each_modifier_before_the_prompt():
    rows = list(csv.DictReader(io.StringIO(prompt_sheet("a door knocks", 2, ["soft", " loud "], 1.5, "stand-in",
                                                        True))))
    assert [(r["prompt"], r["count"], r["duration"], r["explain"]) for r in rows] == [
        ("soft a door knocks", "2", "1.5", "yes"), ("loud a door knocks", "2", "1.5", "yes")]
    assert [r["prompt"] for r in csv.DictReader(io.StringIO(prompt_sheet("rain", 1, [], 1, "bundled", False)))] \
        == ["rain"]


def test_current_prompt_times_n_fills_takes_as_they_arrive(qtbot, tmp_path):
    dialog = BatchDialog(prompt="a door knocks", model="stand-in")
    qtbot.addWidget(dialog)
    dialog.count.setValue(2)
    dialog.modifiers.setText("soft, loud")
    dialog.duration.setValue(0.5)
    dialog.out.setText(str(tmp_path / "lib"))
    arrived = []
    dialog.take_ready.connect(arrived.append)
    with qtbot.waitSignal(dialog.batch_finished, timeout=240_000) as finished:
        assert dialog.start() is not None
        assert not dialog.run_button.isEnabled() and dialog.cancel_button.isEnabled()
    summary = finished.args[0]
    assert (summary.made, summary.failed, summary.problems) == (4, [], [])
    qtbot.waitUntil(lambda: len(arrived) == 4)
    assert sorted(item.take.prompt for item in arrived) == ["loud a door knocks"] * 2 + ["soft a door knocks"] * 2
    assert all(item.folder.parent == tmp_path / "lib" / "takes" and item.spec is not None for item in arrived)
    assert (dialog.progress.value(), dialog.progress.maximum()) == (4, 4)
    assert dialog.run_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_sheet_with_a_bad_row_lists_it_and_missing_choices_are_one_line(qtbot, tmp_path):
    sheet = tmp_path / "s.csv"
    sheet.write_text("prompt,count,duration,model\nrain,1,0.5,stand-in\nwind,1,99,stand-in\n", encoding="utf-8")
    dialog = BatchDialog(model="stand-in")
    qtbot.addWidget(dialog)
    assert dialog.from_sheet.isChecked()
    assert dialog.start() is None and dialog.log.item(0).text().startswith("choose a prompt sheet")
    dialog.sheet_path.setText(str(sheet))
    assert dialog.start() is None and dialog.log.item(0).text() == "choose an output folder"
    dialog.out.setText(str(tmp_path / "lib"))
    with qtbot.waitSignal(dialog.batch_finished, timeout=240_000):
        dialog.start()
    lines = [dialog.log.item(i).text() for i in range(dialog.log.count())]
    assert lines[0].startswith("row 3: duration 99 s is above the model's maximum")
    assert lines[-1].startswith("done: 1 of 1 takes")


def test_file_batch_fills_the_takes_list_as_takes_arrive_and_cancel_keeps_whole_takes(make_window, qtbot, tmp_path):
    """File ▸ Batch… in the window: each take joins the takes list while the batch is still running;
    Cancel batch stops it with the finished takes kept (in the list, on disk, in manifest.csv) and no
    half take or temporary; Run again on the same folder finishes the rest and adds only those."""
    from PySide6.QtCore import Qt

    from agx_desktop.engine.take_folder import load_explanation, load_take
    w = make_window()
    w.session.set_prompt("a door knocks")
    w.commands.trigger("batch")
    dialog = w.batch_dialog
    assert dialog is not None and dialog.isVisible() and dialog.from_prompt.isChecked()
    assert dialog.prompt.text() == "a door knocks"
    dialog.count.setValue(6)
    dialog.duration.setValue(0.5)
    dialog.explain.setChecked(True)
    out = tmp_path / "lib"
    dialog.out.setText(str(out))
    seen_while_running: list[tuple[int, bool]] = []

    def arrived(item):  # the list as the user sees it when a take arrives, and whether the batch still runs
        seen_while_running.append((w.history.count(), dialog.cancel_button.isEnabled()))
        if len(seen_while_running) == 2:
            dialog.cancel_button.click()
    w.session.take_added.connect(arrived)
    dialog.run_button.click()
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=240_000)  # the batch has ended
    assert seen_while_running[:2] == [(1, True), (2, True)]  # in the list while the batch was running
    ids = {w.history.item(i).data(Qt.ItemDataRole.UserRole) for i in range(w.history.count())}
    on_disk = sorted((out / "takes").iterdir())
    manifest = (out / "manifest.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert 2 <= len(on_disk) < 6 and len(manifest) == len(on_disk) == len(ids)
    assert not list(out.rglob(".*")), "a half-written file or lock was left"
    for folder in on_disk:  # whole takes, explained, the same ones the list shows
        take = load_take(folder)
        assert take.id in ids and load_explanation(folder, take).take_id == take.id
    assert dialog.log.item(dialog.log.count() - 1).text().startswith("stopped")

    with qtbot.waitSignal(dialog.batch_finished, timeout=240_000) as done:
        dialog.run_button.click()
    summary = done.args[0]
    assert (summary.done_before, summary.finished, summary.failed) == (len(on_disk), 6, [])
    qtbot.waitUntil(lambda: w.history.count() == 6)
    assert len({w.history.item(i).data(Qt.ItemDataRole.UserRole) for i in range(6)}) == 6
