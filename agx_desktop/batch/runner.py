"""The batch driver: plans the sheet, skips what is finished, sends the rest to a backend and writes
every result itself, one take at a time.

Layout of ``DIR``::

    takes/ID/          a take folder per item (audio.wav, take.json, tensors, explanation.json)
    export/NAME.wav    the delivery file (BWF, UCS name and metadata) when the row asks for one
    manifest.csv       one row per finished take, for a library tool to import

Resuming: an item is finished when its take folder loads, its explanation is there (if asked) and its
export file exists; those are never redone or rewritten. A take whose explanation or export is missing
(the driver was killed between the writes) is sent back with the take, so only the missing part is
made. Each write is atomic (:func:`~agx_desktop.engine.take_folder.save_take`, ``fsio``), and what a
killed driver left half-written is cleaned up first (``recover_all``, ``clean_stale_temps``).
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import sys
import typing as tp
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import fsio, take_folder
from ..engine.errors import AgxError, OutputPathError, TakeBusyError
from ..engine.safetext import terminal_safe
from .backends import Backend, InProcess, Outcome
from .plan import WorkItem, plan
from .sheet import read_sheet
from .work import Result, Task, run_task

if tp.TYPE_CHECKING:
    from ..engine.explanation import Explanation
    from ..engine.progress import CancelToken
    from ..engine.speed import SpeedSettings
    from ..engine.take import Take

TAKES, EXPORT, MANIFEST = "takes", "export", "manifest.csv"
DRIVER = "batch-driver"
"""The name locked inside ``DIR`` while a driver runs (``DIR/.batch-driver.agx-lock``; nothing by this name is written)."""
MANIFEST_COLUMNS = ("Filename", "Description", "CatID", "Category", "SubCategory", "FXName", "CreatorID",
                    "SourceID", "Keywords", "Duration", "SampleRate", "Channels", "Seed", "Model", "Explained",
                    "Row", "Take", "TakeID", "TakeFolder", "Created")


@dataclass
class Summary:
    """What a run did; ``problems`` are the sheet's bad rows, ``failed`` the items that did not finish."""

    out: Path
    planned: int = 0
    done_before: int = 0
    made: int = 0
    problems: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False
    retried: int = 0

    @property
    def finished(self) -> int:
        return self.done_before + self.made


@dataclass
class _State:
    """What an item already has on disk."""

    take: "Take | None" = None
    explanation: "Explanation | None" = None
    exported: bool = False

    def complete(self, item: WorkItem) -> bool:
        return self.take is not None and (not item.explain or self.explanation is not None) \
            and (item.export is None or self.exported)


def check_out_dir(out: str | os.PathLike[str]) -> Path:
    """``DIR`` may be new, empty, or an earlier batch's folder; never a take or a folder of other files."""
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(out))))
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputPathError(f"{terminal_safe(path)} is not a folder: give a new folder for the batch")
    if path.is_dir():
        if take_folder.is_agx_take(path):
            raise OutputPathError(f"{terminal_safe(path)} is a take folder: give a new folder for the batch")
        entries = [e for e in os.listdir(path) if not e.startswith(".")]
        if entries and not ({TAKES, MANIFEST, EXPORT} & set(entries)):
            raise OutputPathError(f"{terminal_safe(path)} holds other files ({len(entries)} entries) and no earlier "
                                  "batch: give a new or empty folder (nothing was written)")
    return path


def _inspect(item: WorkItem, out: Path) -> _State:
    state = _State()
    folder = out / TAKES / item.id
    if not folder.is_dir():
        return state
    try:
        state.take = take_folder.load_take(folder, repair=False)
    except AgxError:
        return state  # damaged: not finished, made again (save_take replaces it whole)
    if item.explain and (folder / take_folder.EXPLANATION).is_file():
        try:
            explanation = take_folder.load_explanation(folder, state.take)
            state.explanation = explanation if explanation.method == item.explain else None
        except AgxError:
            pass
    state.exported = item.export_name is not None and (out / EXPORT / item.export_name).is_file()
    return state


