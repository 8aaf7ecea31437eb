"""WAV export: bit depth, resampling, loudness/peak normalisation, metadata, atomic writes.

Pure numpy/scipy/soundfile (no Qt), so it is testable alone and the drag-out path reuses it.
Files are written through :func:`agx_desktop.engine.fsio.atomic_write` (a hidden temporary file in
the target folder, fsynced, given the umask's permissions, renamed into place): a read-only or full
location raises :class:`ExportError` and leaves nothing behind; a written file is readable by
whoever may read the folder (0666 less the umask), like any file the user saves.
"""
from __future__ import annotations

import csv
import datetime as _dt
import errno
import io
import re
import string
import typing as tp
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from agx_desktop.engine import fsio

from .settings import ExportSettings

SUBTYPES = {"PCM_16": "16-bit PCM", "PCM_24": "24-bit PCM", "FLOAT": "32-bit float"}
RATES = {0: "native", 44100: "44.1 kHz", 48000: "48 kHz"}
PATTERN_FIELDS = ("catid", "fxname", "creator", "source", "prompt", "seed", "model", "kind", "take",
                  "date", "duration")
_BAD_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


class ExportError(Exception):
    """An export could not be written; the message says why and what to do."""


# --------------------------------------------------------------------------- audio processing

def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling (scipy) of [channels, samples] float audio."""
    if not sr_out or sr_out == sr_in:
        return audio
    from scipy.signal import resample_poly
    g = gcd(int(sr_in), int(sr_out))
    return resample_poly(audio, int(sr_out) // g, int(sr_in) // g, axis=-1).astype(np.float32)


def loudness_lufs(audio: np.ndarray, sr: int) -> float | None:
    """Integrated loudness (ITU-R BS.1770, pyloudnorm), or None when it cannot be measured."""
    import pyloudnorm as pyln
    try:
        value = pyln.Meter(sr, block_size=min(0.4, audio.shape[-1] / sr)).integrated_loudness(audio.T.astype(np.float64))
    except (ValueError, ZeroDivisionError):
        return None
    return float(value) if np.isfinite(value) else None


def normalise(audio: np.ndarray, sr: int, opts: ExportSettings) -> tuple[np.ndarray, str]:
    """Apply the chosen normalisation; returns the audio and a note of what was done."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if opts.normalize == "peak":
        if peak <= 0:
            return audio, "silent: not normalised"
        gain = 10 ** (opts.peak_db / 20) / peak
        return (audio * gain).astype(np.float32), f"peak {opts.peak_db:g} dBFS"
    if opts.normalize == "lufs":
        lufs = loudness_lufs(audio, sr)
        if lufs is None:
            return audio, "too short or silent to measure loudness: not normalised"
        gain = 10 ** ((opts.lufs - lufs) / 20)
        note = f"{opts.lufs:g} LUFS (was {lufs:.1f})"
        if peak * gain > 0.999 and opts.subtype != "FLOAT":
            gain = 0.999 / peak  # never clip a PCM file: stop at full scale instead
            note += ", limited by the peak"
        return (audio * gain).astype(np.float32), note
    return audio, "not normalised"


def render(audio: np.ndarray, sr: int, opts: ExportSettings) -> tuple[np.ndarray, int, str]:
    """The audio as it will be written: resampled then normalised."""
    out_sr = int(opts.sample_rate) or int(sr)
    audio = resample(np.asarray(audio, dtype=np.float32), sr, out_sr)
    audio, note = normalise(audio, out_sr, opts)
    if opts.subtype != "FLOAT":
        audio = np.clip(audio, -1.0, 1.0)
    return audio, out_sr, note


# --------------------------------------------------------------------------- names

def fx_name(prompt: str, limit: int = 40) -> str:
    """UCS-style FXName: the prompt's words title-cased, trimmed to ``limit`` characters."""
    words = re.findall(r"[\w']+", prompt)
    name = " ".join(w[:1].upper() + w[1:] for w in words) or "Untitled"
    return name[:limit].rstrip()


def safe_filename(name: str) -> str:
    """A file name valid on Linux, macOS and Windows."""
    name = _BAD_CHARS.sub("-", name).strip(" .")
    reserved = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
    if name.upper().split(".")[0] in reserved:
        name = "_" + name
    return name[:180] or "take"


def pattern_fields(take: tp.Any, opts: ExportSettings) -> dict:
    model = str(take.model_id).replace("\\", "/").rstrip("/").split("/")[-1]
    return {"catid": opts.catid, "fxname": fx_name(take.prompt), "creator": opts.creator, "source": opts.source,
            "prompt": take.prompt, "seed": int(take.params.seed), "model": model, "kind": take.kind,
            "take": take.id, "date": _dt.date.today().isoformat(), "duration": f"{take.duration:.1f}s"}


