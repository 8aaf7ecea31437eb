"""The one WAV export: the app's Export dialog, its drag-out and ``agx export`` all call :func:`export_wav`.

A take becomes a delivery file in four steps, each here so that every way out writes the same bytes:

1. resample to the asked rate (:func:`agx_desktop.engine.audio.resample`);
2. normalise (:mod:`.loudness`): to a loudness target with a true-peak ceiling and a look-ahead
   limiter, or to a true peak, or not at all; the result carries what a meter reads on the file;
3. describe (:mod:`.bwf`): RIFF INFO, BWF ``bext`` (prompt, originator, origination = when the take
   was generated, coding history, loudness v2 fields) and ``iXML`` (UCS CatID/Category/SubCategory/
   FXName/CreatorID/SourceID/Keywords and the generation parameters);
4. write atomically (:func:`agx_desktop.engine.fsio.atomic_write`): a full or read-only disk is one
   :class:`ExportError` line and leaves nothing behind; an existing file is replaced whole or not at all.

Nothing depends on the clock: the same take and options give the same bytes (origination is the
take's creation time), which is what lets ``agx export`` promise to write what the dialog writes.
"""
from __future__ import annotations

import datetime as _dt
import re
import string
import typing as tp
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import fsio, limits
from ..audio import resample
from ..errors import AgxError, ParameterError
from . import bwf, loudness
from .bwf import SUBTYPES
from .loudness import CEILING_DB, MAX_LIMIT_DB, LoudnessResult

if tp.TYPE_CHECKING:
    from ..explanation import Explanation
    from ..take import Take

ORIGINATOR = "AGX Desktop"
RATES = {0: "native", 44100: "44.1 kHz", 48000: "48 kHz"}
NORMALISE = ("lufs", "peak", "none")
LUFS_RANGE = (-40.0, -5.0)          # the Export dialog's range
PEAK_RANGE = (-30.0, 0.0)
CEILING_RANGE = (-20.0, 0.0)
MAX_LIMIT_RANGE = (0.0, 30.0)
PATTERN_FIELDS = ("catid", "fxname", "creator", "source", "prompt", "seed", "model", "kind", "take",
                  "date", "duration")
#: A few UCS v8 CatIDs (the ones the app suggests) with their Category and SubCategory; for any other
#: CatID pass the category (``agx export --category``) or it is left out of the metadata.
UCS_CATEGORIES = {"MISCMisc": ("MISC", "MISC"), "DOGBark": ("DOGS", "BARK"), "AMBForst": ("AMBIENCE", "FOREST"),
                  "BELLHand": ("BELLS", "HANDBELL")}
#: words that say nothing as keywords when the prompt's words stand in for an explanation's
_STOPWORDS = frozenset("a an the and or then of in on at to with by from for into onto over under is are "
                       "while as its it some".split())
_BAD_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ExportError(AgxError):
    """An export could not be made or written; the message says why and what to do."""


