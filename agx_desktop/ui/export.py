"""The app's side of WAV export: its settings become the engine's options, its errors one dialog line.

Everything that decides what is written — resampling, loudness with a true-peak ceiling and limiter,
BWF ``bext``/``iXML``/INFO metadata, the atomic write — lives in the engine
(:mod:`agx_desktop.engine.delivery`), so the Export dialog, drag-out and ``agx export`` write the
same bytes. Here: :class:`~.settings.ExportSettings` -> :class:`ExportOptions`, the file name and
its ``_2`` suffix (the dialog never overwrites), and the atomic text/PNG writes of the other exports.
"""
from __future__ import annotations

import csv
import errno
import io
import os
import shutil
import typing as tp
from pathlib import Path

from agx_desktop.engine import fsio
from agx_desktop.engine.delivery import export as delivery
from agx_desktop.engine.delivery.export import (PATTERN_FIELDS, RATES, SUBTYPES, ExportError, ExportOptions,
                                                fx_name, safe_filename, unique_path)
from agx_desktop.engine.errors import AgxError

from .settings import ExportSettings

if tp.TYPE_CHECKING:
    from agx_desktop.engine.explanation import Explanation
    from agx_desktop.engine.take import Take

__all__ = ["SUBTYPES", "RATES", "PATTERN_FIELDS", "ExportError", "options_from_settings", "file_name",
           "export_take", "atomic_write", "write_text_atomic", "explanation_csv", "fx_name", "safe_filename",
           "unique_path"]


def options_from_settings(opts: ExportSettings) -> ExportOptions:
    """The engine's options for the dialog's settings (a ceiling or limiting setting, once the dialog
    has one, is taken too; until then the engine's defaults: -1 dBTP, at most 30 dB of limiting)."""
    extra = {name: getattr(opts, name) for name in ("true_peak", "max_limit") if hasattr(opts, name)}
    return ExportOptions(subtype=opts.subtype, sample_rate=int(opts.sample_rate), normalize=opts.normalize,
                         lufs=float(opts.lufs), peak_db=float(opts.peak_db), catid=opts.catid,
                         creator=opts.creator, source=opts.source, **extra)


def file_name(take: "Take", opts: ExportSettings, ext: str = ".wav") -> str:
    """The export file name from the settings' pattern (UCS by default)."""
    return delivery.file_name(take, opts.pattern, opts.catid, opts.creator, opts.source, ext)


def export_take(take: "Take", folder: str | Path, opts: ExportSettings, name: str | None = None,
                overwrite: bool = False, explanation: "Explanation | None" = None) -> tuple[Path, str]:
    """Export ``take`` into ``folder``; returns the written path and what the meter reads on it.

    ``overwrite=False`` (the dialog) adds ``_2``, ``_3``... to an existing name; drag-out replaces its
    own file. ``explanation``: the take's, for the iXML Keywords (its important words)."""
    folder = Path(folder).expanduser()
    target = folder / (name or file_name(take, opts))
    if not overwrite:
        target = unique_path(target)
    try:
        result = delivery.export_wav(take, target, options_from_settings(opts), explanation)
    except ExportError:
        raise
    except AgxError as exc:  # a bad option: the same one line
        raise ExportError(str(exc)) from exc
    return result.path, result.message


# --------------------------------------------------------------------------- other files (text, PNG)

def _diagnose(folder: Path, needed: int) -> OSError | None:
    """What really stopped a write that failed without an errno (Qt's image writer says only False):
    try creating a file, then look at the free space."""
    probe = folder / fsio.temp_name("write-probe")
    try:
        os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.unlink(probe)
    except OSError as exc:
        return exc
    try:
        if shutil.disk_usage(folder).free < max(needed, 1 << 16):
            return OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        pass
    return None


def atomic_write(path: Path, writer: tp.Callable[[str], None], suffix: str = "", needed: int = 0) -> Path:
    """Call ``writer(tmp_path)`` on a temporary file beside ``path`` then rename it to ``path``
    (:func:`agx_desktop.engine.fsio.atomic_write`); every failure is one :class:`ExportError` line and
    nothing is left behind. ``suffix`` is kept for callers; ``needed``: about how many bytes it takes."""
    path = Path(path)
    folder = path.parent
    created: list[Path] = []
    try:
        created = fsio.make_folders(folder)  # a folder typed in the dialog that does not exist yet is made
        fsio.atomic_write(path, lambda tmp: writer(str(tmp)))
    except ExportError:
        fsio.remove_folders(created)
        raise
    except OSError as exc:
        fsio.remove_folders(created)
        raise ExportError(fsio.describe_os_error(exc, folder)) from exc
    except Exception as exc:
        fsio.remove_folders(created)
        cause = _diagnose(folder, needed)
        if cause is not None:
            raise ExportError(fsio.describe_os_error(cause, folder)) from exc
        raise ExportError(f"could not write {path.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` atomically with ordinary permissions; failures are one :class:`ExportError`."""
    def writer(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return atomic_write(Path(path), writer)


def explanation_csv(explanation: tp.Any) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(explanation.to_csv_rows())
    return buf.getvalue()
