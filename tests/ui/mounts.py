"""Real file-system faults for the UI tests: a small tmpfs (a disk that fills up) and read-only
bind mounts. As root, ``chmod 0555`` does not stop writes, so only a mount makes a folder really
read-only. Where mounting is not permitted the test is skipped with that reason."""
from __future__ import annotations

import contextlib
import os
import subprocess
import typing as tp
from pathlib import Path

import pytest


def _run(*cmd: str) -> str | None:
    """Run a mount command; None on success, else why it failed."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{cmd[0]}: {exc}"
    return None if r.returncode == 0 else (r.stderr.strip() or f"{cmd[0]} exited {r.returncode}")


def _umount(path: Path) -> None:
    if _run("umount", str(path)) is not None:
        _run("umount", "-l", str(path))


@contextlib.contextmanager
def tmpfs(path: str | Path, size_kb: int) -> tp.Iterator[Path]:
    """Mount an empty ``size_kb`` KiB tmpfs on ``path`` (skips the test if that is not permitted)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    why = _run("mount", "-t", "tmpfs", "-o", f"size={int(size_kb)}k,mode=0755", "tmpfs", str(path))
    if why is not None:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {why}")
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only(path: str | Path) -> tp.Iterator[Path]:
    """Make ``path`` (a folder, kept with its contents) read-only by a read-only bind mount on itself."""
    path = Path(path)
    why = _run("mount", "--bind", str(path), str(path))
    if why is not None:
        pytest.skip(f"cannot bind-mount here (needs root or CAP_SYS_ADMIN): {why}")
    why = _run("mount", "-o", "remount,bind,ro", str(path))
    if why is not None:
        _umount(path)
        pytest.skip(f"cannot remount read-only here: {why}")
    try:
        yield path
    finally:
        _umount(path)


def fill(folder: str | Path, name: str = "filler.bin") -> Path:
    """Fill the file system holding ``folder`` completely with one file (remove it to free the space)."""
    path = Path(folder) / name
    chunk = b"\0" * (64 * 1024)
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
    with contextlib.suppress(OSError), open(path, "ab", buffering=0) as f:  # the last partial block
        for _ in range(64):
            f.write(b"\0" * 1024)
    os.sync() if hasattr(os, "sync") else None
    return path
