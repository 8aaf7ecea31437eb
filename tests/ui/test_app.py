"""The entry point starts the window and quits cleanly (what `python main.py` / `agx-desktop` run)."""
from __future__ import annotations


def test_main_opens_and_quits(data_dir, monkeypatch, qapp):
    from agx_desktop.ui import app
    monkeypatch.setenv("AGX_DESKTOP_SMOKE", "1")
    monkeypatch.setenv("AGX_DESKTOP_SMOKE_MS", "800")
    assert app.main([]) == 0
    assert (data_dir / "settings.json").is_file()  # settings written on quit
    assert (data_dir / "takes").is_dir()
