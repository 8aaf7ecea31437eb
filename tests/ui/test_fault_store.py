"""Faults in the app's autosave store (issue 15, item 6) and the permissions of what the app writes
(item 7): bad take folders and explanations are skipped with a notice while every good take is
shown; a full disk or a read-only / unusable data folder never costs a take or stops the app.

Each test looks at what the user sees: rows in the takes list, the notice bar, the status bar's
"Retry save", files on disk and their modes. Full disk and read-only folders are real (a small
tmpfs, a read-only bind mount); where mounting is not permitted the test is skipped with why.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from mounts import fill, read_only, tmpfs
from uihelpers import wait_idle

_TEMPLATE: dict = {}


def _template() -> tuple:
    """One 0.5 s take of the untrained stand-in and its explanation (made once per session)."""
    if not _TEMPLATE:
        from agx_desktop.engine.explain import explain
        from agx_desktop.engine.generation import generate
        from agx_desktop.engine.models import load_model
        from agx_desktop.engine.take import GenerationParams
        model = load_model("bundled")
        take = generate(model, "a dog barks then a bell rings", GenerationParams(duration=0.5, seed=1))
        _TEMPLATE["take"] = take
        _TEMPLATE["explanation"] = explain(model, take, method="audiogenx", epochs=2)
    return _TEMPLATE["take"], _TEMPLATE["explanation"]


def _fill_store(data_dir: Path, n: int) -> list[Path]:
    """``n`` autosaved, explained takes in the app's store, written the way the app writes them."""
    from agx_desktop.ui.analysis import analyse
    from agx_desktop.ui.store import TakeStore
    take, explanation = _template()
    store = TakeStore(data_dir / "takes")
    folders = []
    for i in range(n):
        t = dataclasses.replace(take, id=f"take{i:02d}abcdef", created=f"2025-01-0{1 + i % 9}T10:00:{i:02d}+00:00")
        item = analyse(t, dataclasses.replace(explanation, take_id=t.id))
        folders.append(store.save(item))
    return folders