def manifest_row(item: WorkItem, take: "Take", explanation: "Explanation | None") -> dict[str, tp.Any]:
    from ..engine.delivery.export import UCS_CATEGORIES, fx_name, important_words
    opts = item.export
    catid = opts.catid if opts else ""
    category, subcategory = UCS_CATEGORIES.get(catid, ("", ""))
    return {
        "Filename": f"{EXPORT}/{item.export_name}" if item.export_name else "",
        "Description": take.prompt,
        "CatID": catid,
        "Category": (opts.category if opts and opts.category else category),
        "SubCategory": (opts.subcategory if opts and opts.subcategory else subcategory),
        "FXName": opts.fxname if opts else fx_name(take.prompt),
        "CreatorID": opts.creator if opts else "",
        "SourceID": opts.source if opts else "",
        "Keywords": ", ".join(important_words(explanation, take.prompt)),
        "Duration": f"{take.duration:.3f}",
        "SampleRate": take.sample_rate,
        "Channels": int(take.audio.shape[0]),
        "Seed": int(take.params.seed),
        "Model": take.model_id,
        "Explained": explanation.method if explanation is not None else "",
        "Row": item.row,
        "Take": item.number,
        "TakeID": take.id,
        "TakeFolder": f"{TAKES}/{item.id}",
        "Created": take.created,
    }


