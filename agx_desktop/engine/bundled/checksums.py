"""SHA-256 checksums of the bundled model's files, so a damaged file is named instead of played.

``resources/bundled/SHA256SUMS`` is in ``sha256sum``'s format (``sha256sum -c SHA256SUMS`` checks it
too). The loader verifies every file it lists before reading weights: a bit flip that leaves a
weight finite would otherwise load silently and make different sound. The training recipe rewrites
the file after each stage; ``python -m agx_desktop.engine.bundled.checksums --update`` does it for
weights changed on purpose.
"""
from __future__ import annotations

import argparse
import hashlib
import pathlib
import typing as tp

SUMS_NAME = "SHA256SUMS"
CHECKED = ("config.json", "lm.safetensors", "codec.safetensors", "classifier.safetensors")
_RESTORE = "restore it with `git checkout resources/bundled` (or reinstall agx-desktop)"


def sha256_of(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_sums(folder: pathlib.Path) -> dict[str, str] | None:
    """``{file name: hex digest}`` from ``folder/SHA256SUMS``, or None when the folder has none."""
    from agx_desktop.engine.errors import CheckpointError

    path = pathlib.Path(folder) / SUMS_NAME
    if not path.is_file():
        return None
    sums: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}); {_RESTORE}") from None
    for line in lines:
        digest, _, name = line.strip().partition("  ")
        name = name.lstrip("*")
        if not line.strip():
            continue
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or name not in CHECKED:
            raise CheckpointError(f"{path} is damaged (line {line[:60]!r}); {_RESTORE}")
        sums[name] = digest
    return sums


def verify(folder: pathlib.Path, names: tp.Iterable[str]) -> None:
    """Raise CheckpointError naming the first of ``names`` whose bytes differ from SHA256SUMS."""
    from agx_desktop.engine.errors import CheckpointError

    folder = pathlib.Path(folder)
    sums = read_sums(folder)
    if sums is None:
        return
    for name in names:
        expected = sums.get(name)
        if expected is None or not (folder / name).is_file():
            continue  # missing files are reported by the loader with their own advice
        if sha256_of(folder / name) != expected:
            raise CheckpointError(
                f"{folder / name} is damaged or was changed (its SHA-256 differs from {folder / SUMS_NAME}); "
                f"{_RESTORE}; if you retrained it on purpose, run `python -m agx_desktop.engine.bundled.checksums "
                "--update`")


def write(folder: pathlib.Path) -> pathlib.Path:
    """(Re)write ``folder/SHA256SUMS`` for the files of :data:`CHECKED` that exist there."""
    from agx_desktop.engine.fsio import write_text_atomic

    folder = pathlib.Path(folder)
    lines = [f"{sha256_of(folder / n)}  {n}\n" for n in CHECKED if (folder / n).is_file()]
    return write_text_atomic(folder / SUMS_NAME, "".join(lines))


def main(argv: list[str] | None = None) -> int:
    from . import BUNDLED_DIR

    ap = argparse.ArgumentParser(description="Check or rewrite the bundled model's SHA256SUMS.")
    ap.add_argument("--folder", type=pathlib.Path, default=BUNDLED_DIR)
    ap.add_argument("--update", action="store_true", help="rewrite SHA256SUMS from the files as they are now")
    a = ap.parse_args(argv)
    if a.update:
        print(f"wrote {write(a.folder)}")
        return 0
    from agx_desktop.engine.errors import CheckpointError
    try:
        verify(a.folder, CHECKED)
    except CheckpointError as exc:
        print(f"error: {exc}")
        return 2
    print(f"{a.folder}: {'no ' + SUMS_NAME if read_sums(a.folder) is None else 'all files match ' + SUMS_NAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