def _visible_takes(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _ids_in_list(w) -> set[str]:
    return {w.takes.history.item(i).data(Qt.ItemDataRole.UserRole) for i in range(w.takes.history.count())}


def _edit_meta(folder: Path, **fields) -> None:
    meta = json.loads((folder / "take.json").read_text(encoding="utf-8"))
    meta.update(fields)
    (folder / "take.json").write_text(json.dumps(meta), encoding="utf-8")


def _unsaved_box_button(w, text: str):
    return next(b for b in w.unsaved_box.buttons() if b.text() == text)


# --------------------------------------------------------------------------- bad takes

BAD_TAKES = {
    "created is a number": lambda f: _edit_meta(f, created=12345),
    "created is null": lambda f: _edit_meta(f, created=None),
    "id names another folder": lambda f: _edit_meta(f, id="../../elsewhere"),
    "seed is text": lambda f: _edit_meta(f, params={"duration": 0.5, "seed": "x", "top_k": 250, "top_p": 0.0,
                                                   "temperature": 1.0, "cfg_coef": 3.0}),
    "words are numbers": lambda f: _edit_meta(f, text={"prompt": "a", "tokens": [1], "token_word": [0], "words": [5]}),
    "take.json is not JSON": lambda f: (f / "take.json").write_bytes(b"\xff{ not json"),
    "audio.wav is garbage": lambda f: (f / "audio.wav").write_bytes(b"RIFF" + os.urandom(200)),
    "audio.wav is a folder": lambda f: ((f / "audio.wav").unlink(), (f / "audio.wav").mkdir()),
}


@pytest.mark.parametrize("fault", list(BAD_TAKES), ids=list(BAD_TAKES))
def test_one_bad_take_hides_no_other(make_window, data_dir, fault):
    folders = _fill_store(data_dir, 9)
    bad = folders[4]
    BAD_TAKES[fault](bad)
    w = make_window()
    assert w.takes.history.count() == 8
    assert _ids_in_list(w) == {f"take{i:02d}abcdef" for i in range(9) if i != 4}
    text = w.notice_bar.text()
    assert w.notice_bar.isVisible() and "1 autosaved take folder(s)" in text and "8 take(s) loaded" in text
    assert f"skipped {bad.name}" in text and "move that folder out of" in text
    assert "Traceback" not in text and w.error_box is None
    assert w.session.current is not None and w.session.current.id == "take08abcdef"  # the newest good take is shown


def test_every_kind_of_take_the_app_makes_comes_back_after_a_restart(make_window, data_dir):
    """Region, timeline, masked and weighted takes are autosaved like the others, and the next start
    shows them all (the store once accepted only four kinds and skipped the rest as bad folders,
    telling the user to delete takes the app itself had made)."""
    import numpy as np
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.region import regenerate_region
    from agx_desktop.engine.take import GenerationParams
    from agx_desktop.engine.take_folder import TAKE_KINDS
    from agx_desktop.engine.timeline import Segment, generate_timeline
    from agx_desktop.ui.analysis import analyse
    from agx_desktop.ui.store import TakeStore
    take, _ = _template()
    model = load_model("bundled")
    params = GenerationParams(duration=0.5, seed=1)
    made = [take,
            generate(model, take.prompt, params, word_weights=[1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0]),
            generate(model, take.prompt, params, step_mask=np.full((15, 7), 0.5, dtype=np.float32)),
            regenerate_region(model, take, 0.2, prompt="a dog barks then a whistle blows"),
            generate_timeline(model, [Segment(0.0, 0.25, "a dog barks"), Segment(0.25, 0.5, "rain falls")], params)]
    kinds = {t.kind for t in made}
    assert {"original", "weighted", "masked", "region", "timeline"} <= kinds <= TAKE_KINDS
    store = TakeStore(data_dir / "takes")
    for t in made:
        store.save(analyse(t, None))
    w = make_window()
    assert _ids_in_list(w) == {t.id for t in made}
    assert not w.notice_bar.isVisible() or "could not be read" not in w.notice_bar.text()


def test_another_takes_explanation_is_not_attached(make_window, qtbot, data_dir):
    folders = _fill_store(data_dir, 3)
    shutil.copy(folders[0] / "explanation.json", folders[1] / "explanation.json")  # take 0's, in take 1
    w = make_window()
    assert w.takes.history.count() == 3
    text = w.notice_bar.text()
    assert w.notice_bar.isVisible() and folders[1].name in text and "does not belong to this take" in text
    assert "explain this take again" in text
    w.controller.show_take("take01abcdef")
    wait_idle(qtbot, w)
    assert w.session.current.explanation is None and w.timeline.words == []  # no heatmap of another take
    assert not w.words.factual_btn.isEnabled() and not w.commands.is_enabled("export_json")
    w.controller.show_take("take00abcdef")  # the real owner keeps its explanation
    wait_idle(qtbot, w)
    assert w.session.current.explanation is not None and w.timeline.words == list(w.session.current.take.words)


def _corrupt(path: Path, how: str) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if how == "garbage":
        path.write_text("{", encoding="utf-8")
        return
    if how == "nan mask":
        doc["step_masks"][0][0] = float("nan")
    elif how == "mask of the wrong shape":
        doc["step_masks"] = [row[:-1] for row in doc["step_masks"]]
    elif how == "huge n_frames":
        doc["n_frames"] = 10 ** 12
    elif how == "words are not text":
        doc["text"]["words"] = [1, 2]
    path.write_text(json.dumps(doc), encoding="utf-8")


@pytest.mark.parametrize("how", ["garbage", "nan mask", "mask of the wrong shape", "huge n_frames",
                                 "words are not text"])
def test_corrupt_explanation_is_refused_at_load_and_the_take_shows(make_window, qtbot, data_dir, how):
    folders = _fill_store(data_dir, 2)
    _corrupt(folders[1] / "explanation.json", how)
    w = make_window()
    assert w.takes.history.count() == 2
    text = w.notice_bar.text()
    assert w.notice_bar.isVisible() and folders[1].name in text and "explanation.json" in text
    assert "explain this take again" in text
    for take_id in ("take00abcdef", "take01abcdef", "take00abcdef", "take01abcdef"):
        w.controller.show_take(take_id)  # an exception in a slot would fail the test (pytest-qt)
        wait_idle(qtbot, w)
    assert w.session.current.id == "take01abcdef" and w.session.current.explanation is None
    assert w.session.items["take00abcdef"].explanation is not None
    w.transport.seek(0.2)
    w.timeline.set_selection((0.0, 0.3))
    assert w.error_box is None


def test_interrupted_save_is_recovered_at_start(make_window, data_dir):
    """A crash between the save's two renames leaves only a hidden temporary: the take comes back."""
    from agx_desktop.engine.fsio import TMP_TAG
    folders = _fill_store(data_dir, 2)
    dead_pid = 2 ** 22 + 12345  # above Linux's pid_max default: no such process
    hidden = folders[1].parent / f".{folders[1].name}{TMP_TAG}new{dead_pid}-0badc0de"
    os.rename(folders[1], hidden)
    w = make_window()
    assert _ids_in_list(w) == {"take00abcdef", "take01abcdef"}
    assert folders[1].is_dir()


# --------------------------------------------------------------------------- full disk

def test_full_disk_keeps_the_take_and_retry_saves_it(make_window, qtbot, data_dir):
    with tmpfs(data_dir, 8 * 1024):
        w = make_window()
        filler = fill(data_dir)
        w.session.set_prompt("a clock ticks")
        w.session.set_params(duration=1.0)
        w.controller.generate()
        wait_idle(qtbot, w)
        take_id = w.session.current.id
        assert w.takes.history.count() == 1 and _ids_in_list(w) == {take_id}
        text = w.notice_bar.text()
        assert w.notice_bar.isVisible() and "Not saved" in text and "is full" in text
        assert "free some space" in text and "Retry save" in text
        assert w.save_status.retry_btn.isVisible() and "1 take(s) not saved" in w.save_status.label.text()
        assert w.commands.is_enabled("retry_save")
        assert _visible_takes(data_dir / "takes") == []  # nothing half-written
        assert w.error_box is None

        w.close()  # unsaved takes: the window asks instead of closing
        assert w.isVisible() and w.unsaved_box is not None and w.unsaved_box.isVisible()
        assert "1 take(s) are not saved" in w.unsaved_box.text()
        w.unsaved_box.button(QMessageBox.StandardButton.Cancel).click()
        assert w.isVisible()

        filler.unlink()
        qtbot.mouseClick(w.save_status.retry_btn, Qt.MouseButton.LeftButton)
        wait_idle(qtbot, w)
        assert not w.save_status.retry_btn.isVisible() and not w.notice_bar.isVisible()
        assert w.save_status.label.text() == ""
        saved = _visible_takes(data_dir / "takes")
        assert len(saved) == 1 and saved[0].endswith(take_id)
        audio = w.session.current.take.audio.copy()
        w.close()
        assert not w.isVisible()  # nothing unsaved: closes without asking

        w2 = make_window()
        assert _ids_in_list(w2) == {take_id}
        np.testing.assert_array_equal(w2.session.items[take_id].take.audio, audio)
        w2.close()


def test_explanation_that_does_not_fit_the_disk_is_kept_and_retried(make_window, qtbot, data_dir):
    with tmpfs(data_dir, 8 * 1024):
        w = make_window()
        w.session.set_prompt("a clock ticks")
        w.session.set_params(duration=1.0)
        w.generation.explainer.form.set_value("epochs", 2)
        w.controller.generate()
        wait_idle(qtbot, w)
        folder = w.session.current.folder
        assert folder is not None and (folder / "take.json").is_file()
        filler = fill(data_dir)
        w.controller.explain()
        wait_idle(qtbot, w)
        assert w.session.current.explanation is not None  # shown, though not on disk
        assert not (folder / "explanation.json").exists()
        assert w.notice_bar.isVisible() and "Not saved" in w.notice_bar.text()
        assert w.save_status.retry_btn.isVisible()
        filler.unlink()
        w.commands.trigger("retry_save")
        wait_idle(qtbot, w)
        assert (folder / "explanation.json").is_file() and not w.save_status.retry_btn.isVisible()


# --------------------------------------------------------------------------- unusable data folder

def test_read_only_data_folder_starts_with_autosave_off(make_window, qtbot, data_dir):
    w = make_window()
    w.session.set_prompt("rain on a roof")
    w.session.set_params(duration=1.0)
    w.controller.generate()
    wait_idle(qtbot, w)
    first = w.session.current.id
    w.close()
    settings_before = (data_dir / "settings.json").read_bytes()
    takes_before = _visible_takes(data_dir / "takes")
    with read_only(data_dir):
        w2 = make_window()
        text = w2.notice_bar.text()
        assert w2.notice_bar.isVisible() and text.startswith("Autosave is off")
        assert str(data_dir / "takes") in text and "read-only" in text and "AGX_DATA_DIR" in text
        assert "Autosave off" in w2.save_status.label.text()
        assert _ids_in_list(w2) == {first}  # what was saved before is still shown
        w2.session.set_params(seed=7)
        w2.session.set_prompt("rain on a tin roof")
        w2.controller.generate()
        wait_idle(qtbot, w2)
        assert w2.takes.history.count() == 2 and w2.session.current.id != first
        assert "Not saved" in w2.notice_bar.text() and "autosave is off" in w2.notice_bar.text()
        assert w2.save_status.retry_btn.isVisible()
        assert w2.error_box is None
        w2.close()
        assert w2.isVisible() and "1 take(s) are not saved" in w2.unsaved_box.text()
        _unsaved_box_button(w2, "Quit without saving").click()
        qtbot.waitUntil(lambda: not w2.isVisible(), timeout=5000)
        assert w2.error_box is None
    assert (data_dir / "settings.json").read_bytes() == settings_before  # not saved, no error
    assert _visible_takes(data_dir / "takes") == takes_before


def test_data_dir_that_is_a_file_starts_with_autosave_off(make_window, qtbot, tmp_path, monkeypatch):
    not_a_folder = tmp_path / "agx-data-file"
    not_a_folder.write_text("I am a file")
    monkeypatch.setenv("AGX_DATA_DIR", str(not_a_folder))
    w = make_window()
    text = w.notice_bar.text()
    assert w.notice_bar.isVisible() and "Autosave is off" in text and "is a file, not a folder" in text
    assert "AGX_DATA_DIR" in text
    w.session.set_prompt("a door creaks")
    w.session.set_params(duration=1.0)
    w.controller.generate()
    wait_idle(qtbot, w)
    assert w.takes.history.count() == 1
    wav = w.controller.wav_for(w.session.current.id)  # drag-out still works (from the temporary folder)
    assert wav is not None and sf.info(str(wav)).frames == w.session.current.take.audio.shape[-1]
    w.close()
    _unsaved_box_button(w, "Quit without saving").click()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=5000)
    assert not_a_folder.read_text() == "I am a file" and w.error_box is None


