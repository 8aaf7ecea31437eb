"""One queue of engine jobs, run one at a time off the GUI thread.

napari-style: a job is a plain function ``fn(ctx)`` that calls the engine with ``ctx.progress`` and
``ctx.cancel``; the :class:`JobRunner` (a QObject living in the GUI thread) runs it on a QThread and
re-emits progress, results and errors as Qt signals. A request made while a job runs is queued
(and shown as such), never dropped. Cancelling sets the job's :class:`CancelToken`; the engine checks
it at every step/epoch, raises ``Cancelled``, and the job's result is discarded, so the app stays as
it was. ``shutdown()`` cancels everything and waits (used when quitting).
"""
from __future__ import annotations

import itertools
import time
import traceback
import typing as tp
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QThread, Signal

from agx_desktop.engine.errors import AgxError, Cancelled
from agx_desktop.engine.progress import CancelToken

_ids = itertools.count(1)


class JobContext:
    """What a job function gets: a cancel token and a thread-safe progress reporter (every step is
    passed on; the job bar throttles its repaints with superqt's ``qthrottled``)."""

    def __init__(self, job: "Job", emit: tp.Callable[[str, int, int], None],
                 emit_live: tp.Callable[[tp.Any], None] | None = None,
                 emit_audio: tp.Callable[[int, tp.Any], None] | None = None) -> None:
        self.job = job
        self.cancel = job.token
        self._emit = emit
        self._emit_live = emit_live
        self._emit_audio = emit_audio

    def live(self, snapshot: tp.Any) -> None:
        """Hand the GUI a provisional live map (the job throttles how often it calls this)."""
        if self._emit_live is not None:
            self._emit_live(snapshot)

    def audio(self, end_sample: int, chunk: tp.Any) -> None:
        """Hand the GUI decoded audio ``chunk`` [channels, n] ending at ``end_sample`` (play as it generates)."""
        if self._emit_audio is not None:
            self._emit_audio(int(end_sample), chunk)

    def progress(self, stage: str, done: int, total: int) -> None:
        self._emit(stage, int(done), int(total))
        self.cancel.raise_if_cancelled()

    def check(self) -> None:
        self.cancel.raise_if_cancelled()


@dataclass(eq=False)
class Job:
    title: str
    fn: tp.Callable[[JobContext], tp.Any]
    on_done: tp.Callable[[tp.Any], None] | None = None
    kind: str = ""
    id: int = field(default_factory=lambda: next(_ids))
    token: CancelToken = field(default_factory=CancelToken)
    t_started: float = 0.0   # perf_counter when its thread started
    t_finished: float = 0.0  # perf_counter when the GUI thread learnt it ended (before showing results)

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.title!r})"


class _Thread(QThread):
    progressed = Signal(str, int, int)
    lived = Signal(object)
    sounded = Signal(int, object)

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job
        self.result: tp.Any = None
        self.error: BaseException | None = None
        self.details = ""

    def run(self) -> None:  # worker thread
        ctx = JobContext(self.job, self.progressed.emit, self.lived.emit, self.sounded.emit)
        try:
            self.result = self.job.fn(ctx)
            if self.job.token.cancelled:
                raise Cancelled("cancelled by the user")
        except BaseException as exc:  # reported in the GUI thread
            self.error = exc
            self.details = traceback.format_exc()


class JobRunner(QObject):
    """Runs :class:`Job` s one after another on worker threads."""

    started = Signal(object)                 # job
    progress = Signal(object, str, int, int)  # job, stage, done, total
    finished = Signal(object, object)        # job, result (after on_done ran)
    failed = Signal(object, str, str)        # job, one-line message, details
    cancelled = Signal(object)               # job
    live = Signal(object, object)            # job, live map snapshot (ui.tasks.LiveSnapshot)
    audio = Signal(object, int, object)      # job, end sample, float32 chunk [channels, n]
    queue_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pending: list[Job] = []
        self.running: Job | None = None
        self._thread: _Thread | None = None
        self._shutting_down = False

    @property
    def busy(self) -> bool:
        return self.running is not None

    def submit(self, job: Job) -> Job:
        if self._shutting_down:
            return job
        self.pending.append(job)
        self.queue_changed.emit()
        if self.running is None:
            self._next()
        return job

    def cancel_current(self) -> None:
        if self.running is not None:
            self.running.token.cancel()

    def clear_queue(self) -> None:
        dropped, self.pending = self.pending, []
        for job in dropped:
            self.cancelled.emit(job)
        self.queue_changed.emit()

    def cancel_all(self) -> None:
        self.clear_queue()
        self.cancel_current()

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the running job's thread ends (used at shutdown and by tests)."""
        th = self._thread
        return True if th is None else th.wait(timeout_ms)

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Cancel everything and wait for the worker to stop; returns False on timeout."""
        self._shutting_down = True
        self.cancel_all()
        ok = self.wait(timeout_ms)
        if self._thread is not None and ok:
            self._thread.finished.disconnect()
            self._thread = None
            self.running = None
        return ok

    # ------------------------------------------------------------------ internals
    def _next(self) -> None:
        if self.running is not None or not self.pending or self._shutting_down:
            return
        job = self.pending.pop(0)
        self.running = job
        th = _Thread(job)
        self._thread = th
        th.progressed.connect(lambda s, d, t, j=job: self.progress.emit(j, s, d, t))
        th.lived.connect(lambda snap, j=job: self.live.emit(j, snap))
        th.sounded.connect(lambda end, chunk, j=job: self.audio.emit(j, end, chunk))
        th.finished.connect(self._on_thread_finished)
        self.queue_changed.emit()
        self.started.emit(job)
        job.t_started = time.perf_counter()
        th.start()

    def _on_thread_finished(self) -> None:
        th, job = self._thread, self.running
        if th is None or job is None:
            return
        job.t_finished = time.perf_counter()
        self._thread, self.running = None, None
        th.wait()
        err = th.error
        if isinstance(err, Cancelled) or (err is None and job.token.cancelled):
            self.cancelled.emit(job)
        elif err is not None:
            msg = str(err) if isinstance(err, AgxError) else f"{type(err).__name__}: {err}"
            self.failed.emit(job, msg.splitlines()[0] if msg else type(err).__name__, th.details)
        else:
            try:
                if job.on_done is not None:
                    job.on_done(th.result)
            except Exception as exc:  # a bug in showing the result must not kill the queue
                self.failed.emit(job, f"{type(exc).__name__}: {exc}", traceback.format_exc())
            else:
                self.finished.emit(job, th.result)
        th.deleteLater()
        self.queue_changed.emit()
        self._next()
