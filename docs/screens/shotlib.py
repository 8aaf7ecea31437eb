"""What the screenshot scripts of docs/screens share: a fresh data dir with the settings a shot starts
from, and reading the running app as a user sees it (its main window, the job bar's text).

The scripts run the real entry point on an X server and import this file from beside them
(``python docs/screens/capture*.py`` puts this folder on ``sys.path``)."""
from __future__ import annotations

import json
import os
import tempfile
import typing as tp


def fresh_data_dir(settings: dict[str, tp.Any] | None = None, prefix: str = "agx-shot-") -> str:
    """A new, empty AGX data dir (``AGX_DATA_DIR``; the hub kept offline) holding ``settings`` as the
    app's settings.json; call before the app is imported."""
    data = tempfile.mkdtemp(prefix=prefix)
    os.environ["AGX_DATA_DIR"] = data
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if settings is not None:
        with open(os.path.join(data, "settings.json"), "w") as f:
            json.dump(settings, f)
    return data


def window() -> tp.Any:
    """The app's visible main window, once it is shown (else None)."""
    from PySide6.QtWidgets import QApplication, QMainWindow
    app = QApplication.instance()
    widgets = app.topLevelWidgets() if app is not None else []
    return next((w for w in widgets if isinstance(w, QMainWindow) and w.isVisible()), None)


def progress_text() -> str:
    """The job bar's text ("Done: Load model bundled", "Generate … — generate 15/128"): what a user reads."""
    from PySide6.QtWidgets import QProgressBar
    w = window()
    bars = w.findChildren(QProgressBar) if w else []
    return bars[0].format() if bars else ""
