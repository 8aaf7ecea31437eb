"""What a worker does for one item: generate (unless the take exists), explain (if asked and not yet
done), render the export file in memory. It writes nothing: the results go back to the driver, which
alone writes (:mod:`.runner`), so a worker that dies loses only the item it was on.

The model is loaded once per worker process (:func:`agx_desktop.engine.models.load_model` caches it)
and reused for every item that names it.
"""
from __future__ import annotations

import os
import signal
import time
import typing as tp
from dataclasses import dataclass
from pathlib import Path

from .plan import WorkItem

if tp.TYPE_CHECKING:
    from ..engine.explanation import Explanation
    from ..engine.speed import SpeedSettings
    from ..engine.progress import CancelToken
    from ..engine.take import Take

CRASH_ENV = "AGX_BATCH_CRASH_ONCE"
"""Fault-injection seam for the tests: ``ITEM_ID@MARKER`` makes the worker that first runs ITEM_ID
create MARKER and kill itself with SIGKILL after generating (mid-row); later attempts run normally.
``ITEM_ID@*``: every worker that runs ITEM_ID dies (a row that always kills its worker)."""
WORKER_ENV = ("AGX_THREADS", CRASH_ENV, "HF_HUB_OFFLINE")
"""Environment a backend hands on to its workers (a Ray worker on another machine has its own)."""


@dataclass
class Task:
    """An item and what the driver already has of it (a resumed take, its explanation)."""

    item: WorkItem
    take: "Take | None" = None
    explanation: "Explanation | None" = None
    device: str | None = None
    cancel: "CancelToken | None" = None  # in-process only (a token does not cross processes)
    speed: "SpeedSettings | None" = None  # int8 / bf16 for sampling new takes (None: float32)


@dataclass
class Result:
    """What came back for one task; ``new_*`` say what the driver has to write."""

    take: "Take"
    explanation: "Explanation | None"
    wav: bytes | None
    new_take: bool
    new_explanation: bool
    seconds: float
    worker: str = ""


def _maybe_crash(item: WorkItem) -> None:
    spec = os.environ.get(CRASH_ENV, "")
    item_id, _, marker = spec.partition("@")
    if item_id == item.id and marker == "*":
        os.kill(os.getpid(), signal.SIGKILL)
    if item_id == item.id and marker and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        os.kill(os.getpid(), signal.SIGKILL)


def run_task(task: Task) -> Result:
    """Make what ``task`` still lacks. Engine errors (a prompt too long for the model...) propagate
    as :class:`~agx_desktop.engine.errors.AgxError`; the backend reports them as the item's failure."""
    from ..engine.generation import generate
    from ..engine.models import load_model

    start = time.perf_counter()
    item = task.item
    model = load_model(item.model, task.device)
    take, new_take = task.take, False
    if take is None:
        params = model.default_params(duration=item.duration, seed=item.seed)
        take, new_take = generate(model.sampling_copy(task.speed) if task.speed else model, item.prompt, params,
                                     cancel=task.cancel), True
    _maybe_crash(item)
    explanation, new_explanation = task.explanation, False
    if item.explain and explanation is None:
        from ..engine.explain import explain
        explanation, new_explanation = explain(model, take, item.explain, cancel=task.cancel), True
    wav = None
    if item.export is not None:
        from ..engine.delivery.export import wav_bytes
        wav = wav_bytes(take, item.export, explanation)[0]
    return Result(take=take, explanation=explanation, wav=wav, new_take=new_take,
                  new_explanation=new_explanation, seconds=time.perf_counter() - start)


def setup_worker(env: tp.Mapping[str, str]) -> None:
    """Once in each worker process (never in the driver): the driver's thread count and test seams; Ctrl+C is the driver's to handle."""
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver stops the workers (they write nothing)
    threads = env.get("AGX_THREADS")
    if threads:
        import torch
        torch.set_num_threads(int(threads))


def worker_env(threads: int | None = None) -> dict[str, str]:
    """The environment to hand to workers: ``threads`` (or the driver's AGX_THREADS) and the seams."""
    env = {k: os.environ[k] for k in WORKER_ENV if os.environ.get(k)}
    if threads:
        env["AGX_THREADS"] = str(int(threads))
    return env


__all__ = ["Task", "Result", "run_task", "setup_worker", "worker_env", "CRASH_ENV"]