def check_pattern(pattern: str) -> None:
    """Raise :class:`ExportError` if ``pattern`` uses an unknown {field} or is malformed."""
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as exc:
        raise ExportError(f"file name pattern '{pattern}' is malformed ({exc}): use {{field}} placeholders") from None
    unknown = [n for n in names if n not in PATTERN_FIELDS]
    if unknown:
        raise ExportError(f"unknown field {{{unknown[0]}}} in the file name pattern: use "
                          + ", ".join("{" + f + "}" for f in PATTERN_FIELDS))
    if not pattern.strip():
        raise ExportError("the file name pattern is empty")


def file_name(take: tp.Any, opts: ExportSettings, ext: str = ".wav") -> str:
    check_pattern(opts.pattern)
    name = opts.pattern.format(**pattern_fields(take, opts))
    if take.kind not in ("original",) and "{kind}" not in opts.pattern:
        name += f"_{take.kind}"
    return safe_filename(name) + ext


def metadata(take: tp.Any) -> dict:
    p = take.params
    return {
        "title": take.prompt[:250],
        "comment": (f"prompt={take.prompt}; seed={int(p.seed)}; model={take.model_id}; kind={take.kind}; "
                    f"duration={p.duration:g}; cfg={p.cfg_coef:g}; top_k={p.top_k}; top_p={p.top_p:g}; "
                    f"temperature={p.temperature:g}; weights={take.word_weights}; take={take.id}")[:2000],
        "software": "AGX Desktop",
        "artist": f"{take.model_id} seed {int(p.seed)}",
        "date": str(take.created)[:10],
    }


# --------------------------------------------------------------------------- atomic writes

def _explain_os_error(exc: OSError, folder: Path) -> ExportError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ExportError(f"cannot write to {folder}: permission denied (read-only?) — choose another folder")
    if exc.errno == errno.ENOSPC:
        return ExportError(f"cannot write to {folder}: the disk is full — free some space or choose another folder")
    if exc.errno == errno.ENOENT:
        return ExportError(f"cannot write to {folder}: the folder does not exist")
    return ExportError(f"cannot write to {folder}: {exc.strerror or exc}")


def _diagnose(folder: Path, needed: int) -> OSError | None:
    """What really stopped a write that failed without an errno (libsndfile only says "System
    error." for a read-only folder or a full disk): try creating a file, then look at the free space."""
    import os
    import shutil
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
    """Call ``writer(tmp_path)`` on a temporary file beside ``path`` then rename it to ``path``.

    The engine's :func:`~agx_desktop.engine.fsio.atomic_write` does the work (fsync, the umask's
    permissions rather than a temp file's 0600, rename); here every failure becomes one
    :class:`ExportError` line and nothing is left behind. ``suffix`` is kept for callers; the
    temporary name carries the writer's pid instead. ``needed``: about how many bytes the file takes.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise ExportError(f"cannot write to {folder}: the folder does not exist")
    try:
        fsio.atomic_write(path, lambda tmp: writer(str(tmp)))
    except ExportError:
        raise
    except OSError as exc:
        raise _explain_os_error(exc, folder) from exc
    except Exception as exc:  # e.g. libsndfile refusing a format: still one clear line, nothing left
        cause = _diagnose(folder, needed)
        if cause is not None:
            raise _explain_os_error(cause, folder) from exc
        raise ExportError(f"could not write {path.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
    return path


def unique_path(path: Path) -> Path:
    if not path.exists():
        return path
    for i in range(2, 10000):
        cand = path.with_name(f"{path.stem}_{i}{path.suffix}")
        if not cand.exists():
            return cand
    return path


def write_wav(path: str | Path, audio: np.ndarray, sr: int, subtype: str, meta: dict | None = None) -> Path:
    """Write [channels, samples] audio to ``path`` atomically, with INFO metadata."""
    if subtype not in SUBTYPES:
        raise ExportError(f"unknown sample format {subtype}: use one of {', '.join(SUBTYPES)}")

    def writer(tmp: str) -> None:
        with sf.SoundFile(tmp, "w", samplerate=int(sr), channels=int(audio.shape[0]), subtype=subtype,
                          format="WAV") as f:
            for k, v in (meta or {}).items():
                setattr(f, k, v)
            f.write(np.ascontiguousarray(audio.T))

    needed = int(audio.shape[0] * audio.shape[-1] * {"PCM_16": 2, "PCM_24": 3}.get(subtype, 4)) + 4096
    return atomic_write(Path(path), writer, suffix=".wav.part", needed=needed)


def export_take(take: tp.Any, folder: str | Path, opts: ExportSettings, name: str | None = None,
                overwrite: bool = False) -> tuple[Path, str]:
    """Export ``take`` into ``folder`` with ``opts``; returns the written path and a note."""
    folder = Path(folder).expanduser()
    target = folder / (name or file_name(take, opts))
    if not overwrite:
        target = unique_path(target)
    audio, sr, note = render(take.audio, take.sample_rate, opts)
    return write_wav(target, audio, sr, opts.subtype, metadata(take)), note


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
