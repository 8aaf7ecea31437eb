"""Crash-safe file writes shared by takes, explanations, settings, evaluation results and exports.

Every file the project writes goes through :func:`atomic_write`: the bytes go to a temporary file
beside the destination, are flushed and fsynced, get the permissions an ordinary file would get
(``0666`` less the user's umask, not ``mkstemp``'s private ``0600``), and are renamed over the
destination; the folder is then fsynced so the rename itself survives a power cut. A crash at any
moment leaves either the old file or the new one, plus at worst a temporary file whose name
(:data:`TMP_TAG`, the writer's pid) lets :func:`clean_stale_temps` remove it later.
"""
from __future__ import annotations

import errno
import json
import math
import os
import secrets
import threading
import typing as tp
from pathlib import Path

TMP_TAG = ".agx-tmp-"
_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it, under a lock: there is no getter)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_mode(is_dir: bool = False) -> int:
    """The mode ``open()``/``mkdir()`` would give a new file or folder under the current umask."""
    return (0o777 if is_dir else 0o666) & ~current_umask()


def apply_default_mode(path: str | Path, is_dir: bool = False) -> None:
    """Give ``path`` the ordinary permissions (temp files and ``mkdtemp`` folders are 0600/0700)."""
    try:
        os.chmod(path, default_mode(is_dir))
    except OSError:  # a file system without modes (FAT, some network shares): nothing to fix
        pass


def fsync_file(path: str | Path) -> None:
    """Flush a written file's data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Make renames and creations inside folder ``path`` durable (a no-op where folders can't be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_name(final_name: str, kind: str = "") -> str:
    """A hidden temporary name for ``final_name`` that records the writing process's pid."""
    return f".{final_name[:80]}{TMP_TAG}{kind}{os.getpid()}-{secrets.token_hex(4)}"


def temp_owner_pid(name: str) -> int | None:
    """The pid recorded in a :func:`temp_name`, or None if ``name`` is not one of ours."""
    if TMP_TAG not in name:
        return None
    tail = name.rsplit(TMP_TAG, 1)[1]
    digits = tail.rsplit("-", 1)[0].lstrip("abcdefghijklmnopqrstuvwxyz")
    return int(digits) if digits.isdigit() else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (conservatively True when unsure)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def clean_stale_temps(folder: str | Path) -> list[Path]:
    """Remove temporary files/folders left in ``folder`` by writers that no longer run; returns them."""
    import shutil

    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        pid = temp_owner_pid(entry.name)
        if pid is None or pid_alive(pid):
            continue
        try:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def atomic_write(path: str | Path, writer: tp.Callable[[Path], None]) -> Path:
    """Call ``writer(tmp)`` to fill a temporary file beside ``path``, then make it ``path`` atomically.

    The temporary file is fsynced, given the umask's permissions and renamed over ``path``; the
    folder is fsynced after. On any error the temporary file is removed and the error re-raised,
    and ``path`` is as it was.
    """
    path = Path(path)
    tmp = path.parent / temp_name(path.name)
    try:
        writer(tmp)
        if not tmp.exists():
            raise OSError(f"the writer did not create {tmp}")
        fsync_file(tmp)
        apply_default_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def make_folders(folder: str | Path) -> list[Path]:
    """Create ``folder`` and any missing parents (an export to a new folder), returning the folders this
    call created, outermost first, so a failed write can take them away again (:func:`remove_folders`).
    Raises OSError as ``mkdir`` does (a file in the way, no permission)."""
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    for p in missing:
        p.mkdir()
    return missing


def remove_folders(created: tp.Sequence[Path]) -> None:
    """Remove the folders :func:`make_folders` created, innermost first, those still empty only."""
    for p in reversed(list(created)):
        try:
            p.rmdir()
        except OSError:
            return


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    def writer(tmp: Path) -> None:
        with open(tmp, "xb") as f:
            f.write(data)
    return atomic_write(path, writer)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically; line ends are kept as given (CSV brings \\r\\n)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def strict_json(data: tp.Any, indent: int | None = 1) -> str:
    """JSON that every strict reader accepts: NaN and ±Infinity are refused (ValueError), not written."""
    return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)


def write_json_atomic(path: str | Path, data: tp.Any) -> Path:
    """Write strict JSON (:func:`strict_json`) to ``path`` atomically."""
    return write_text_atomic(path, strict_json(data))


def is_finite_number(value: tp.Any) -> bool:
    """True for an int or float that is finite (bools are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_file_in_the_way(path: Path) -> bool:
    try:
        return path.exists() and not path.is_dir()
    except OSError:  # no permission to look: not known to be a file
        return False


def describe_os_error(exc: BaseException, path: str | Path, *, advice: bool = True) -> str:
    """Why writing into folder ``path`` failed, in words that name it, and what to do about it.

    The one errno → words table of the project (take folders, autosave, the data folder, exports):
    ``"the disk holding /x is full; free some space or choose another folder"``. ``advice=False``
    gives the reason alone, for callers whose fix differs (the app's "Retry save"). An exception
    without an errno whose text speaks of space or quota (libsndfile, safetensors) counts as a full disk.
    """
    path = Path(path)
    code = getattr(exc, "errno", None)
    text = (str(exc).splitlines() or [""])[0][:160] or type(exc).__name__
    full = "free some space or choose another folder"
    denied = "choose a folder you may write to"
    culprit = None
    if code in (errno.ENOTDIR, errno.EEXIST) or _is_file_in_the_way(path):
        culprit = next((p for p in (path, *path.parents) if _is_file_in_the_way(p)), path)
    if code == errno.ENOSPC or (code is None and any(w in text.lower() for w in ("space", "disk full"))):
        reason, fix = f"the disk holding {path} is full", full
    elif code == getattr(errno, "EDQUOT", -1) or (code is None and "quota" in text.lower()):
        reason, fix = f"the disk holding {path} is full (your quota is used up)", full
    elif code == errno.EROFS:
        reason, fix = f"{path} is on a read-only disk", denied
    elif code in (errno.EACCES, errno.EPERM):
        reason, fix = f"{path} is not writable (permission denied)", denied
    elif culprit is not None:
        reason, fix = f"{culprit} is a file, not a folder", "move that file away or choose another folder"
    elif code == errno.ENOENT:
        reason, fix = f"{path} does not exist and cannot be created", "choose another folder"
    else:
        why = getattr(exc, "strerror", None) or text
        reason, fix = f"cannot write to {path} ({why})", "check the disk and try again"
    return f"{reason}; {fix}" if advice else reason