def write_manifest(out: Path, rows: tp.Sequence[dict[str, tp.Any]]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return fsio.write_text_atomic(out / MANIFEST, buffer.getvalue())


def _save(item: WorkItem, result: Result, out: Path) -> None:
    """The driver's writes for one item, in the order that makes 'export exists' mean 'all done'."""
    folder = out / TAKES / item.id
    if result.new_take:
        take_folder.save_take(result.take, folder)
    if result.new_explanation and result.explanation is not None:
        take_folder.save_explanation(result.explanation, folder)
    if result.wav is not None and item.export_name is not None:
        (out / EXPORT).mkdir(exist_ok=True)
        fsio.write_bytes_atomic(out / EXPORT / item.export_name, result.wav)


class _Bars:
    """tqdm bars: one for the whole batch, one per worker (takes it finished)."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.enabled = enabled
        self.workers: dict[str, tp.Any] = {}
        self.overall: tp.Any = None
        if enabled:
            from tqdm import tqdm
            self.overall = tqdm(total=total, initial=done, desc="batch", unit="take", file=sys.stderr,
                                dynamic_ncols=True)

    def update(self, outcome: Outcome[tp.Any], label: str) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm
        worker = outcome.worker or "?"
        bar = self.workers.get(worker)
        if bar is None:
            bar = self.workers[worker] = tqdm(desc=f"  {worker}", unit="take", position=len(self.workers),
                                              file=sys.stderr, leave=False, dynamic_ncols=True)
        bar.update(1)
        bar.set_postfix_str(label, refresh=True)
        self.overall.update(1)

    def close(self) -> None:
        for bar in self.workers.values():
            bar.close()
        if self.overall is not None:
            self.overall.close()


def run_batch(sheet: str | os.PathLike[str], out: str | os.PathLike[str], backend: Backend | None = None, *,
              default_model: str = "bundled", device: str | None = None, progress: bool = True,
              on_take: tp.Callable[[WorkItem, Path], None] | None = None,
              on_progress: tp.Callable[[int, int], None] | None = None,
              cancel: "CancelToken | None" = None, speed: "SpeedSettings | None" = None) -> Summary:
    """Make what the sheet asks for in ``out`` (see the module docstring); resumable.

    Bad rows are listed in :attr:`Summary.problems` and skipped; an item that fails is listed in
    :attr:`Summary.failed` and the others go on. Ctrl+C stops the workers, keeps every finished take
    and the manifest, and sets :attr:`Summary.interrupted`; so does ``cancel`` (checked as each take
    comes back; the takes being made are dropped). ``on_take(item, folder)`` is called as each take is
    written (the app fills its takes list from it), ``on_progress(finished, planned)`` at the start
    and after each take. ``speed``: the settings new takes are sampled under (int8 / bf16, see
    :mod:`agx_desktop.engine.speed`; explanations use the float model); each take records them.

    One driver per ``out`` at a time: while another process runs a batch there, this one raises
    :class:`~agx_desktop.engine.errors.TakeBusyError` (one line, its pid) before anything is written
    or any worker starts. The lock is the OS's (``take_folder.take_lock``, a hidden file in ``out``),
    so a driver killed with ``kill -9`` leaves nothing that blocks the next run.
    """
    out_dir = check_out_dir(out)
    rows, problems = read_sheet(sheet, default_model)
    items = plan(rows)
    with driver_lock(out_dir):
        return _run(items, problems, out_dir, backend, device, progress, on_take, on_progress, cancel, speed)


@contextlib.contextmanager
def driver_lock(out_dir: Path) -> tp.Iterator[None]:
    """Hold ``out_dir`` for one batch driver: another process holding it -> :class:`TakeBusyError` at once,
    one line with its pid. The lock file is inside ``out_dir`` (so a drive's root works) and the lock is
    the OS's, so a driver killed with ``kill -9`` leaves nothing that blocks the next run."""
    held = False
    try:
        with take_folder.take_lock(out_dir / DRIVER):
            held = True
            yield
    except TakeBusyError as exc:
        if held:
            raise
        holder = re.search(r"\(pid \d+\)", str(exc))
        raise TakeBusyError(f"another agx batch {holder.group(0) + ' ' if holder else ''}is running in "
                            f"{terminal_safe(out_dir)}: wait for it to finish or stop it, then run this again "
                            "(nothing was written)") from None


def _run(items: list[WorkItem], problems: list[str], out_dir: Path, backend: Backend | None, device: str | None,
         progress: bool, on_take: tp.Callable[[WorkItem, Path], None] | None,
         on_progress: tp.Callable[[int, int], None] | None, cancel: "CancelToken | None",
         speed: "SpeedSettings | None" = None) -> Summary:
    """:func:`run_batch` once it holds ``out_dir``."""
    summary = Summary(out=out_dir, planned=len(items), problems=problems)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / TAKES).mkdir(exist_ok=True)
    take_folder.recover_all(out_dir / TAKES)  # what a killed driver left half-written
    for folder in (out_dir, out_dir / EXPORT):
        fsio.clean_stale_temps(folder)
    manifest: dict[str, dict[str, tp.Any]] = {}
    todo: list[tuple[str, Task]] = []
    by_id = {item.id: item for item in items}
    for item in items:
        state = _inspect(item, out_dir)
        if state.complete(item):
            assert state.take is not None
            manifest[item.id] = manifest_row(item, state.take, state.explanation)
        else:
            todo.append((item.id, Task(item, state.take, state.explanation, device, speed=speed)))
    summary.done_before = len(manifest)
    order = {item.id: i for i, item in enumerate(items)}

    def save_manifest() -> None:
        write_manifest(out_dir, [manifest[k] for k in sorted(manifest, key=order.__getitem__)])

    save_manifest()
    backend = backend or InProcess()
    if cancel is not None and isinstance(backend, InProcess):  # stop mid-take, not only between takes
        for _, task in todo:
            task.cancel = cancel
    bars = _Bars(len(items), summary.done_before, progress and bool(todo))
    if on_progress is not None:
        on_progress(summary.finished, summary.planned)
    outcomes = backend.run(run_task, todo)
    try:
        for outcome in outcomes:
            if cancel is not None and cancel.cancelled:
                summary.interrupted = True
                break
            item = by_id[outcome.key]
            summary.retried += outcome.attempts - 1
            if not outcome.ok:
                summary.failed.append(f"{item.label} ({item.id}): {outcome.error}")
                continue
            result: Result = outcome.value  # type: ignore[assignment]
            try:
                _save(item, result, out_dir)
            except AgxError as exc:
                summary.failed.append(f"{item.label} ({item.id}): {exc}")
                continue
            except OSError as exc:
                summary.failed.append(f"{item.label} ({item.id}): {fsio.describe_os_error(exc, out_dir)}")
                continue
            manifest[item.id] = manifest_row(item, result.take, result.explanation)
            save_manifest()
            summary.made += 1
            bars.update(outcome, item.label)
            if on_take is not None:
                on_take(item, out_dir / TAKES / item.id)
            if on_progress is not None:
                on_progress(summary.finished, summary.planned)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        outcomes.close()  # stops the workers if we did not get to the end
        bars.close()
    save_manifest()
    return summary


__all__ = ["run_batch", "Summary", "check_out_dir", "write_manifest", "manifest_row", "TAKES", "EXPORT", "MANIFEST",
           "MANIFEST_COLUMNS"]
