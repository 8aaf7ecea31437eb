"""The prompt sheet: a CSV or TSV with a header row, one row per prompt.

Columns (names are case-insensitive; spaces, ``_`` and ``-`` are ignored; only ``prompt`` is required)::

    prompt    what the sound is                              (required)
    count     how many variations (takes)                    1 .. 1000, default 1
    duration  seconds per take                               default 5
    seed      first seed (take i gets seed + i); blank = one derived from the row's text
    model     model id or checkpoint folder                  default: --model (bundled)
    catid     UCS CatID         fxname  UCS FXName (blank = from the prompt)
    creator   UCS CreatorID     source  UCS SourceID        category / subcategory: UCS, optional
    explain   yes / no / a method name (yes = audiogenx)     default no
    format    wav24 | wav16 | float, optionally @44.1k or @48k; none = no export   default wav24

A bad row is never fatal: :func:`read_sheet` returns the good rows and one line per bad row, naming
its number (the header is row 1, as a spreadsheet shows it) and what to fix.
"""
from __future__ import annotations

import csv
import io
import os
import typing as tp
from dataclasses import dataclass
from pathlib import Path

from ..engine import limits, models
from ..engine.delivery.export import ExportOptions
from ..engine.errors import AgxError, ParameterError
from ..engine.safetext import check_prompt_chars, one_line

MAX_COUNT = 1000
MAX_ROWS = 100_000
DEFAULT_DURATION = 5.0
COLUMNS = ("prompt", "count", "duration", "seed", "model", "catid", "fxname", "creator", "source",
           "category", "subcategory", "explain", "format")
_ALIASES = {"creatorid": "creator", "sourceid": "source", "description": "prompt", "text": "prompt",
            "variations": "count", "takes": "count", "seconds": "duration", "ucscatid": "catid",
            "ucscategory": "category", "ucssubcategory": "subcategory", "export": "format"}
_YES = {"yes", "y", "true", "1", "on", "x"}
_NO = {"no", "n", "false", "0", "off", ""}
_SUBTYPE = {"wav24": "PCM_24", "wav": "PCM_24", "pcm24": "PCM_24", "wav16": "PCM_16", "pcm16": "PCM_16",
            "float": "FLOAT", "wav32f": "FLOAT", "wavfloat": "FLOAT"}
_RATE = {"": 0, "44.1k": 44100, "44100": 44100, "48k": 48000, "48000": 48000}
FORMATS = "wav24, wav16 or float, optionally with @44.1k or @48k (e.g. wav24@48k), or none"


class SheetError(AgxError, ValueError):
    """The sheet as a whole cannot be used (missing, unreadable, no prompt column, no rows)."""


@dataclass(frozen=True)
class SheetRow:
    """One good row, values checked and defaults filled in."""

    row: int                   # the row's number as a spreadsheet shows it (header = 1)
    prompt: str
    count: int
    duration: float
    seed: int | None           # None: derived from the row's text (see plan.derived_seed)
    model: str
    explain: str | None        # method name, or None
    export: ExportOptions | None  # None: no export file
    fxname: str                # as given (blank = from the prompt)


def _key(name: str) -> str:
    k = "".join(ch for ch in name.strip().lower() if ch not in " _-")
    return _ALIASES.get(k, k)


def _sniff_delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() in (".tsv", ".tab"):
        return "\t"
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def parse_format(text: str) -> tuple[str, int] | None:
    """``wav24@48k`` -> (subtype, rate); ``none`` -> None; ParameterError for anything else."""
    raw = text.strip().lower().replace(" ", "")
    if raw in ("none", "no", "-"):
        return None
    kind, _, rate = (raw or "wav24").partition("@")
    if kind not in _SUBTYPE or rate not in _RATE:
        raise ParameterError(f"format {one_line(text, 40)!r} is not known: use {FORMATS}")
    return _SUBTYPE[kind], _RATE[rate]


def parse_explain(text: str) -> str | None:
    """yes/no or a method name -> method or None."""
    from ..engine.explain import DEFAULT_METHOD, available_methods
    raw = text.strip().lower()
    if raw in _NO:
        return None
    if raw in _YES:
        return DEFAULT_METHOD
    if raw in available_methods():
        return raw
    raise ParameterError(f"explain {one_line(text, 40)!r} is not yes/no or a method "
                         f"({', '.join(available_methods())})")


def check_model_id(model_id: str) -> str:
    """A model id the registry knows or a checkpoint folder (before anything loads)."""
    known = {models.BUNDLED_ID, models.STAND_IN_ID, *models.HUB_MODELS}
    if model_id in known or models.is_local_checkpoint(model_id):
        return model_id
    raise ParameterError(f"model {one_line(model_id, 60)!r} is not known: use one of {', '.join(sorted(known))} "
                         f"or a checkpoint folder")


