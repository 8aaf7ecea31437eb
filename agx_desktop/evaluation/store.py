"""The results folder of ``agx evaluate``: ``results.jsonl`` (one finished caption a line, appended and
fsync'ed), ``run.json`` (the settings they were made with) and the ``flock`` that lets shards share them.

A line a crash cut short is dropped with a notice; a damaged ``run.json`` or results line, or an
``--out`` that is a file, is refused with one line (:class:`.protocol.EvaluationError`), and
nothing there is rewritten.
"""
from __future__ import annotations

import json
import os
import typing as tp
from pathlib import Path

from ..engine.fsio import write_text_atomic
from .protocol import EvaluationError

RESULTS, RUN = "results.jsonl", "run.json"
_METRIC_KEYS = ("fid_f", "fid_cf", "kl_f", "kl_cf", "size", "seconds", "peak_mb")
_RECORD_START = b'{"index": '  # how json.dumps of a record begins: a line starting so and not parsing is torn


def _is_number(value: tp.Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def record_problem(record: tp.Any) -> str | None:
    """Why ``record`` is not a caption record the tables can use (None when it is one)."""
    if not isinstance(record, dict):
        return "not a JSON object"
    index = record.get("index")
    if "index" not in record:
        return "no 'index'"
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return f"'index' is {index!r}, not a whole number >= 0"
    if not isinstance(record.get("caption"), str):
        return "no 'caption' text"
    methods = record.get("methods")
    if not isinstance(methods, dict):
        return "no 'methods' object"
    for name, m in methods.items():
        if not isinstance(m, dict):
            return f"method {name!r} is not an object"
        missing = [k for k in _METRIC_KEYS if not _is_number(m.get(k))]
        if missing:
            return f"method {name!r} lacks numbers for {', '.join(missing)}"
    floor = record.get("floor")
    if floor is not None and not (isinstance(floor, dict) and _is_number(floor.get("fid"))
                                  and _is_number(floor.get("kl"))):
        return "'floor' is not an object with 'fid' and 'kl' numbers"
    return None


def read_results(out: Path) -> tuple[list[dict], int]:
    """(finished caption records, incomplete lines dropped) of OUT/results.jsonl.

    A line a crash cut short (the last line, or any line that starts like a record and does not
    parse) is an interrupted write: it is left out and counted. Any other line that is not a
    record (edited, damaged) raises :class:`EvaluationError` naming the file and the line: the
    results are never silently dropped or rewritten without it.
    """
    path = out / RESULTS
    if not path.exists():
        return [], 0
    if not path.is_file():
        raise EvaluationError(f"{path} is not a file: move it away or use another --out")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvaluationError(f"cannot read {path} ({exc.strerror or exc}): check its permissions") from None
    lines = raw.split(b"\n")
    last = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
    records, torn = [], 0
    fix = "fix or delete that line (the other results are kept), or rerun with --restart to discard them all"
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            if i == last or line.startswith(_RECORD_START):
                torn += 1
                continue
            raise EvaluationError(f"{path} line {i + 1} is not JSON (edited or damaged): {fix}") from None
        problem = record_problem(record)
        if problem:
            raise EvaluationError(f"{path} line {i + 1} is not a result record ({problem}): {fix}")
        records.append(record)
    return records, torn


def load_results(out: Path) -> list[dict]:
    """Finished caption records; a torn line (crash mid-write) is ignored, a damaged one refused."""
    return read_results(out)[0]


def read_run(out: Path) -> dict | None:
    """The settings OUT/run.json records (None when there is none); :class:`EvaluationError` if damaged."""
    path = out / RUN
    if not path.exists():
        return None
    fix = (f"it records the settings of the results in {out}: restore it, use another --out, or rerun with "
           "--restart to discard those results")
    if not path.is_file():
        raise EvaluationError(f"{path} is not a file: {fix}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvaluationError(f"cannot read {path} ({exc.strerror or exc}): check its permissions") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise EvaluationError(f"{path} is damaged ({type(exc).__name__}): {fix}") from None
    if not isinstance(doc, dict):
        raise EvaluationError(f"{path} is damaged (not a JSON object): {fix}")
    return doc


def check_out_folder(out: Path) -> None:
    """Refuse an --out that cannot hold results (a file, under a file, not writable) before any work."""
    if out.exists() and not out.is_dir():
        raise EvaluationError(f"--out {out} is a file, not a results folder: give a folder (created if missing)")
    ancestor = out
    while not ancestor.exists() and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EvaluationError(f"--out {out} cannot be created: {ancestor} is a file; give another folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise EvaluationError(f"--out {out}: {ancestor} is not writable for you; give another folder")


class RunLock:
    """An exclusive ``flock`` on OUT/.lock, so shards of one run can share results.jsonl and the tables."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".lock"

    def __enter__(self) -> "RunLock":
        self.f = open(self.path, "a")
        try:
            import fcntl
            fcntl.flock(self.f.fileno(), fcntl.LOCK_EX)
        except ImportError:  # not POSIX: single process only
            pass
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        self.f.close()  # releases the lock



def replace_results(out: Path, records: list[dict]) -> None:
    """Rewrite results.jsonl atomically with ``records``."""
    write_text_atomic(out / RESULTS, "".join(json.dumps(r) + "\n" for r in records))


def append_result(out: Path, record: dict) -> None:
    path = out / RESULTS
    # a torn last line from a crash would swallow the next record: start on a fresh line
    needs_newline = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if needs_newline else "") + json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())
