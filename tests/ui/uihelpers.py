"""Helpers shared by the UI tests (a uniquely named module: importing ``conftest`` is ambiguous
when the whole suite runs, since tests/ has its own conftest.py)."""
from __future__ import annotations

import os
import time

SHOTS = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "screenshots")


def wait_idle(qtbot, window, timeout: float = 120.0) -> None:
    qtbot.waitUntil(lambda: not window.runner.busy and not window.runner.pending and not window.display_pending(),
                    timeout=int(timeout * 1000))
    qtbot.wait(20)


class GapMeter:
    """Measures the longest gap between ticks of a 10 ms QTimer on the GUI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[tuple[float, float]] = []  # (gap, time of the tick that ended it)
        self._last = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last:
            self.gaps.append((now - self._last, now))
        self._last = now

    @property
    def ticks(self) -> int:
        return len(self.gaps)

    @property
    def max_gap(self) -> float:
        return max((g for g, _ in self.gaps), default=0.0)

    def max_gap_between(self, t0: float, t1: float) -> float:
        """Longest gap that overlaps [t0, t1] (a gap ends at its tick time)."""
        return max((g for g, at in self.gaps if at > t0 and at - g < t1), default=0.0)

    def start(self) -> None:
        self._last = 0.0
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
