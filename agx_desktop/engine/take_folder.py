"""Take folders on disk: where one may be written, one writer at a time, crash-safe, checked on read.

Layout of a take folder::

    audio.wav             float32 WAV (lossless; export converts to 16/24-bit)
    take.json             prompt, model, seed, every generation parameter, tokens ↔ words
    tensors.safetensors   codes [K, T] and latents [steps, D] (and the step mask, if any)
    explanation.json      written by ``agx explain`` (see :mod:`explain.base`)

Four rules keep a user's data safe:

* **Where**: :func:`check_out_path` lets a take be written only to a new path, an empty folder or
  an existing AGX take; it refuses ``.``, ``..``, ``~``, ``/``, a file, a symlink elsewhere, any
  other folder — ``--out`` must never delete what the user keeps there.
* **Who**: :func:`take_lock` is an exclusive inter-process lock per take path (a hidden
  ``.NAME.agx-lock`` beside the folder); a second writer gets :class:`TakeBusyError` at once.
* **How**: :func:`save_take` builds the take in a hidden temporary folder beside the target (named
  by :func:`fsio.temp_name`, so it records the writer's pid), fsyncs every file, then swaps it in
  (old → pid-tagged trash name, temporary → target, fsync the parent, delete the trash).
* **After a crash**: :func:`recover` (run by every reader and writer) puts a take back at its
  path if a writer died between the two renames, and removes what dead writers left behind.
  A live writer's files are never touched.

Every file read back is validated (:func:`load_take`, :func:`load_explanation`); a damaged one
gives one line naming the file and what to do, never a traceback.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import threading
import typing as tp
from dataclasses import fields
from pathlib import Path

import numpy as np
import soundfile as sf

from . import fsio
from .errors import (AgxError, ExplanationError, NotATakeError, OutputPathError, ParameterError, StorageError,
                     TakeBusyError)
from .safetext import terminal_safe
from .take import GenerationParams, Take
from .text import MAX_TOKENS, TextTokens

if tp.TYPE_CHECKING:
    import torch

    from .explanation import Explanation

def load_file(path: str) -> dict[str, torch.Tensor]:
    """safetensors' reader, imported when first used: it imports torch, which the app's window must
    not wait for (issue 19)."""
    from safetensors.torch import load_file as read_tensors
    return read_tensors(path)


def save_tensors(tensors: dict[str, torch.Tensor]) -> bytes:
    """safetensors' writer (imported when first used, as :func:`load_file`)."""
    from safetensors.torch import save
    return save(tensors)


AUDIO, META, TENSORS, EXPLANATION = "audio.wav", "take.json", "tensors.safetensors", "explanation.json"
TAKE_FILES = (AUDIO, META, TENSORS)
TAKE_FORMAT = "agx-take/"
TAKE_KINDS = frozenset({"original", "weighted", "masked", "factual", "counterfactual", "region", "timeline"})
_MAX_SEGMENTS = 1000
LOCK_SUFFIX = ".agx-lock"

_MAX_JSON_BYTES = 64 << 20  # take.json is a few kB, explanation.json a few MB for the longest clip
_MAX_CODEBOOKS = 64
_MAX_CODE = 1 << 16  # audiocraft codebooks have 1024-2048 entries; anything near this is damage
_MAX_SAMPLE_RATE = 1_000_000
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # ids name folders (the app's store): no / or ..
_NEW, _OLD = "new", "old"  # temp_name kinds: the take being written, the take being replaced
_THREAD_WAIT_S = 120.0  # threads of one process wait for each other's (short) saves


# --------------------------------------------------------------------------- names

def _canonical(folder: str | os.PathLike[str]) -> Path:
    """The absolute path a take is known by (``~`` expanded, ``..`` and symlinks resolved)."""
    return Path(os.path.expanduser(os.fspath(folder))).resolve()


def _stem(name: str) -> str:
    """``name`` as it appears in hidden names beside it; long names are shortened with a hash.

    ``fsio.temp_name`` keeps 80 characters; two long names sharing those would otherwise share
    temporaries and lock, so such names get a digest of the whole name instead.
    """
    if len(name.encode("utf-8")) <= 80:
        return name
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    head = name.encode("utf-8")[:48].decode("utf-8", "ignore")
    return f"{head}~{digest}"


def lock_path(folder: str | os.PathLike[str]) -> Path:
    """The hidden lock file of the take at ``folder`` (beside it: the folder itself gets replaced)."""
    target = _canonical(folder)
    return target.parent / f".{_stem(target.name)}{LOCK_SUFFIX}"


def _temp_prefix(target: Path) -> str:
    return f".{_stem(target.name)}{fsio.TMP_TAG}"


def _is_reserved(name: str) -> bool:
    return fsio.TMP_TAG in name or name.endswith(LOCK_SUFFIX)


# --------------------------------------------------------------------------- where a take may go