@dataclass(frozen=True)
class ExportOptions:
    """How a take is delivered. Defaults: 24-bit, native rate, -14 LUFS under a -1 dBTP ceiling."""

    subtype: str = "PCM_24"            # PCM_16 | PCM_24 | FLOAT
    sample_rate: int = 0               # 0 = the take's own rate, else 44100 / 48000
    normalize: str = "lufs"            # lufs | peak | none
    lufs: float = -14.0                # integrated loudness target (lufs mode)
    peak_db: float = -1.0              # true-peak target (peak mode), never above the ceiling
    true_peak: float = CEILING_DB      # ceiling in dBTP (lufs and peak modes)
    max_limit: float = MAX_LIMIT_DB    # most gain reduction the limiter may apply (dB)
    catid: str = "MISCMisc"
    creator: str = "AGX"
    source: str = "AGXDesktop"
    fxname: str = ""                   # empty: from the prompt (:func:`fx_name`)
    category: str = ""                 # empty: from :data:`UCS_CATEGORIES` when the CatID is there
    subcategory: str = ""

    def validate(self) -> "ExportOptions":
        """Refuse what cannot be written, with one line naming the value (ranges as in the dialog)."""
        if self.subtype not in SUBTYPES:
            raise ParameterError(f"unknown sample format {self.subtype}: use one of {', '.join(SUBTYPES)}")
        if self.sample_rate not in RATES:
            raise ParameterError(f"sample rate must be one of {', '.join(str(r) for r in RATES)} (0 = native), "
                                 f"got {self.sample_rate}")
        if self.normalize not in NORMALISE:
            raise ParameterError(f"normalisation must be one of {', '.join(NORMALISE)}, got {self.normalize!r}")
        limits.check_real("loudness target (LUFS)", self.lufs, *LUFS_RANGE)
        limits.check_real("peak (dBTP)", self.peak_db, *PEAK_RANGE)
        limits.check_real("true-peak ceiling (dBTP)", self.true_peak, *CEILING_RANGE)
        limits.check_real("maximum limiting (dB)", self.max_limit, *MAX_LIMIT_RANGE)
        for name in ("catid", "creator", "source", "fxname", "category", "subcategory"):
            value = getattr(self, name)
            if not isinstance(value, str) or _CONTROL.search(value) or len(value) > 200:
                raise ParameterError(f"{name} must be text without control characters (at most 200), got {value!r}")
        return self


@dataclass(frozen=True)
class ExportResult:
    """A written export: where, and what a meter reads on it."""

    path: Path
    loudness: LoudnessResult
    sample_rate: int

    @property
    def message(self) -> str:
        return self.loudness.message


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


def model_name(model_id: str) -> str:
    """The last part of a model id or folder path."""
    return str(model_id).replace("\\", "/").rstrip("/").split("/")[-1]


def pattern_fields(take: "Take", catid: str, creator: str, source: str, fxname: str = "") -> dict:
    return {"catid": catid, "fxname": fxname or fx_name(take.prompt), "creator": creator, "source": source,
            "prompt": take.prompt, "seed": int(take.params.seed), "model": model_name(take.model_id),
            "kind": take.kind, "take": take.id, "date": _dt.date.today().isoformat(),
            "duration": f"{take.duration:.1f}s"}


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


def file_name(take: "Take", pattern: str, catid: str, creator: str, source: str, ext: str = ".wav",
              fxname: str = "") -> str:
    """The export file name from a ``{field}`` pattern (UCS by default: CatID_FXName_Creator_Source)."""
    check_pattern(pattern)
    name = pattern.format(**pattern_fields(take, catid, creator, source, fxname))
    if take.kind not in ("original",) and "{kind}" not in pattern:
        name += f"_{take.kind}"
    return safe_filename(name) + ext


def unique_path(path: Path) -> Path:
    """``path``, or ``name_2.wav``, ``name_3.wav``... if it exists (the dialog never overwrites silently)."""
    if not path.exists():
        return path
    for i in range(2, 10000):
        cand = path.with_name(f"{path.stem}_{i}{path.suffix}")
        if not cand.exists():
            return cand
    return path


# --------------------------------------------------------------------------- audio

def render(audio: np.ndarray, sr: int, opts: ExportOptions) -> tuple[np.ndarray, int, LoudnessResult]:
    """The audio as it will be written: resampled, then normalised; with what it measures."""
    out_sr = int(opts.sample_rate) or int(sr)
    data = resample(np.asarray(audio, dtype=np.float32), int(sr), out_sr)
    if opts.normalize == "lufs":
        data, result = loudness.normalise_lufs(data, out_sr, opts.lufs, opts.true_peak, opts.max_limit)
    elif opts.normalize == "peak":
        data, result = loudness.normalise_peak(data, out_sr, opts.peak_db, opts.true_peak)
    clipped = 0.0
    if opts.subtype != "FLOAT":
        clipped = float(np.mean(np.abs(data) > 1.0)) if data.size else 0.0
        data = np.clip(data, -1.0, 1.0)  # PCM cannot hold more than full scale (only "none" can get there)
    if opts.normalize == "none":
        result = replace(loudness.measure(data, out_sr, "none"), clipped=clipped)
    return np.asarray(data, dtype=np.float32), out_sr, result


