"""WAV export and drag-out: formats, rates, loudness, metadata, atomic writes, clear errors."""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QUrl

from agx_desktop.ui import export as ex
from agx_desktop.ui.settings import ExportSettings


class _Params:
    seed, duration, cfg_coef, top_k, top_p, temperature = 7, 1.0, 3.0, 250, 0.0, 1.0


class _Take:
    """Just what export needs from a Take."""

    def __init__(self, sr=16000, seconds=1.0, amp=0.1):
        t = np.arange(int(sr * seconds)) / sr
        self.audio = (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        self.sample_rate, self.prompt, self.model_id, self.kind = sr, "rain on a tin roof", "bundled", "original"
        self.params, self.word_weights, self.id, self.created = _Params(), None, "abc123", "2026-11-26T09:00:00"
        self.parent = None

    @property
    def duration(self):
        return self.audio.shape[-1] / self.sample_rate


def carries_bwf_of(path, take) -> bool:
    """Whether ``path`` carries ``take``'s bext and iXML (read back by wavinfo)."""
    wavinfo = pytest.importorskip("wavinfo")
    info = wavinfo.WavInfoReader(str(path))
    assert info.bext.description == take.prompt and info.bext.originator == "AGX Desktop"
    assert info.ixml.raw_xml.find("USER/CATID").text == "MISCMisc"
    assert info.ixml.raw_xml.find("AGX/SEED").text == str(take.params.seed)
    return True


@pytest.mark.parametrize("subtype,rate", [("PCM_16", 0), ("PCM_24", 44100), ("FLOAT", 48000)])
def test_formats_and_rates(tmp_path, subtype, rate):
    take = _Take()
    opts = ExportSettings(subtype=subtype, sample_rate=rate, normalize="peak", peak_db=-1.0)
    path, note = ex.export_take(take, tmp_path, opts)
    info = sf.info(str(path))
    assert info.subtype == subtype and info.samplerate == (rate or 16000)
    assert abs(info.duration - 1.0) < 1e-3
    data, _ = sf.read(str(path))
    assert np.abs(data).max() == pytest.approx(10 ** (-1 / 20), abs=2e-3)
    with sf.SoundFile(str(path)) as f:
        assert "seed=7" in f.comment and "model=bundled" in f.comment and "prompt=rain on a tin roof" in f.comment
        assert f.title == "rain on a tin roof"


def test_loudness_normalisation_default_minus_14(tmp_path):
    import pyloudnorm as pyln
    take = _Take(seconds=2.0, amp=0.01)
    path, note = ex.export_take(take, tmp_path, ExportSettings(subtype="FLOAT"))
    data, sr = sf.read(str(path))
    assert pyln.Meter(sr).integrated_loudness(data) == pytest.approx(-14.0, abs=0.2)
    assert note.startswith("-14.0 LUFS") and "true peak" in note


def test_ucs_file_name_pattern_and_bad_pattern(tmp_path):
    take = _Take()
    assert ex.file_name(take, ExportSettings()) == "MISCMisc_Rain On A Tin Roof_AGX_AGXDesktop.wav"
    opts = ExportSettings(pattern="{catid}_{fxname}_s{seed}_{model}", catid="RAINTin")
    assert ex.file_name(take, opts) == "RAINTin_Rain On A Tin Roof_s7_bundled.wav"
    take.prompt = 'a <weird>: "name"/with\\slashes?'
    assert "/" not in ex.file_name(take, opts) and "?" not in ex.file_name(take, opts)
    with pytest.raises(ex.ExportError, match="unknown field"):
        ex.file_name(take, ExportSettings(pattern="{nope}"))
    p1, _ = ex.export_take(_Take(), tmp_path, ExportSettings())
    p2, _ = ex.export_take(_Take(), tmp_path, ExportSettings())
    assert p1 != p2 and p2.name.endswith("_2.wav")  # never overwrites silently


def test_read_only_dir_real_permissions(tmp_path):
    import contextlib
    from mounts import read_only
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with contextlib.ExitStack() as stack:
            if hasattr(os, "geteuid") and os.geteuid() == 0:  # root ignores chmod: a read-only mount
                stack.enter_context(read_only(ro))
            with pytest.raises(ex.ExportError, match="permission denied|read-only disk"):
                ex.export_take(_Take(), ro, ExportSettings())
            assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_full_disk_leaves_nothing(tmp_path, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(sf.SoundFile, "write", full)
    with pytest.raises(ex.ExportError, match="is full"):
        ex.export_take(_Take(), tmp_path, ExportSettings())
    assert list(tmp_path.iterdir()) == []


def test_window_export_to_read_only_dir_shows_error_and_writes_nothing(generated, tmp_path):
    import contextlib
    from mounts import read_only
    w = generated
    ro = tmp_path / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    with contextlib.ExitStack() as stack:
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # root ignores chmod: a read-only mount
            stack.enter_context(read_only(ro))
        assert w.controller.export_current(ro) is None
        assert w.controller.last_error is not None and re.search("permission denied|read-only disk", w.controller.last_error[1])
        assert w.error_box is not None and w.error_box.isVisible()
        assert re.search("permission denied|read-only disk", w.error_box.informativeText())
        assert list(ro.iterdir()) == []
    w.error_box.close()
    out = tmp_path / "ok"
    out.mkdir()
    path = w.controller.export_current(out)  # still usable, and the file is a BWF with the take's metadata
    assert path is not None and carries_bwf_of(path, w.session.current.take)


def test_drag_mime_holds_a_readable_wav(generated):
    w = generated
    take = w.session.current.take
    mime = w.takes.history.mimeData([w.takes.history.item(0)])
    urls = mime.urls()
    assert len(urls) == 1 and urls[0].isLocalFile()
    assert "text/uri-list" in mime.formats()
    data, sr = sf.read(urls[0].toLocalFile())
    assert sr == take.sample_rate and len(data) == take.audio.shape[-1]
    assert carries_bwf_of(urls[0].toLocalFile(), take)  # drag-out writes what the dialog writes
    mime2 = w.transport.mime_for_current()  # the "Drag WAV" handle
    path = QUrl(mime2.urls()[0]).toLocalFile()
    assert sf.info(path).frames == take.audio.shape[-1] and path.endswith(".wav")


def test_export_dialog_previews_name_and_rejects_bad_pattern(generated, tmp_path):
    from PySide6.QtWidgets import QDialogButtonBox
    from agx_desktop.ui.widgets.export_dialog import ExportDialog
    w = generated
    dlg = ExportDialog(ExportSettings(folder=str(tmp_path)), w.session.current.take, w)
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dlg.preview.text().startswith("MISCMisc_A Dog Barks") and ok.isEnabled()
    dlg.pattern.setText("{catid}_{bogus}")
    assert not ok.isEnabled() and "unknown field" in dlg.preview.text()
    dlg.pattern.setText("{fxname}_{seed}")
    dlg.subtype.setCurrentIndex(dlg.subtype.findData("PCM_16"))
    dlg.rate.setCurrentIndex(dlg.rate.findData(44100))
    o = dlg.result_settings()
    assert (o.pattern, o.subtype, o.sample_rate, o.folder) == ("{fxname}_{seed}", "PCM_16", 44100, str(tmp_path))
    path = w.controller.export_current(o.folder, o)
    assert path.name == "A Dog Barks Then A Bell Rings_3.wav" and sf.info(str(path)).samplerate == 44100


def test_writer_failure_of_any_kind_is_one_clear_error(tmp_path, monkeypatch):
    def broken(self, data):
        raise RuntimeError("libsndfile says no")
    monkeypatch.setattr(sf.SoundFile, "write", broken)
    with pytest.raises(ex.ExportError, match="libsndfile says no"):
        ex.export_take(_Take(), tmp_path, ExportSettings())
    assert list(tmp_path.iterdir()) == []


def test_drag_handle_starts_a_drag_with_the_wav(generated, qtbot, monkeypatch):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QDrag
    w = generated
    seen = []

    pixmaps = []

    def fake_exec(self, *a, **k):  # a real drag would wait for a drop target
        seen.append(self.mimeData().urls()[0].toLocalFile())
        pixmaps.append(self.pixmap())
        return Qt.DropAction.CopyAction
    monkeypatch.setattr(QDrag, "exec", fake_exec)
    h = w.transport.drag_handle
    qtbot.mousePress(h, Qt.MouseButton.LeftButton, pos=QPoint(5, 5))
    qtbot.mouseMove(h, QPoint(40, 30))
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication
    ev = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(60, 40), h.mapToGlobal(QPointF(60, 40)),
                     Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(h, ev)
    assert len(seen) == 1 and sf.info(seen[0]).frames == w.session.current.take.audio.shape[-1]
    assert shows_a_waveform(pixmaps[0])  # the drag has a picture under the pointer, not Qt's blank


def shows_a_waveform(pixmap) -> bool:
    """A drag picture: not null, and with the waveform's colour in a good part of its columns."""
    from PySide6.QtGui import QColor
    if pixmap.isNull() or pixmap.width() < 100:
        return False
    image = pixmap.toImage()
    wave = QColor("#5fb3ff").rgb()
    columns = {x for x in range(8, image.width() - 8) for y in range(image.height() // 3, image.height() - 2)
               if image.pixel(x, y) == wave}
    return len(columns) > (image.width() - 16) // 2


def test_dragging_a_take_out_of_the_list_shows_its_name_and_waveform(generated, monkeypatch):
    """Takes list drag-out: the QDrag carries the real WAV file's URL and a picture (name + waveform)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QDrag
    from agx_desktop.ui.widgets.history import drag_pixmap
    w = generated
    history = w.takes.history
    history.setCurrentItem(history.item(0))
    drags = []

    def fake_exec(self, *a, **k):  # a real drag would wait for a drop target
        drags.append((self.mimeData().urls(), self.pixmap()))
        return Qt.DropAction.CopyAction
    monkeypatch.setattr(QDrag, "exec", fake_exec)
    history.startDrag(Qt.DropAction.CopyAction)  # what Qt calls once the mouse has moved far enough
    (urls, pixmap), = drags
    path = urls[0].toLocalFile()
    assert len(urls) == 1 and urls[0].isLocalFile() and path.endswith(".wav")
    assert sf.info(path).frames == w.session.current.take.audio.shape[-1]
    assert shows_a_waveform(pixmap)
    assert pixmap.toImage() == drag_pixmap(Path(path)).toImage()  # the same picture: the file's name on it
    blank = drag_pixmap(Path(path).with_name("missing.wav"))  # an unreadable file still gets its name
    assert not blank.isNull() and not shows_a_waveform(blank)


def test_agx_export_writes_the_bytes_the_app_writes(tiny_take, tmp_path, capsys):
    """Same take, same settings: `agx export` and the Export dialog's path give identical files."""
    from agx_desktop.engine import take_folder
    from agx_desktop.engine.cli import run
    folder = take_folder.save_take(tiny_take, tmp_path / "take")
    take = take_folder.load_take(folder)
    opts = ExportSettings(subtype="PCM_24", sample_rate=48000, normalize="lufs", lufs=-16.0, catid="DOGBark",
                          creator="JD", source="AGXLib")
    app_path, note = ex.export_take(take, tmp_path, opts, name="app.wav")
    assert run(["export", str(folder), str(tmp_path / "cli.wav"), "--lufs", "-16", "--true-peak", "-1", "--bits", "24",
                "--rate", "48000", "--ucs", "DOGBark,,JD,AGXLib"]) == 0
    assert note in capsys.readouterr().out
    assert (tmp_path / "cli.wav").read_bytes() == app_path.read_bytes()