# --------------------------------------------------------------------------- permissions

@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_exports_and_drag_out_get_ordinary_permissions(generated, tmp_path, umask):
    w = generated
    want = 0o666 & ~umask
    old = os.umask(umask)
    try:
        out = tmp_path / f"out{umask:o}"
        out.mkdir()
        files = [w.controller.export_current(out),
                 w.exports.export_explanation(out / "e.json", "json"),
                 w.exports.export_explanation(out / "e.csv", "csv"),
                 w.exports.export_explanation(out / "e.png", "png"),
                 w.controller.wav_for(w.session.current.id)]
    finally:
        os.umask(old)
    assert None not in files and w.error_box is None
    for f in files:
        assert stat.S_IMODE(os.stat(f).st_mode) == want, f"{f.name}: {oct(stat.S_IMODE(os.stat(f).st_mode))}"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temporaries left
    assert json.loads((out / "e.json").read_text(encoding="utf-8"))["take_id"] == w.session.current.id


def test_a_take_above_full_scale_is_said_when_it_arrives(make_window, qtbot):
    """A "loud" prompt's take can peak at +13 dBFS (the decoders do not limit): the status bar says so when
    it arrives, with the fix (an export normalises it), instead of a waveform cut off at ±1 and nothing else."""
    from agx_desktop.ui.analysis import analyse
    take, _ = _template()
    loud = dataclasses.replace(take, id="loudtake0001", audio=np.asarray(take.audio) / np.abs(take.audio).max() * 4.0)
    w = make_window()
    w.controller._on_new_items([analyse(loud)])
    message = w.statusBar().currentMessage()
    assert "loudtake0001" in message and "+12.0 dBFS" in message and "above full scale" in message
    quiet = dataclasses.replace(take, id="quiettake001")
    w.statusBar().clearMessage()
    w.controller._on_new_items([analyse(quiet)])
    assert "above full scale" not in w.statusBar().currentMessage()