# --------------------------------------------------------------------------- metadata

def important_words(explanation: "Explanation | None", prompt: str, most: int = 8) -> list[str]:
    """Keywords: the words the explanation found important (importance >= 0.5, most important first;
    at least the top one), or without an explanation the prompt's words less articles and links."""
    if explanation is not None:
        values = np.asarray(explanation.word_importance(), dtype=float)
        order = [int(i) for i in np.argsort(-values, kind="stable")]
        chosen = [i for i in order if values[i] >= 0.5] or order[:1]
        words = [explanation.words[i] for i in chosen]
    else:
        words = [w for w in re.findall(r"[\w']+", prompt) if w.lower() not in _STOPWORDS]
    out: list[str] = []
    for w in (re.sub(r"[^\w'-]", "", w).lower() for w in words):
        if w and w not in out:
            out.append(w)
    return out[:most]


def _origination(take: "Take") -> tuple[str, str]:
    """Date and time the take was generated (UTC, from ``take.created``), as bext wants them."""
    try:
        when = _dt.datetime.fromisoformat(str(take.created))
        if when.tzinfo is not None:
            when = when.astimezone(_dt.timezone.utc)
    except ValueError:
        return str(take.created)[:10], "00:00:00"
    return when.strftime("%Y-%m-%d"), when.strftime("%H:%M:%S")


def _channels_word(n: int) -> str:
    return {1: "mono", 2: "stereo"}.get(n, "multitrack")


def ucs_fields(take: "Take", opts: ExportOptions, keywords: tp.Sequence[str]) -> dict[str, str]:
    """UCS metadata: CatID, Category, SubCategory, FXName, CreatorID, SourceID, Keywords (+ library names)."""
    category, sub = opts.category, opts.subcategory
    if not (category or sub) and opts.catid in UCS_CATEGORIES:
        category, sub = UCS_CATEGORIES[opts.catid]
    return {"CatID": opts.catid, "Category": category, "SubCategory": sub,
            "CategoryFull": f"{category}-{sub}" if category and sub else "",
            "FXName": opts.fxname or fx_name(take.prompt), "CreatorID": opts.creator, "SourceID": opts.source,
            "Description": take.prompt, "Keywords": ", ".join(keywords), "Designer": opts.creator,
            "Library": opts.source}


def generation_fields(take: "Take", opts: ExportOptions, result: LoudnessResult) -> dict[str, tp.Any]:
    p = take.params
    return {"prompt": take.prompt, "model": take.model_id, "seed": int(p.seed), "duration": f"{p.duration:g}",
            "cfg": f"{p.cfg_coef:g}", "top_k": int(p.top_k), "top_p": f"{p.top_p:g}",
            "temperature": f"{p.temperature:g}", "kind": take.kind, "take": take.id, "parent": take.parent or "",
            "word_weights": "" if take.word_weights is None else ",".join(f"{w:g}" for w in take.word_weights),
            "created": take.created, "normalize": opts.normalize,
            "loudness": "" if result.lufs is None else f"{result.lufs:.2f}",
            "true_peak": f"{result.true_peak:.2f}" if np.isfinite(result.true_peak) else "",
            "limited_db": f"{result.limited_db:.2f}", "export": result.message}


