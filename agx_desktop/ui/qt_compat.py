"""Guards against known PySide6 defects.

PySide6 6.12.0 drops a reference to ``True`` on every ``SignalInstance.emit()`` called from
Python (and we saw ``None`` go the same way in longer sessions). On Python < 3.12, where these
singletons are not immortal, the interpreter aborts ("deallocating True or False") after a few
thousand emits — pyqtgraph alone emits that many while you drag a selection. pyproject.toml
excludes 6.12.0; if it is installed anyway, :func:`install_refcount_guard` detects the defect and
keeps the singletons' reference counts topped up from a timer, so the app keeps running.
"""
from __future__ import annotations

import sys
import typing as tp

_GUARD: tp.Any = None


def emit_leaks_true() -> bool:
    """True if this PySide6 loses a reference to ``True`` per Python-side signal emit."""
    if sys.version_info >= (3, 12):
        return False  # immortal singletons: the defect is harmless
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        sig = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(16):
        probe.sig.emit()
    return sys.getrefcount(True) < before - 8


class _RefcountGuard:
    """Holds spare references to the singletons and tops them up from a timer.

    The list of spares is itself never freed (one extra reference taken through the C API), so
    interpreter shutdown does not hand the lost references back all at once.
    """

    def __init__(self, interval_ms: int = 100, headroom: int = 200_000) -> None:
        import ctypes
        from PySide6.QtCore import QTimer
        self.keep: list[tp.Any] = []
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(self.keep))
        for o in (True, False, None):
            self.keep.extend([o] * headroom)
        self.floor = {id(o): (o, sys.getrefcount(o)) for o in (True, False, None)}
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.top_up)
        self.timer.start()

    def top_up(self) -> None:
        for obj, floor in self.floor.values():
            missing = floor - sys.getrefcount(obj)
            if missing > 0:
                self.keep.extend([obj] * missing)


def install_refcount_guard() -> bool:
    """Start the guard if this PySide6 has the emit defect; returns whether it did."""
    global _GUARD
    if _GUARD is not None:
        return True
    if not emit_leaks_true():
        return False
    print("AGX Desktop: this PySide6 version loses references on signal emit; working around it. "
          "Install PySide6-Essentials != 6.12.0 to fix it properly.", file=sys.stderr)
    _GUARD = _RefcountGuard()
    _GUARD.top_up()
    return True
