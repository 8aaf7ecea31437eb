"""Progress and cancellation plumbing shared by long engine calls (generation, explainers).

Engine calls take ``progress(stage, done, total)`` and a :class:`CancelToken`; the UI's workers
and the CLI's progress bars plug into these without the engine knowing about either.
"""
from __future__ import annotations

import threading
import typing as tp

from .errors import Cancelled

ProgressFn = tp.Callable[[str, int, int], None]


class CancelToken:
    """A thread-safe flag: the caller sets it, the engine checks it between steps/epochs."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")


def check(cancel: CancelToken | None) -> None:
    """Raise :class:`Cancelled` if ``cancel`` is set (no-op for ``None``)."""
    if cancel is not None:
        cancel.raise_if_cancelled()


def report(progress: ProgressFn | None, stage: str, done: int, total: int) -> None:
    """Call ``progress`` if given."""
    if progress is not None:
        progress(stage, done, total)
