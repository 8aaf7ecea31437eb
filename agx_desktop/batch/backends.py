"""Where batch work runs, behind one interface: this process, a local process pool, or a Ray cluster.

A backend runs ``fn(payload)`` for keyed payloads and yields an :class:`Outcome` per key as soon as
it is done, in whatever order they finish. ``fn`` is a module-level function (sent by reference);
each worker runs :func:`.work.setup_worker` once and keeps what it loads (the model) for every later
payload. Workers only compute: the caller writes the results, so a worker that dies loses the payload
it was on, which is sent again (at most ``max_attempts`` times in all) — nothing it finished is lost.

* :class:`InProcess` — the default; no extra process, no copy of the model.
* :class:`ProcessPool` — ``--workers N`` processes of this machine (spawned, each with its own model
  and ``--threads``); the standard library's ``ProcessPoolExecutor``, restarted if a worker dies.
* :class:`RayBackend` — ``--ray auto|local|ADDRESS``: one Ray actor per worker (the model loaded once
  in each), each pulling the next payload when it hands one back. Ray is an optional extra
  (``pip install agx-desktop[ray]``).
"""
from __future__ import annotations

import abc
import collections
import concurrent.futures as cf
import multiprocessing
import os
import socket
import typing as tp
from dataclasses import dataclass

from ..engine.errors import AgxError, ParameterError
from ..engine.safetext import one_line
from .work import setup_worker, worker_env

P = tp.TypeVar("P")
R = tp.TypeVar("R")
MAX_ATTEMPTS = 3
DEFAULT_START_METHOD = "spawn"
"""How :class:`ProcessPool` starts workers: ``spawn`` (a fresh interpreter: safe with CUDA and threads). The
tests use ``fork`` to save importing torch again in every worker."""


class BackendError(AgxError, RuntimeError):
    """A backend cannot start (Ray missing, no cluster at the address...); the message says what to do."""


@dataclass
class Outcome(tp.Generic[R]):
    """One payload's end: its value, or a one-line error; which worker; how many attempts it took."""

    key: str
    value: R | None
    error: str | None
    worker: str
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


def describe(exc: BaseException) -> str:
    """An exception as one line: an AgxError's own message, anything else with its type."""
    if isinstance(exc, AgxError):
        return one_line(str(exc), 400)
    return one_line(f"{type(exc).__name__}: {exc}", 400)


def _label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def call(fn: tp.Callable[[P], R], payload: P) -> tuple[bool, tp.Any, str]:
    """Run ``fn(payload)`` on a worker: (ok, value or error line, worker label). Never raises for an
    error of the payload, so one bad payload cannot take its worker down."""
    try:
        return True, fn(payload), _label()
    except Exception as exc:  # noqa: BLE001 - reported as the payload's failure, the worker goes on
        return False, describe(exc), _label()