def info_fields(take: "Take", opts: ExportOptions) -> dict[str, str]:
    """RIFF LIST/INFO (read by players and file browsers that know nothing of BWF)."""
    p = take.params
    return {
        "title": take.prompt[:250],
        "comment": (f"prompt={take.prompt}; seed={int(p.seed)}; model={take.model_id}; kind={take.kind}; "
                    f"duration={p.duration:g}; cfg={p.cfg_coef:g}; top_k={p.top_k}; top_p={p.top_p:g}; "
                    f"temperature={p.temperature:g}; weights={take.word_weights}; take={take.id}")[:2000],
        "software": ORIGINATOR,
        "artist": opts.creator,
        "date": str(take.created)[:10],
        "genre": opts.category or UCS_CATEGORIES.get(opts.catid, ("",))[0],
    }


def wav_bytes(take: "Take", opts: ExportOptions,
              explanation: "Explanation | None" = None) -> tuple[bytes, int, LoudnessResult]:
    """The whole export file in memory: (bytes, sample rate, loudness result)."""
    opts.validate()
    audio, sr, result = render(take.audio, take.sample_rate, opts)
    date, time = _origination(take)
    bits = bwf.BITS[opts.subtype]
    fmt = "PCM" if opts.subtype != "FLOAT" else "PCM-FLOAT"
    chans = _channels_word(int(audio.shape[0]))
    history = (f"A=PCM-FLOAT,F={take.sample_rate},W=32,M={chans},T={ORIGINATOR} generation: "
               f"{model_name(take.model_id)} seed {int(take.params.seed)} take {take.id}\r\n"
               f"A={fmt},F={sr},W={bits},M={chans},T={ORIGINATOR} export: "
               f"{'resampled, ' if sr != take.sample_rate else ''}{result.message}\r\n")
    stats = loudness.loudness_stats(audio, sr)
    bext = bwf.Bext(description=take.prompt, originator=ORIGINATOR, originator_ref=f"AGX{take.id}",
                    date=date, time=time, coding_history=history,
                    loudness=result.lufs, true_peak=result.true_peak, **stats)
    keywords = important_words(explanation, take.prompt)
    ixml = bwf.IXml(project=opts.source, note=take.prompt, channels=int(audio.shape[0]),
                    ucs=ucs_fields(take, opts, keywords), generation=generation_fields(take, opts, result))
    return bwf.encode(audio, sr, opts.subtype, info_fields(take, opts), bext, ixml), sr, result


def export_wav(take: "Take", path: str | Path, opts: ExportOptions,
               explanation: "Explanation | None" = None) -> ExportResult:
    """Render ``take`` with ``opts`` and write it to ``path`` atomically (an existing file there is replaced).

    Every failure is one :class:`ExportError` (or :class:`ParameterError` for a bad option) and leaves
    nothing behind.
    """
    path = Path(path).expanduser()
    folder = path.parent
    if path.is_dir():
        raise ExportError(f"{path} is a folder: give a file name ending in .wav")
    try:
        data, sr, result = wav_bytes(take, opts, explanation)
    except (AgxError, MemoryError):
        raise
    except OSError as exc:
        raise ExportError(f"could not write {path.name}: {fsio.describe_os_error(exc, folder)}") from exc
    except Exception as exc:  # libsndfile refusing something: one clear line
        raise ExportError(f"could not encode {path.name}: {type(exc).__name__}: "
                          f"{(str(exc).splitlines() or [''])[0][:200]}") from exc
    created: list[Path] = []
    try:
        created = fsio.make_folders(folder)  # a new folder for the export is made, as a save dialog would
        fsio.write_bytes_atomic(path, data)
    except OSError as exc:
        fsio.remove_folders(created)  # nothing left behind: not even the folders made for it
        raise ExportError(f"could not write {path.name}: {fsio.describe_os_error(exc, folder)}") from exc
    return ExportResult(path, result, sr)


__all__ = ["ExportError", "ExportOptions", "ExportResult", "export_wav", "wav_bytes", "render", "file_name",
           "check_pattern", "fx_name", "safe_filename", "unique_path", "important_words", "PATTERN_FIELDS",
           "RATES", "SUBTYPES", "UCS_CATEGORIES", "ORIGINATOR"]
