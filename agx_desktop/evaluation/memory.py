"""Peak memory of one explanation: CUDA's allocator peak, or glibc's C heap in use (``mallinfo2``), or RSS."""
from __future__ import annotations

import os
import threading
import typing as tp

if tp.TYPE_CHECKING:
    import torch


class _MallInfo2(__import__("ctypes").Structure):
    _fields_ = [(n, __import__("ctypes").c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _heap_in_use() -> tp.Callable[[], int] | None:
    """glibc's bytes in use (``mallinfo2``: uordblks + hblkhd), or None where unavailable."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        fn = libc.mallinfo2
        fn.restype = _MallInfo2
    except (OSError, AttributeError):
        return None

    def in_use() -> int:
        m = fn()
        return int(m.uordblks + m.hblkhd)
    return in_use


class PeakMemory:
    """Peak memory a block allocates above the level at its start, in MB.

    CUDA: ``max_memory_allocated``. CPU: the C heap's bytes *in use* (glibc ``mallinfo2``, where
    torch's CPU tensors live), sampled every 5 ms — unlike RSS it falls when tensors are freed, so
    a method is not credited with memory an earlier one left cached. Elsewhere: RSS.
    """

    def __init__(self, device: torch.device | str | None = None, interval: float = 0.005) -> None:
        self.cuda = device is not None and getattr(device, "type", str(device)).startswith("cuda")
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._probe = _heap_in_use() or self.rss_bytes
        self.kind = "cuda" if self.cuda else ("heap" if self._probe is not self.rss_bytes else "rss")

    @staticmethod
    def rss_bytes() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            import resource
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def __enter__(self) -> "PeakMemory":
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            self._base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            return self
        self._base = self._probe()
        self._peak = self._base

        def poll() -> None:
            while not self._stop.wait(self.interval):
                self._peak = max(self._peak, self._probe())
        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._base) / 2 ** 20
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._probe())
        self.peak_mb = max(0.0, (self._peak - self._base) / 2 ** 20)