class Backend(abc.ABC):
    """Runs payloads somewhere; use as a context manager (workers live until :meth:`close`)."""

    name: str = ""
    max_attempts: int = MAX_ATTEMPTS

    @property
    @abc.abstractmethod
    def workers(self) -> int:
        """How many payloads run at once."""

    @abc.abstractmethod
    def run(self, fn: tp.Callable[[P], R], tasks: tp.Iterable[tuple[str, P]]) -> tp.Iterator[Outcome[R]]:
        """Yield an outcome per ``(key, payload)`` as each finishes. Closing the iterator early
        (Ctrl+C, ``break``) stops the workers' current payloads; nothing of theirs comes back."""

    def close(self) -> None:
        """Stop the workers."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _gave_up(self, key: str, attempts: int, worker: str = "") -> Outcome[tp.Any]:
        return Outcome(key, None, f"its worker died {attempts} times while running it (out of memory? "
                                  "see the worker's log); run the batch again to retry it", worker, attempts)


class InProcess(Backend):
    """Runs payloads one after the other in this process (the default)."""

    name = "in-process"

    @property
    def workers(self) -> int:
        return 1

    def run(self, fn: tp.Callable[[P], R], tasks: tp.Iterable[tuple[str, P]]) -> tp.Iterator[Outcome[R]]:
        for key, payload in tasks:
            ok, value, worker = call(fn, payload)
            yield Outcome(key, value if ok else None, None if ok else value, "main")


def _terminate(executor: cf.ProcessPoolExecutor) -> None:
    """Stop a pool's processes now (Python 3.14 has ``terminate_workers``; before, its process table)."""
    terminate = getattr(executor, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for proc in list((getattr(executor, "_processes", None) or {}).values()):
        try:
            proc.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    executor.shutdown(wait=True, cancel_futures=True)


class ProcessPool(Backend):
    """``workers`` local processes; each loads the model once and gets ``threads`` intra-op threads
    (default: this machine's cores shared out). A dead worker breaks the standard pool as a whole and
    it does not say which payload killed it: the pool is started again and the payloads that were
    running (at most one per worker; finished ones are kept) are sent again one at a time, so the death
    is charged only to a payload that dies alone, and ``max_attempts`` such deaths give it up while the
    payloads that merely shared the pool with it are all made."""

    name = "process pool"

    def __init__(self, workers: int, threads: int | None = None, max_attempts: int = MAX_ATTEMPTS,
                 start_method: str | None = None) -> None:
        if not 1 <= int(workers) <= 256:
            raise ParameterError(f"--workers must be from 1 to 256, got {workers}")
        self._workers = int(workers)
        self.threads = threads or max(1, (os.cpu_count() or 1) // self._workers)
        self.max_attempts = max_attempts
        self._context = multiprocessing.get_context(start_method or DEFAULT_START_METHOD)
        self._executor: cf.ProcessPoolExecutor | None = None
        self.restarts = 0

    @property
    def workers(self) -> int:
        return self._workers

    def _pool(self) -> cf.ProcessPoolExecutor:
        if self._executor is None:
            self._executor = cf.ProcessPoolExecutor(max_workers=self._workers, mp_context=self._context,
                                                    initializer=setup_worker,
                                                    initargs=(worker_env(self.threads),))
        return self._executor

    def _restart(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None
        self.restarts += 1

    def run(self, fn: tp.Callable[[P], R], tasks: tp.Iterable[tuple[str, P]]) -> tp.Iterator[Outcome[R]]:
        # (key, payload, times sent, deaths charged to it)
        pending: collections.deque[tuple[str, P, int, int]] = collections.deque((k, p, 1, 0) for k, p in tasks)
        suspects: collections.deque[tuple[str, P, int, int]] = collections.deque()
        running: dict[cf.Future, tuple[str, P, int, int]] = {}
        finished = False
        try:
            while pending or suspects or running:
                refused = False
                while len(running) < self._workers and (suspects or pending):
                    if suspects and running:
                        break  # a suspect runs alone, so a death while it runs is its own
                    queue = suspects or pending
                    key, payload, sent, charged = queue[0]
                    try:
                        future = self._pool().submit(call, fn, payload)
                    except cf.process.BrokenProcessPool:  # a worker died since the last wait; this one never ran
                        refused = True
                        break
                    queue.popleft()
                    running[future] = (key, payload, sent, charged)
                    if queue is suspects:
                        break
                done, _ = cf.wait(running, return_when=cf.ALL_COMPLETED if refused else cf.FIRST_COMPLETED)
                lost: list[tuple[str, P, int, int]] = []
                while done:
                    for future in done:
                        key, payload, sent, charged = running.pop(future)
                        try:
                            ok, value, worker = future.result()
                        except cf.process.BrokenProcessPool:
                            lost.append((key, payload, sent, charged))
                            continue
                        except Exception as exc:  # noqa: BLE001 - e.g. a payload that cannot be pickled
                            yield Outcome(key, None, describe(exc), "", sent)
                            continue
                        yield Outcome(key, value if ok else None, None if ok else value, worker, sent)
                    # a broken pool fails every future it had (those that finished keep their result): collect all
                    done = cf.wait(running)[0] if (lost or refused) and running else set()
                if lost or refused:
                    if len(lost) == 1:  # the only row lost with the pool: the death is counted against it
                        key, payload, sent, charged = lost[0]
                        if charged + 1 >= self.max_attempts:
                            yield self._gave_up(key, charged + 1)
                        else:
                            suspects.appendleft((key, payload, sent + 1, charged + 1))
                    else:  # several were running: each runs alone next, so only the one that kills is charged
                        suspects.extend((key, payload, sent + 1, charged) for key, payload, sent, charged in lost)
                    self._restart()
            finished = True
        finally:
            if not finished and self._executor is not None:  # Ctrl+C or the caller stopped: stop now
                _terminate(self._executor)
                self._executor = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


class _RayWorker:
    """A Ray actor: set up once (the model stays loaded in it), then runs payloads one at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        setup_worker(env)

    def call(self, fn: tp.Callable[[P], R], payload: P) -> tuple[bool, tp.Any, str]:
        return call(fn, payload)


def import_ray() -> tp.Any:
    try:
        import ray
    except ImportError:
        raise BackendError("Ray is not installed: pip install 'agx-desktop[ray]' (or make ray), "
                           "or leave out --ray") from None
    return ray


class RayBackend(Backend):
    """``workers`` Ray actors (default: one per CPU of the cluster, ``threads`` CPUs each).

    ``address``: ``auto`` (the cluster this machine belongs to, or ``RAY_ADDRESS``), ``local``
    (start a Ray head in this process for this run), or ``ray://HOST:PORT`` / ``HOST:PORT``. When
    Ray is already initialised in this process (a notebook, a test) that session is used.
    """

    name = "ray"

    def __init__(self, address: str = "auto", workers: int | None = None, threads: int | None = None,
                 max_attempts: int = MAX_ATTEMPTS, num_gpus: float = 0.0) -> None:
        self.address = address
        self._workers = workers
        self.threads = threads or 1
        self.max_attempts = max_attempts
        self.num_gpus = float(num_gpus)
        self._actors: list[tp.Any] = []
        self._started_ray = False
        self.restarts = 0

    def _ray(self) -> tp.Any:
        ray = import_ray()
        if not ray.is_initialized():
            address = None if self.address == "local" else self.address
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except ConnectionError as exc:
                raise BackendError(f"no Ray cluster at {self.address!r} ({one_line(str(exc), 160)}): start one "
                                   "with `ray start --head`, give its address, or use --ray local") from None
            self._started_ray = True
        return ray

    @property
    def workers(self) -> int:
        if self._workers is None:
            cpus = int(self._ray().cluster_resources().get("CPU", 1))
            self._workers = max(1, cpus // self.threads)
        return self._workers

    def _new_actor(self) -> tp.Any:
        ray = self._ray()
        actor_class = ray.remote(num_cpus=self.threads, num_gpus=self.num_gpus, max_restarts=0)(_RayWorker)
        return actor_class.remote(worker_env(self.threads))

    def run(self, fn: tp.Callable[[P], R], tasks: tp.Iterable[tuple[str, P]]) -> tp.Iterator[Outcome[R]]:
        ray = self._ray()
        from ray.exceptions import RayActorError, RayError, WorkerCrashedError
        while len(self._actors) < self.workers:
            self._actors.append(self._new_actor())
        free = list(self._actors)
        pending: collections.deque[tuple[str, P, int]] = collections.deque((k, p, 1) for k, p in tasks)
        running: dict[tp.Any, tuple[tp.Any, str, P, int]] = {}
        finished = False
        try:
            while pending or running:
                while pending and free:  # an actor gets the next payload when it hands one back
                    actor = free.pop()
                    key, payload, attempt = pending.popleft()
                    running[actor.call.remote(fn, payload)] = (actor, key, payload, attempt)
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    actor, key, payload, attempt = running.pop(ref)
                    try:
                        ok, value, worker = ray.get(ref)
                    except (RayActorError, WorkerCrashedError):  # the actor died with the payload
                        self.restarts += 1
                        replacement = self._new_actor()
                        self._actors[self._actors.index(actor)] = replacement
                        free.insert(0, replacement)  # a warm actor takes the retry if one is free
                        if attempt >= self.max_attempts:
                            yield self._gave_up(key, attempt)
                        else:
                            pending.appendleft((key, payload, attempt + 1))
                        continue
                    except RayError as exc:
                        free.append(actor)
                        yield Outcome(key, None, describe(exc), "", attempt)
                        continue
                    free.append(actor)
                    yield Outcome(key, value if ok else None, None if ok else value, worker, attempt)
            finished = True
        finally:
            if not finished:  # stopped early: the running payloads are abandoned with their actors
                self.close()

    def close(self) -> None:
        if not self._actors:
            return
        ray = import_ray()
        for actor in self._actors:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def make_backend(workers: int | None = None, ray: str | None = None, threads: int | None = None) -> Backend:
    """The backend the options ask for: ``ray`` -> Ray; ``workers`` > 1 -> a process pool; else in-process."""
    if ray:
        import_ray()
        return RayBackend(ray, workers=workers, threads=threads)
    if workers and workers > 1:
        return ProcessPool(workers, threads=threads)
    return InProcess()


__all__ = ["Backend", "BackendError", "InProcess", "ProcessPool", "RayBackend", "Outcome", "make_backend", "call",
           "describe", "MAX_ATTEMPTS"]
