"""Where the app keeps its files: platformdirs' user data dir, or ``$AGX_DATA_DIR`` when set."""
from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

APP_NAME = "AGX Desktop"
ENV_DATA_DIR = "AGX_DATA_DIR"


def data_dir() -> Path:
    """The app's data folder (created on demand)."""
    override = os.environ.get(ENV_DATA_DIR)
    path = Path(override).expanduser() if override else Path(user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def takes_dir() -> Path:
    path = data_dir() / "takes"
    path.mkdir(parents=True, exist_ok=True)
    return path


def drag_dir() -> Path:
    """WAVs written for drag-and-drop out of the window (kept: the drop target may read them late)."""
    path = data_dir() / "drag"
    path.mkdir(parents=True, exist_ok=True)
    return path


def prune_drag_dir(max_age_days: float = 7.0) -> int:
    """Delete drag-out WAVs older than ``max_age_days`` (a DAW has long copied them); returns how many."""
    import shutil
    import time
    root = data_dir() / "drag"
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_days * 86400
    removed = 0
    for entry in root.iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def settings_path() -> Path:
    return data_dir() / "settings.json"


def resources_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "resources"
