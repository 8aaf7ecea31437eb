"""Where the app keeps its files: platformdirs' user data dir, or ``$AGX_DATA_DIR`` when set.

Nothing here raises for an unusable data folder (read-only, a file, no permission): the app must
still start, with autosave off and a notice built from :func:`writable_problem` (``TakeStore.check``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from platformdirs import user_data_dir

from agx_desktop.engine.fsio import describe_os_error, temp_name
from agx_desktop.engine.resources import RESOURCES_DIR

APP_NAME = "AGX Desktop"
ENV_DATA_DIR = "AGX_DATA_DIR"


def configured_data_dir() -> Path:
    """The data folder the user configured (or the platform default); not touched on disk."""
    override = os.environ.get(ENV_DATA_DIR)
    return Path(override).expanduser() if override else Path(user_data_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """The app's data folder, created on demand when that is possible (never raises)."""
    path = configured_data_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # writable_problem() says why; callers that write handle their own errors
    return path


def writable_problem(folder: str | Path) -> str | None:
    """Why files cannot be created in ``folder`` (created if missing), or None when they can.

    Tries for real (create and remove a hidden probe file): permission bits say nothing for root,
    and only a write shows a read-only mount.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / temp_name("write-probe")
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return describe_os_error(exc, folder, advice=False)
    return None


def takes_dir() -> Path:
    """``<data dir>/takes`` (created when possible; never raises)."""
    path = data_dir() / "takes"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return path


def drag_dir() -> Path:
    """WAVs written for drag-and-drop out of the window (kept: the drop target may read them late).

    In the data folder; in the system's temporary folder when the data folder can't be written,
    so dragging still works with autosave off.
    """
    path = data_dir() / "drag"
    if writable_problem(path) is None:
        return path
    fallback = Path(tempfile.gettempdir()) / f"agx-desktop-drag-{os.getuid() if hasattr(os, 'getuid') else 0}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def prune_drag_dir(max_age_days: float = 7.0) -> int:
    """Delete drag-out WAVs older than ``max_age_days`` (a DAW has long copied them); returns how many."""
    root = data_dir() / "drag"
    try:
        if not root.is_dir():
            return 0
        entries = list(root.iterdir())
    except OSError:
        return 0
    cutoff = time.time() - max_age_days * 86400
    removed = 0
    for entry in entries:
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
    """The shipped ``resources/`` folder (icons), as the engine defines it."""
    return RESOURCES_DIR