def _whole(text: str, name: str, lo: int, hi: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ParameterError(f"{name} {one_line(text, 30)!r} is not a whole number: write one from {lo} to {hi}") \
            from None
    return limits.check_int(name, value, lo, hi)


def _row(number: int, cells: dict[str, str], default_model: str) -> SheetRow:
    """One row checked; raises ParameterError naming every problem of the row (joined by '; ')."""
    problems: list[str] = []

    def check(fn: tp.Callable[[], tp.Any], fallback: tp.Any = None) -> tp.Any:
        try:
            return fn()
        except AgxError as exc:
            problems.append(str(exc))
            return fallback

    prompt = " ".join(cells.get("prompt", "").split())
    if not prompt:
        problems.append("prompt is empty: write what the sound is")
    else:
        check(lambda: check_prompt_chars(prompt))
    count = check(lambda: _whole(cells.get("count") or "1", "count", 1, MAX_COUNT), 1)
    model = check(lambda: check_model_id(cells.get("model", "").strip() or default_model), default_model)

    def duration() -> float:
        raw = (cells.get("duration") or "").strip().rstrip("s").strip()
        try:
            value = float(raw) if raw else DEFAULT_DURATION
        except ValueError:
            raise ParameterError(f"duration {one_line(raw, 30)!r} is not a number of seconds") from None
        value = limits.check_duration(value)
        most = models.max_duration(model)
        if value > most:
            raise ParameterError(f"duration {value:g} s is above the model's maximum of {most:g} s: ask for less")
        return value
    seconds = check(duration, DEFAULT_DURATION)
    seed_text = (cells.get("seed") or "").strip()
    seed = check(lambda: limits.check_seed(_whole(seed_text, "seed", 0, limits.MAX_SEED))) if seed_text else None
    if seed is not None and count is not None and seed + count - 1 > limits.MAX_SEED:
        problems.append(f"seed {seed} + count {count} runs past the largest seed: use a smaller seed")
    method = check(lambda: parse_explain(cells.get("explain", "")))
    fmt = check(lambda: parse_format(cells.get("format", "")), ("PCM_24", 0))
    fxname = cells.get("fxname", "").strip()
    opts: ExportOptions | None = None
    if fmt is not None:
        fields = {k: cells[k].strip() for k in ("catid", "creator", "source", "category", "subcategory")
                  if cells.get(k, "").strip()}
        opts = ExportOptions(subtype=fmt[0], sample_rate=fmt[1], fxname=fxname, **fields)
        check(opts.validate)
    if problems:
        raise ParameterError("; ".join(problems))
    return SheetRow(row=number, prompt=prompt, count=count, duration=seconds, seed=seed, model=model,
                    explain=method, export=opts, fxname=fxname)


def read_sheet(path: str | os.PathLike[str], default_model: str = models.BUNDLED_ID
               ) -> tuple[list[SheetRow], list[str]]:
    """(good rows, one line per bad row ``row N: what is wrong: what to do``).

    Blank rows and rows whose first cell starts with ``#`` are skipped. Raises :class:`SheetError`
    when the sheet cannot be used at all (missing, not text, no header with a prompt column).
    """
    p = Path(os.path.expanduser(os.fspath(path)))
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SheetError(f"sheet not found: {p}") from None
    except IsADirectoryError:
        raise SheetError(f"{p} is a folder: give a .csv or .tsv file") from None
    except UnicodeDecodeError:
        raise SheetError(f"{p} is not UTF-8 text: save the sheet as CSV (UTF-8) or TSV") from None
    except OSError as exc:
        raise SheetError(f"cannot read {p}: {exc.strerror or exc}") from None
    lines = text.splitlines()
    if not any(ln.strip() for ln in lines):
        raise SheetError(f"{p} is empty: write a header row (prompt,count,...) and one row per prompt")
    reader = csv.reader(io.StringIO(text), delimiter=_sniff_delimiter(p, next(ln for ln in lines if ln.strip())))
    try:
        records = list(reader)
    except csv.Error as exc:
        raise SheetError(f"{p} is not a valid CSV/TSV ({exc}): check its quotes") from None
    number, header = next((i, r) for i, r in enumerate(records, start=1) if any(c.strip() for c in r))
    keys = [_key(c) for c in header]
    if "prompt" not in keys:
        raise SheetError(f"{p} row {number} (the header) has no 'prompt' column: name the columns, "
                         f"e.g. prompt,count,duration,seed,catid,fxname,creator,source,explain,format")
    problems: list[str] = []
    unknown = [h.strip() for h, k in zip(header, keys) if k and k not in COLUMNS]
    if unknown:
        problems.append(f"row {number} (header): unknown column(s) {', '.join(map(repr, unknown))} are ignored; "
                        f"known: {', '.join(COLUMNS)}")
    rows: list[SheetRow] = []
    for n, record in enumerate(records[number:], start=number + 1):
        if not any(c.strip() for c in record) or record[0].lstrip().startswith("#"):
            continue
        if len(rows) + len(problems) >= MAX_ROWS:
            raise SheetError(f"{p} has more than {MAX_ROWS} rows: split it into several sheets")
        if len(record) > len(keys) and any(c.strip() for c in record[len(keys):]):
            problems.append(f"row {n}: {len(record)} cells but the header names {len(keys)} columns: "
                            "quote cells that hold the delimiter")
            continue
        cells = {k: c for k, c in zip(keys, record) if k in COLUMNS}
        try:
            rows.append(_row(n, cells, default_model))
        except AgxError as exc:
            problems.append(f"row {n}: {exc}")
    return rows, problems


__all__ = ["SheetRow", "SheetError", "read_sheet", "parse_format", "parse_explain", "check_model_id", "COLUMNS",
           "MAX_COUNT"]
