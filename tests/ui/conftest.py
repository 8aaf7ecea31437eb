"""UI test fixtures: offscreen Qt, a temporary data dir, the real engine with the untrained 'bundled'
stand-in (deterministic, fast), and a fake audio stream whose clock the tests move."""
from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import typing as tp  # noqa: E402

import pytest  # noqa: E402

from uihelpers import wait_idle  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _style(qapp):
    from agx_desktop.ui.app import apply_style
    apply_style(qapp)
    qapp.setApplicationName("AGX Desktop (tests)")
    yield


@pytest.fixture(autouse=True)
def _collect_previous_windows(qapp):
    """Free the previous tests' Qt objects here, at a safe point: when Python's collector instead runs
    inside a Qt call that holds Qt's signal-slot lock (pyqtgraph disconnects while building a plot),
    destroying an old window's pyqtgraph menu there waits on that same lock forever (PySide 6.11)."""
    import gc
    from PySide6.QtCore import QCoreApplication, QEvent
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qapp.processEvents()
    gc.collect()
    yield


def pytest_configure(config):
    config.addinivalue_line("markers", "real_bundled: use resources/bundled's trained model when it is there")


_STAND_IN: dict = {}  # the untrained stand-in, loaded once for all UI tests, outside the model cache


@pytest.fixture(autouse=True)
def _untrained_bundled(request, monkeypatch):
    """'bundled' = the in-process untrained stand-in (loaded once for the UI tests); after each test the
    model cache holds what it held before, so tests outside tests/ui that run later get the trained one."""
    from agx_desktop.engine import models
    key = ("bundled", "cpu")
    cached = models._CACHE.get(key)
    if request.node.get_closest_marker("real_bundled"):
        if cached is not None and not cached.trained:
            monkeypatch.delitem(models._CACHE, key)  # an earlier test cached the stand-in
        yield
        return
    monkeypatch.setitem(models._ALIASES, models.BUNDLED_ID, models.STAND_IN_ID)
    if key in _STAND_IN:
        monkeypatch.setitem(models._CACHE, key, _STAND_IN[key])
    elif key in models._CACHE:
        monkeypatch.delitem(models._CACHE, key)
    else:  # record "absent", so that the stand-in a test loads is not left cached as 'bundled' after it
        monkeypatch.setitem(models._CACHE, key, None)
        monkeypatch.delitem(models._CACHE, key)
    yield
    now = models._CACHE.get(key)
    if now is not None and not now.trained:
        _STAND_IN[key] = now  # kept for the next UI test; the cache gets back what it held before this one


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "agx-data"
    monkeypatch.setenv("AGX_DATA_DIR", str(d))
    return d


@pytest.fixture
def make_window(qtbot, data_dir):
    from agx_desktop.ui.main_window import MainWindow
    from agx_desktop.ui.playback import FakeStream, Player

    windows: list[tp.Any] = []

    def make(player: tp.Any = "fake", **kw: tp.Any) -> tp.Any:
        if player == "fake":
            player = Player(stream_factory=FakeStream)
        w = MainWindow(player=player, **kw)
        qtbot.addWidget(w)
        w.resize(1440, 900)
        w.show()
        wait_idle(qtbot, w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.runner.shutdown()
        w.player.close()


@pytest.fixture
def generated(make_window, qtbot):
    """A window with one explained 1 s take (seed 3, 5 epochs)."""
    w = make_window()
    w.session.set_prompt("a dog barks then a bell rings")
    w.session.set_params(duration=1.0, seed=3)
    w.generation.explainer.form.set_value("epochs", 5)
    w.commands.trigger("generate_explain")
    wait_idle(qtbot, w)
    assert w.session.current is not None and w.session.current.explanation is not None
    return w