def _read_json(path: Path, error: type[AgxError], fix: str) -> tp.Any:
    """Strict JSON from ``path`` (no NaN/Infinity, bounded size), or ``error`` naming the file."""
    try:
        size = path.stat().st_size
        if size > _MAX_JSON_BYTES:
            raise ValueError(f"{size} bytes is far too large")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{path} is damaged (not UTF-8 text): {fix}") from None
    except ValueError as exc:
        raise error(f"{path} is damaged ({exc}): {fix}") from None
    except OSError as exc:
        raise error(f"cannot read {path} ({exc.strerror or exc}): {fix}") from None

    def no_constant(name: str) -> tp.NoReturn:
        raise ValueError(f"{name} is not a number JSON allows")

    def finite_float(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(f"{text} is out of range")
        return value

    try:
        return json.loads(text, parse_constant=no_constant, parse_float=finite_float)
    except RecursionError:
        raise error(f"{path} is damaged (nested too deeply): {fix}") from None
    except ValueError as exc:
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise error(f"{path} is damaged (not valid JSON: {why}): {fix}") from None


def is_agx_take(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds an AGX take: the three files and a take.json of format ``agx-take/...``.

    Only such a folder may be replaced by a save (:func:`check_out_path`). Corrupt arrays do not
    matter here (that is :func:`load_take`'s job): a damaged take may still be regenerated over.
    """
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return False
    if not all((folder / f).is_file() for f in TAKE_FILES):
        return False
    try:
        meta = _read_json(folder / META, NotATakeError, "")
    except NotATakeError:
        return False
    return isinstance(meta, dict) and isinstance(meta.get("format"), str) and meta["format"].startswith(TAKE_FORMAT)


def check_out_path_for_edit(folder: str | os.PathLike[str], source: str | os.PathLike[str], command: str) -> Path:
    """:func:`check_out_path`, and not the take being edited: a derived take written over its own parent
    would replace the parent's audio and explanation and name a parent that no longer exists."""
    out = check_out_path(folder)
    try:
        same = out == Path(os.path.abspath(os.path.expanduser(os.fspath(source)))).resolve()
    except (OSError, RuntimeError):
        same = False
    if same:
        raise OutputPathError(f"--out is the take {command} reads ({terminal_safe(os.fspath(source))}): writing there "
                              "would replace it and lose the new take's parent; give another folder, e.g. "
                              f"--out {terminal_safe(os.fspath(source).rstrip('/'))}_edit (nothing was written)")
    return out


def check_out_path(folder: str | os.PathLike[str]) -> Path:
    """The absolute path a take may be written to, or :class:`OutputPathError` saying why not.

    Allowed: a path that does not exist yet, an existing empty folder, an existing AGX take
    (:func:`is_agx_take`; a symlink to one is followed). Refused: an empty name, the root, the
    home folder, the current folder or any folder above it, a file, a symlink to anything else,
    a folder holding anything but a take, hidden names this module uses. Writes nothing.
    """
    raw = os.fspath(folder) if isinstance(folder, (str, os.PathLike)) else None
    if not isinstance(raw, str):
        raise OutputPathError(f"the output folder must be a path, got {type(folder).__name__}")
    if not raw.strip():
        raise OutputPathError("the output folder name is empty: give a new folder for the take, e.g. --out takes/dog")
    if "\x00" in raw:
        raise OutputPathError("the output folder name contains a NUL character: give an ordinary folder name")
    shown = terminal_safe(raw if len(raw) <= 200 else raw[:200] + "...")  # one line, whatever the name holds
    absolute = Path(os.path.abspath(os.path.expanduser(raw)))
    try:
        if absolute.is_symlink():
            real = absolute.resolve()
            if not is_agx_take(real):
                raise OutputPathError(f"{shown} is a symbolic link (to {terminal_safe(real)}), not a take folder: "
                                      "choose a new folder name (nothing was written)")
            target = real
        else:
            target = absolute.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a path too long
        raise OutputPathError(f"{shown} cannot be resolved ({getattr(exc, 'strerror', None) or exc}): "
                              "choose another folder for the take") from None
    too_long = [p for p in target.parts if len(os.fsencode(p)) > 255]
    if too_long or len(os.fsencode(str(target))) > 4000:
        raise OutputPathError(f"{shown} is too long a name for a folder: choose a shorter one")
    try:
        home: Path | None = Path.home().resolve()
    except (OSError, RuntimeError, KeyError):
        home = None
    try:
        cwd: Path | None = Path.cwd().resolve()
    except OSError:
        cwd = None
    if target.parent == target:
        raise OutputPathError(f"{shown} is the root folder: give a new folder for the take, e.g. --out takes/dog")
    if home is not None and target == home:
        raise OutputPathError(f"{shown} is your home folder: give a new folder for the take, e.g. --out takes/dog")
    if cwd is not None and target == cwd:
        raise OutputPathError(f"{shown} is the current folder: give a new folder for the take, e.g. --out takes/dog")
    if cwd is not None and target in cwd.parents:
        raise OutputPathError(f"{shown} is a folder above the current one: give a new folder for the take, "
                              "e.g. --out takes/dog")
    if _is_reserved(target.name):
        raise OutputPathError(f"{shown} is a name agx uses for its temporary files: choose another folder name")
    if os.path.lexists(target):
        if target.is_dir():
            if is_agx_take(target):
                foreign = _foreign_entries(target)
                if foreign:
                    listed = ", ".join(terminal_safe(n) for n in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
                    raise OutputPathError(f"{shown} is a take that also holds other files ({listed}): replacing "
                                          "it would delete them, so move them out or choose a new folder name "
                                          "(nothing was written)")
                return target
            try:
                entries = os.listdir(target)
            except OSError as exc:
                raise OutputPathError(f"cannot look inside {shown} ({exc.strerror or exc}): "
                                      "choose another folder for the take") from None
            if not entries:
                return target
            raise OutputPathError(f"{shown} is a folder that is not an AGX take ({len(entries)} entries in it): "
                                  "a take replaces only an earlier take, so choose a new folder name "
                                  "(nothing was written)")
        kind = "a file" if target.is_file() else "not a folder"
        raise OutputPathError(f"{shown} is {kind}, not a take folder: choose a new folder name (nothing was written)")
    ancestor = target.parent
    while not os.path.lexists(ancestor) and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"{terminal_safe(ancestor)} is a file, so {shown} cannot be created: "
                              "choose another folder for the take")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot create {shown}: {terminal_safe(ancestor)} is not writable for you; "
                              "choose a folder you may write to")
    return target


def _foreign_entries(folder: Path) -> list[str]:
    """Names in a take folder that a save would not carry over (a user's notes, a bounce...)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [n for n in names if n not in (*TAKE_FILES, EXPLANATION) and not _is_reserved(n)]


# --------------------------------------------------------------------------- one writer per take

class _Held:
    """This process's hold on one take's lock: a thread lock plus the locked file."""

    def __init__(self) -> None:
        self.rlock = threading.RLock()
        self.depth = 0
        self.fd: int | None = None
        self.path: Path | None = None
        self.made: list[Path] = []  # folders the lock had to create (removed again if left empty)


_HELD: dict[str, _Held] = {}
_HELD_GUARD = threading.Lock()


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; False if another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


_PID_OFFSET = 16  # Windows locks byte 0; the holder's pid is written after it


def _holder_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, _PID_OFFSET, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "ignore").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders it created, deepest first."""
    made: list[Path] = []
    probe = folder
    while not os.path.lexists(probe) and probe.parent != probe:
        made.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    return made


def _acquire_file_lock(target: Path) -> tuple[int, Path, list[Path]]:
    path = target.parent / f".{_stem(target.name)}{LOCK_SUFFIX}"
    made: list[Path] = []
    for _ in range(50):
        try:
            made += [p for p in _make_parents(target.parent) if p not in made]
            fd = os.open(path, os.O_RDWR | os.O_CREAT, fsio.default_mode())
        except FileNotFoundError:  # a parent was removed meanwhile (another lock's cleanup): again
            continue
        except OSError as exc:
            raise _storage_error(exc, f"cannot lock {target}", target.parent, "nothing was written") from None
        try:
            locked = _try_lock(fd)
        except OSError as exc:
            os.close(fd)
            raise _storage_error(exc, f"cannot lock {target}", target.parent, "nothing was written") from None
        if not locked:
            pid = _holder_pid(fd)
            os.close(fd)
            who = f"another agx (pid {pid})" if pid else "another agx process"
            raise TakeBusyError(f"{who} is writing {target}: wait for it to finish or choose another --out")
        # a holder unlinks the file when it is done: the file we locked must still be the one there
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        if same:
            try:
                os.ftruncate(fd, 0)
                os.lseek(fd, _PID_OFFSET, os.SEEK_SET)
                os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            except OSError:
                pass  # the pid is only for the message
            return fd, path, made
        os.close(fd)
    raise TakeBusyError(f"could not lock {target}: other agx processes keep taking it; try again")


def _release_file_lock(held: _Held, target: Path) -> None:
    fd, path, made = held.fd, held.path, held.made
    held.fd, held.path, held.made = None, None, []
    if fd is None or path is None:
        return
    try:
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                os.unlink(path)  # while still locked: a waiting process then sees a new file
    finally:
        os.close(fd)
    if sys.platform == "win32":  # pragma: no cover
        with contextlib.suppress(OSError):
            os.unlink(path)
    if not os.path.lexists(target):  # nothing was written: leave no empty folders behind
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                break


@contextlib.contextmanager
def _lock(folder: str | os.PathLike[str], wait: bool) -> tp.Iterator[Path]:
    target = _canonical(folder)
    if target.parent == target:
        raise OutputPathError(f"{target} is the root folder: a take needs a folder of its own")
    with _HELD_GUARD:
        held = _HELD.setdefault(str(target), _Held())
    if not held.rlock.acquire(timeout=_THREAD_WAIT_S if wait else 0):
        raise TakeBusyError(f"this program is still writing {target}: try again when it has finished")
    try:
        if held.depth == 0:
            held.fd, held.path, held.made = _acquire_file_lock(target)
        held.depth += 1
        try:
            yield target
        finally:
            held.depth -= 1
            if held.depth == 0:
                _release_file_lock(held, target)
    finally:
        held.rlock.release()


def take_lock(folder: str | os.PathLike[str]) -> tp.ContextManager[Path]:
    """Hold the exclusive lock of the take at ``folder`` (yields its absolute path).

    Another process holding it: :class:`TakeBusyError` at once, naming the path and its pid.
    Re-entrant in the thread that holds it (``save_take`` inside ``with take_lock(...)`` is fine);
    other threads of this process wait for it (the app's saves are short). The lock file is a
    hidden ``.NAME.agx-lock`` beside the folder, removed on release; a crashed holder's lock is
    released by the OS. Creates the parent folders (removed again if nothing was written).
    """
    return _lock(folder, wait=True)


# --------------------------------------------------------------------------- recovery

def _temps(target: Path) -> list[tuple[Path, str, int | None]]:
    """This take's pid-tagged temporaries beside it: (path, kind, pid)."""
    prefix = _temp_prefix(target)
    out = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return out
    for entry in entries:
        if entry.name.startswith(prefix):
            tail = entry.name[len(prefix):]
            kind = tail[:len(tail) - len(tail.lstrip("abcdefghijklmnopqrstuvwxyz"))]
            out.append((Path(entry.path), kind, fsio.temp_owner_pid(entry.name)))
    return out


def _legacy_temps(target: Path) -> list[tuple[Path, str]]:
    """``.NAME.tmp-xxxxxxxx`` / ``.NAME.old-xxxxxxxx`` left by versions before pid-tagged names."""
    pattern = re.compile(re.escape(f".{target.name}") + r"\.(tmp|old)-[0-9a-f]{8}")
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    return [(target.parent / n, m.group(1)) for n in names if (m := pattern.fullmatch(n))]


def _valid_take(folder: Path) -> bool:
    try:
        _load(folder)
    except Exception:  # noqa: BLE001 - any failure means "not this one"
        return False
    return True


def _rmtree(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        return False
    return True


def recover(folder: str | os.PathLike[str]) -> list[str]:
    """Repair what an interrupted save of the take at ``folder`` left; returns what was done.

    If the take is missing and a writer died between its two renames, the new take is put back
    (if complete and valid) or else the old one; then the dead writers' temporaries of this take
    (beside it, and ``.explanation.json`` ones inside it) are removed. Temporaries of a live
    writer, and everything while another process holds the take's lock, are left alone.
    """
    target = _canonical(folder)
    done: list[str] = []
    if target.parent == target:
        return done
    if _has_take_files(target):
        done += [f"removed {p}" for p in fsio.clean_stale_temps(target)]
    temps = _temps(target)
    dead = [(p, k) for p, k, pid in temps if pid is not None and not fsio.pid_alive(pid)]
    legacy = _legacy_temps(target) if not os.path.lexists(target) else []
    stale_lock = os.path.lexists(lock_path(target))  # a holder killed with -9 leaves its (unlocked) file
    if not dead and not legacy and not stale_lock:
        return done
    try:
        with _lock(target, wait=False):
            present = os.path.lexists(target)
            temps = _temps(target)
            dead = [(p, k) for p, k, pid in temps if pid is not None and not fsio.pid_alive(pid)]
            if not present:
                newest_first = sorted(dead, key=lambda pk: _mtime(pk[0]), reverse=True)
                legacy = sorted(_legacy_temps(target), key=lambda pk: _mtime(pk[0]), reverse=True)
                candidates = ([p for p, k in newest_first if k == _NEW and _valid_take(p)]
                              + [p for p, k in newest_first if k == _OLD]
                              + [p for p, k in legacy if k == "tmp" and _valid_take(p)]
                              + [p for p, k in legacy if k == "old"])
                for chosen in candidates:
                    try:
                        os.rename(chosen, target)
                    except OSError:
                        continue
                    fsio.fsync_dir(target.parent)
                    done.append(f"restored {target} from {chosen.name}")
                    present = True
                    break
            if present:
                for path, _ in dead:
                    if os.path.lexists(path) and _rmtree(path):
                        done.append(f"removed {path}")
            else:  # nothing to restore: only half-written new takes remain, and they are of no use
                for path, kind in dead:
                    if kind == _NEW and _rmtree(path):
                        done.append(f"removed {path}")
            if _has_take_files(target):
                done += [f"removed {p}" for p in fsio.clean_stale_temps(target)]
    except (TakeBusyError, OutputPathError, StorageError, OSError):
        pass  # a live writer holds the take (it will finish), or the folder is read-only
    return done


_LEGACY_TEMP = re.compile(r"\.(.+)\.(?:tmp|old)-[0-9a-f]{8}")


def recover_all(root: str | os.PathLike[str]) -> list[str]:
    """:func:`recover` every take in folder ``root``, listing ``root`` once; returns what was done.

    For loading a whole folder of takes (the app's autosave): :func:`recover` looks beside its one
    take, so calling it per take lists ``root`` once per take. Here the hidden names in ``root``
    (dead writers' temporaries, old-style temporaries, stale locks) say which takes need the full
    :func:`recover`, including takes whose folder is missing after a crash between the two renames;
    every other take folder only has its own dead temporaries removed. Afterwards the takes can be
    read with ``load_take(folder, repair=False)``. Raises OSError only if ``root`` can't be listed;
    a take it cannot repair (read-only, busy) is left as it is.
    """
    base = _canonical(root)
    entries = list(os.scandir(base))
    needs: set[str] = set()  # stems (or, for old-style temporaries, names) of takes to recover in full
    for entry in entries:
        name = entry.name
        if not name.startswith("."):
            continue
        if fsio.TMP_TAG in name:
            pid = fsio.temp_owner_pid(name)
            if pid is not None and not fsio.pid_alive(pid):
                needs.add(name[1:].split(fsio.TMP_TAG, 1)[0])
        elif name.endswith(LOCK_SUFFIX):
            needs.add(name[1:-len(LOCK_SUFFIX)])
        elif m := _LEGACY_TEMP.fullmatch(name):
            needs.add(m.group(1))
    done: list[str] = []
    visible = {entry.name: entry.is_symlink() for entry in entries if not entry.name.startswith(".")}
    for name, is_link in sorted(visible.items()):
        folder = base / name
        try:
            if is_link or _stem(name) in needs or name in needs:  # a link: its take lives elsewhere
                needs.discard(_stem(name))
                needs.discard(name)
                done += recover(folder)
            elif _has_take_files(folder):
                done += [f"removed {p}" for p in fsio.clean_stale_temps(folder)]
        except Exception:  # noqa: BLE001 - one take that can't be repaired must not stop the others
            continue
    for stem in sorted(needs):  # no folder: a save cut between its two renames (or only a stale lock)
        try:
            done += recover(base / stem)
        except Exception:  # noqa: BLE001
            continue
    return done


def _has_take_files(folder: Path) -> bool:
    """The three take files are there (only then are temporaries inside the folder agx's own)."""
    return folder.is_dir() and not folder.is_symlink() and all((folder / f).is_file() for f in TAKE_FILES)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# --------------------------------------------------------------------------- validation

class _Bad(ValueError):
    """One validation failure (the caller adds the file and what to do)."""


def _is_int(value: tp.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _present(meta: dict, key: str, optional: bool) -> bool:
    """Whether ``meta`` holds ``key``: False for an optional one absent or null; a required one absent is
    :class:`_Bad`."""
    if key in meta and not (optional and meta[key] is None):
        return True
    if optional:
        return False
    raise _Bad(f"'{key}' is missing")


def _number(meta: dict, key: str, *, minimum: float | None = None, maximum: float | None = None,
            positive: bool = False, integer: bool = False, optional: bool = False) -> tp.Any:
    if not _present(meta, key, optional):
        return None
    value = meta[key]
    ok = _is_int(value) if integer else fsio.is_finite_number(value)
    if not ok:
        raise _Bad(f"'{key}' must be {'an integer' if integer else 'a finite number'}, got {_short(value)}")
    if positive and not value > 0:
        raise _Bad(f"'{key}' must be above 0, got {value}")
    if minimum is not None and value < minimum:
        raise _Bad(f"'{key}' must be at least {minimum:g}, got {value}")
    if maximum is not None and value > maximum:
        raise _Bad(f"'{key}' must be at most {maximum:g}, got {value}")
    return value


def _string(meta: dict, key: str, *, optional: bool = False, nonempty: bool = True, limit: int = 100_000) -> tp.Any:
    if not _present(meta, key, optional):
        return None
    value = meta[key]
    if not isinstance(value, str):
        raise _Bad(f"'{key}' must be text, got {_short(value)}")
    if nonempty and not value.strip():
        raise _Bad(f"'{key}' is empty")
    if len(value) > limit:
        raise _Bad(f"'{key}' is {len(value)} characters long (at most {limit})")
    return value


def _short(value: tp.Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _params(meta: dict) -> GenerationParams:
    raw = meta.get("params")
    if not isinstance(raw, dict):
        raise _Bad(f"'params' must be an object, got {_short(raw)}")
    known = {f.name for f in fields(GenerationParams)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _Bad(f"'params' has unknown field(s) {', '.join(map(str, unknown))[:80]}")
    for key, value in raw.items():
        integer = key in ("seed", "top_k")
        _number(raw, key, integer=integer)
    params = GenerationParams(**raw)
    if not params.duration > 0:
        raise _Bad(f"'params.duration' must be above 0, got {params.duration}")
    try:
        params.validate()
    except AgxError as exc:
        raise _Bad(f"'params': {exc}") from None
    if "seed" in meta and meta["seed"] != params.seed:
        raise _Bad(f"'seed' {_short(meta['seed'])} differs from params.seed {params.seed}")
    return params


def _check_meta(meta: tp.Any) -> tuple[dict, GenerationParams, TextTokens]:
    """Type- and range-check a take.json document; returns it with its params and text."""
    if not isinstance(meta, dict):
        raise _Bad(f"it must hold a JSON object, got {_short(meta)}")
    fmt = meta.get("format")
    if not isinstance(fmt, str) or not fmt.startswith(TAKE_FORMAT):
        raise _Bad(f"'format' must be '{TAKE_FORMAT}1', got {_short(fmt)}")
    for key in ("id", "parent"):
        value = _string(meta, key, optional=key == "parent")
        if value is not None and not _ID_RE.fullmatch(value):
            raise _Bad(f"'{key}' must be letters, digits, '-' or '_' (at most 64), got {_short(value)}")
    _string(meta, "created", limit=64)
    prompt = _string(meta, "prompt")
    _string(meta, "model", limit=4096)
    _string(meta, "model_fingerprint", optional=True, limit=256)
    params = _params(meta)
    _number(meta, "sample_rate", integer=True, positive=True, maximum=_MAX_SAMPLE_RATE)
    _number(meta, "frame_rate", positive=True, maximum=meta["sample_rate"])
    _number(meta, "channels", integer=True, positive=True, maximum=16, optional=True)  # absent in older takes
    _number(meta, "duration", minimum=0, optional=True)
    _number(meta, "seconds", minimum=0, optional=True)
    kind = meta.get("kind", "original")
    if kind not in TAKE_KINDS:
        raise _Bad(f"'kind' must be one of {', '.join(sorted(TAKE_KINDS))}, got {_short(kind)}")
    if not isinstance(meta.get("text"), dict):
        raise _Bad(f"'text' must be an object, got {_short(meta.get('text'))}")
    try:
        text = TextTokens.from_dict(meta["text"])
    except (ValueError, TypeError, KeyError) as exc:
        raise _Bad(f"'text': {exc}") from None
    if text.prompt != prompt:
        raise _Bad("'text.prompt' differs from 'prompt'")
    weights = meta.get("word_weights")
    if weights is not None:
        if not isinstance(weights, list) or len(weights) != len(text.words):
            raise _Bad(f"'word_weights' must be a list of {len(text.words)} numbers (one per word) or null")
        if not all(fsio.is_finite_number(w) and w >= 0 for w in weights):
            raise _Bad("'word_weights' must be finite numbers >= 0")
    _check_segments(meta.get("segments"))
    _check_edit(meta.get("edit"))
    return meta, params, text


def _check_segments(segments: tp.Any) -> None:
    """``segments`` (region/timeline takes): null or [{start, end, text, word_weights}] in time order."""
    if segments is None:
        return
    if not isinstance(segments, list) or not 1 <= len(segments) <= _MAX_SEGMENTS:
        raise _Bad(f"'segments' must be a list of 1 to {_MAX_SEGMENTS} segments or absent, got {_short(segments)}")
    previous = 0.0
    for i, seg in enumerate(segments):
        if not isinstance(seg, dict) or set(seg) - {"start", "end", "text", "word_weights"}:
            raise _Bad(f"'segments[{i}]' must be an object with start, end, text, word_weights")
        start = _number(seg, "start", minimum=0)
        end = _number(seg, "end", minimum=0)
        _string(seg, "text")
        if not end > start or abs(start - previous) > 1e-6:
            raise _Bad(f"'segments[{i}]' must follow the previous one and end after it starts")
        previous = end
        weights = seg.get("word_weights")
        if weights is not None and (not isinstance(weights, list) or len(weights) > MAX_TOKENS
                                    or not all(fsio.is_finite_number(w) and w >= 0 for w in weights)):
            raise _Bad(f"'segments[{i}].word_weights' must be finite numbers >= 0 or null")


def _check_edit(edit: tp.Any) -> None:
    """``edit`` (region takes): null or an object whose ``region`` is [start, end] seconds."""
    if edit is None:
        return
    if not isinstance(edit, dict):
        raise _Bad(f"'edit' must be an object or absent, got {_short(edit)}")
    region = edit.get("region")
    if not isinstance(region, list) or len(region) != 2 or not all(fsio.is_finite_number(v) for v in region) \
            or not 0 <= region[0] < region[1]:
        raise _Bad(f"'edit.region' must be [start, end] seconds, got {_short(region)}")
    if len(json.dumps(edit)) > 100_000:
        raise _Bad("'edit' is too large")


def _check_arrays(meta: dict, text: TextTokens, codes: torch.Tensor, latents: torch.Tensor,
                  step_mask: torch.Tensor | None) -> None:
    """Shapes, types and ranges of a take's tensors (file: tensors.safetensors)."""
    import torch
    if codes.dim() != 2 or codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise _Bad(f"'codes' must be a 2-D integer array [codebooks, frames], got {codes.dim()}-D {codes.dtype}")
    k, t = codes.shape
    if not (1 <= k <= _MAX_CODEBOOKS and t >= 1):
        raise _Bad(f"'codes' has shape {tuple(codes.shape)}: expected [codebooks (1-{_MAX_CODEBOOKS}), frames]")
    lo, hi = int(codes.min()), int(codes.max())
    if lo < 0 or hi >= _MAX_CODE:
        raise _Bad(f"'codes' hold values from {lo} to {hi}: codes are codebook entries in [0, {_MAX_CODE})")
    if latents.dim() != 2 or not latents.is_floating_point():
        raise _Bad(f"'latents' must be a 2-D float array [steps, dim], got {latents.dim()}-D {latents.dtype}")
    steps = latents.shape[0]
    # one step per frame plus the codebook pattern's delays (AudioGen/MusicGen: K - 1 more steps)
    if not t <= steps <= t + 4 * k or latents.shape[1] < 1:
        raise _Bad(f"'latents' has {steps} steps for {t} frames of codes: expected {t} to {t + 4 * k}")
    if not bool(torch.isfinite(latents).all()):
        raise _Bad("'latents' hold NaN or infinite values")
    if step_mask is not None:
        if step_mask.dim() != 2 or not step_mask.is_floating_point() or step_mask.shape[1] != len(text.tokens) \
                or step_mask.shape[0] < 1:
            raise _Bad(f"'step_mask' must be [steps, {len(text.tokens)}] floats, got {tuple(step_mask.shape)} "
                       f"{step_mask.dtype}")
        if not bool(torch.isfinite(step_mask).all()) or bool((step_mask < 0).any()):
            raise _Bad("'step_mask' must hold finite values >= 0")


def _expected_samples(meta: dict, frames: int) -> tuple[float, float]:
    """(expected audio samples for ``frames`` code frames, tolerance) at the take's rates."""
    per_frame = meta["sample_rate"] / meta["frame_rate"]
    return frames * per_frame, per_frame


def _load(folder: Path) -> Take:
    """Read and validate a take folder (no recovery); raises :class:`NotATakeError`."""
    fix = "restore the folder from a backup or generate the take again"

    def bad(file: str, why: str) -> NotATakeError:
        return NotATakeError(f"{folder / file} is damaged ({why}): {fix}")

    meta_doc = _read_json(folder / META, NotATakeError, fix)
    try:
        meta, params, text = _check_meta(meta_doc)
    except _Bad as exc:
        raise bad(META, str(exc)) from None
    try:
        tensors = load_file(str(folder / TENSORS))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type, or OSError
        raise bad(TENSORS, f"not a safetensors file: {str(exc).splitlines()[0][:100] if str(exc) else exc!r}") \
            from None
    missing = [k for k in ("codes", "latents") if k not in tensors]
    if missing:
        raise bad(TENSORS, f"no {' or '.join(missing)} tensor")
    codes, latents, step_mask = tensors["codes"], tensors["latents"], tensors.get("step_mask")
    try:
        _check_arrays(meta, text, codes, latents, step_mask)
    except _Bad as exc:
        raise bad(TENSORS, str(exc)) from None
    coded = int(codes.shape[1]) / meta["frame_rate"]  # audiocraft makes int(duration * frame_rate) frames
    if abs(params.duration - coded) > 1.5 / meta["frame_rate"]:
        raise bad(META, f"'params.duration' is {params.duration:g} s but its codes last {coded:.2f} s")
    try:
        info = sf.info(str(folder / AUDIO))
    except Exception as exc:  # noqa: BLE001 - libsndfile's errors, or OSError
        raise bad(AUDIO, f"not a readable WAV file: {str(exc).splitlines()[0][:100] if str(exc) else exc!r}") \
            from None
    if int(info.samplerate) != meta["sample_rate"]:
        raise bad(AUDIO, f"its sample rate is {info.samplerate} Hz but take.json says {meta['sample_rate']} Hz")
    if meta.get("channels") is not None and int(info.channels) != meta["channels"]:
        raise bad(AUDIO, f"it holds {info.channels} channel(s) but take.json says {meta['channels']}: "
                         "from another take or re-exported")
    expected, tol = _expected_samples(meta, int(codes.shape[1]))
    if abs(int(info.frames) - expected) > tol or not 1 <= info.channels <= 16:
        raise bad(AUDIO, f"it holds {info.frames} samples in {info.channels} channel(s) but the take's "
                         f"{codes.shape[1]} frames of codes make {expected:.0f}: cut short or from another take")
    try:
        audio, _ = sf.read(str(folder / AUDIO), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001
        raise bad(AUDIO, f"unreadable: {str(exc).splitlines()[0][:100] if str(exc) else exc!r}") from None
    if not np.isfinite(audio).all():
        raise bad(AUDIO, "it holds NaN or infinite samples")
    return Take(prompt=meta["prompt"], model_id=meta["model"], params=params, sample_rate=int(meta["sample_rate"]),
                frame_rate=float(meta["frame_rate"]), audio=np.ascontiguousarray(audio.T),
                codes=codes.long(), latents=latents.float(), text=text,
                word_weights=None if meta.get("word_weights") is None else [float(w) for w in meta["word_weights"]],
                step_mask=None if step_mask is None else step_mask.float().numpy(),
                kind=meta.get("kind", "original"), parent=meta.get("parent"),
                seconds=float(meta.get("seconds") or 0.0), id=meta["id"], created=meta["created"],
                model_fingerprint=meta.get("model_fingerprint"), segments=meta.get("segments"), edit=meta.get("edit"),
                speed=meta.get("speed"))


def check_take(take: Take) -> None:
    """Refuse (:class:`ParameterError`) a take that could not be read back once saved."""
    import torch
    try:
        try:
            meta = take.metadata()
        except (ArithmeticError, TypeError, ValueError, AttributeError) as exc:
            raise _Bad(f"its fields are not usable ({type(exc).__name__})") from None
        _check_meta(meta)
        _check_arrays(meta, take.text, torch.as_tensor(take.codes), torch.as_tensor(take.latents),
                      None if take.step_mask is None else torch.as_tensor(np.asarray(take.step_mask)))
        audio = np.asarray(take.audio)
        if audio.ndim != 2 or not 1 <= audio.shape[0] <= 16:
            raise _Bad(f"its audio must be [channels, samples], got shape {audio.shape}")
        expected, tol = _expected_samples(meta, int(take.codes.shape[1]))
        if abs(audio.shape[1] - expected) > tol:
            raise _Bad(f"its audio has {audio.shape[1]} samples; its codes make {expected:.0f}")
        if not np.isfinite(audio).all():
            raise _Bad("its audio holds NaN or infinite samples (the model produced no valid sound)")
    except _Bad as exc:
        raise ParameterError(f"cannot save take {getattr(take, 'id', '?')}: {exc}") from None


# --------------------------------------------------------------------------- write

def _storage_error(exc: BaseException, what: str, folder: Path, kept: str) -> StorageError:
    """One line for a refused write: what failed, why in words, what to do, what is unchanged."""
    error = StorageError(f"{what}: {fsio.describe_os_error(exc, folder)} ({kept})")
    error.errno = getattr(exc, "errno", None) or errno.EIO
    return error


def _write_bytes(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, fsynced, with the umask's permissions.

    Audio and tensors are encoded in memory first and written here, so a full disk is an
    ``OSError`` with its errno (libsndfile would only say "System error.").
    """
    with open(path, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fsio.apply_default_mode(path)


def _write_contents(take: Take, folder: Path, meta_text: str, explanation: bytes | None) -> None:
    import torch
    wav = io.BytesIO()
    sf.write(wav, np.asarray(take.audio).T, take.sample_rate, subtype="FLOAT", format="WAV")
    _write_bytes(folder / AUDIO, wav.getvalue())
    del wav
    tensors = {"codes": torch.as_tensor(take.codes).contiguous().long(),
               "latents": torch.as_tensor(take.latents).contiguous().float()}
    if take.step_mask is not None:
        tensors["step_mask"] = torch.from_numpy(np.ascontiguousarray(take.step_mask, dtype=np.float32))
    _write_bytes(folder / TENSORS, save_tensors(tensors))
    _write_bytes(folder / META, meta_text.encode("utf-8"))
    if explanation is not None:
        _write_bytes(folder / EXPLANATION, explanation)
    fsio.fsync_dir(folder)


def _kept_explanation(take: Take, target: Path) -> bytes | None:
    """The bytes of ``target``'s explanation.json if it is valid and explains this same take."""
    if not (target / EXPLANATION).is_file():
        return None
    try:
        load_explanation(target, take=take)
        return (target / EXPLANATION).read_bytes()
    except (AgxError, OSError):
        return None


def save_take(take: Take, folder: str | os.PathLike[str]) -> Path:
    """Write ``take`` to ``folder`` crash-safely, replacing an earlier take there; returns the path.

    ``folder`` must pass :func:`check_out_path` (a new path, an empty folder or an AGX take).
    Takes the take's lock (re-entrant: fine inside ``with take_lock(folder)``). An
    ``explanation.json`` already there is kept only if it explains the same take id.

    Raises:
        OutputPathError, TakeBusyError, ParameterError (a take that could not be read back),
        StorageError (disk full, read-only...; the previous take at ``folder`` is unchanged).
    """
    try:
        check_out_path(folder)
    except OutputPathError:
        # while another writer holds the take's lock, the folder may be caught mid-swap (the old take
        # renamed away, the new one not yet in: a non-take or empty view); the check under the lock decides
        if not (os.path.lexists(folder) and lock_path(folder).exists()):
            raise
    check_take(take)
    meta_text = fsio.strict_json(take.metadata())
    with take_lock(folder) as target:
        recover(target)
        target = check_out_path(target)  # again, now that no one else may change it
        tmp = target.parent / fsio.temp_name(_stem(target.name), _NEW)
        trash: Path | None = None
        kept = _kept_explanation(take, target)
        try:
            os.mkdir(tmp)  # 0777 less the umask, unlike mkdtemp's 0700
            fsio.apply_default_mode(tmp, is_dir=True)
            _write_contents(take, tmp, meta_text, kept)
            if os.path.lexists(target):
                trash = target.parent / fsio.temp_name(_stem(target.name), _OLD)
                os.rename(target, trash)
            try:
                os.rename(tmp, target)
            except BaseException:
                if trash is not None:
                    os.rename(trash, target)
                    trash = None
                raise
            fsio.fsync_dir(target.parent)
        except BaseException as exc:
            _rmtree(tmp)
            if isinstance(exc, (OSError, sf.SoundFileError)) or type(exc).__name__ == "SafetensorError":
                kept = "the previous take there is unchanged" if os.path.lexists(target) else "nothing was written"
                raise _storage_error(exc, f"could not write the take to {target}", target.parent, kept) from exc
            raise
        if trash is not None:
            _rmtree(trash)
    return target


def is_take_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds the three take files (after repairing an interrupted save)."""
    recover(folder)
    folder = Path(folder)
    return all((folder / f).is_file() for f in TAKE_FILES)


def load_take(folder: str | os.PathLike[str], *, repair: bool = True) -> Take:
    """Read a take folder back, validated. Raises :class:`NotATakeError` (one line) if it is not one.

    An interrupted save at this path is repaired first (:func:`recover`); ``repair=False`` when
    the caller has just run :func:`recover_all` on the folder holding it.
    """
    folder = Path(os.path.expanduser(os.fspath(folder)))
    if repair:
        recover(folder)
    if not folder.is_dir():
        raise NotATakeError(f"{folder} is not a folder: give the folder that `agx generate --out` wrote")
    missing = [f for f in TAKE_FILES if not (folder / f).is_file()]
    if missing:
        raise NotATakeError(f"{folder} is not a take folder (missing {', '.join(missing)}): "
                            "give the folder that `agx generate --out` wrote")
    return _load(folder)


# --------------------------------------------------------------------------- explanations

def save_explanation(explanation: Explanation, folder: str | os.PathLike[str],
                     interval: tuple[float, float] | None = None) -> Path:
    """Write ``explanation.json`` into the take folder atomically (importance over ``interval``).

    Under the take's lock, and only if the folder still holds the take that was explained:
    another process may have replaced it meanwhile (:class:`ExplanationError`, "explain it again").
    """
    with take_lock(folder) as target:
        recover(target)
        if not target.is_dir():
            raise NotATakeError(f"{target} is not a folder: give the folder that `agx generate --out` wrote")
        meta = _read_json(target / META, NotATakeError, "restore the folder from a backup or generate the take again")
        take_id = meta.get("id") if isinstance(meta, dict) else None
        if take_id != getattr(explanation, "take_id", None):
            raise ExplanationError(f"the take in {target} changed while it was being explained: explain it again")
        doc = explanation.to_json(interval)  # ExplanationError for NaN, IntervalError for a bad interval
        from .word_kinds import classify_scores  # each word's kind beside its score (scores unchanged)
        doc["word_kinds"] = classify_scores(explanation.words, doc["importance"]).to_json()
        try:
            text = fsio.strict_json(doc)
        except ValueError as exc:
            raise ExplanationError(f"the explanation holds a non-finite number ({exc}): explain the take again") \
                from None
        path = target / EXPLANATION
        try:
            fsio.write_text_atomic(path, text)
        except OSError as exc:
            raise _storage_error(exc, f"could not write {path}", target,
                                 "the previous explanation is unchanged") from exc
    return path


def load_explanation(folder: str | os.PathLike[str], take: Take | None = None) -> Explanation:
    """Read ``explanation.json`` back as a validated :class:`~agx_desktop.engine.explain.base.Explanation`.

    With ``take``, also check that it explains that take (same id, words, frames and steps).
    Raises :class:`ExplanationError` (one line: the file and what to do) when it is missing,
    damaged, or belongs to another take.
    """
    from .explanation import Explanation

    folder = Path(os.path.expanduser(os.fspath(folder)))
    recover(folder)
    path = folder / EXPLANATION
    again = f"run `agx explain {folder}` again"
    if not path.is_file():
        if not folder.is_dir():
            raise ExplanationError(f"{folder} is not a folder: give the folder that `agx generate --out` wrote")
        raise ExplanationError(f"{folder} has no explanation yet: run `agx explain {folder}` first")
    doc = _read_json(path, ExplanationError, again)
    try:
        explanation = Explanation.from_json(doc)
    except ExplanationError as exc:
        raise ExplanationError(f"{path} is damaged ({exc}): {again}") from None
    if take is not None:
        n_frames = int(take.codes.shape[-1])
        if explanation.take_id != take.id:
            raise ExplanationError(f"{path} explains another take ({explanation.take_id!r}, not {take.id}): {again}")
        if explanation.words != take.words or explanation.n_frames != n_frames \
                or explanation.n_steps != int(take.latents.shape[0]):
            raise ExplanationError(f"{path} does not fit its take (other words or length): {again}")
        from .timeline import fill_word_spans
        fill_word_spans(explanation, take)
    return explanation
