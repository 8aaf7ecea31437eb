"""What machine a figure or a weight file came from (float results and timings depend on it)."""
from __future__ import annotations

import os
import pathlib
import platform


def use_huge_pages() -> None:
    """Let torch's CPU allocator back large tensors with transparent huge pages (``THP_MEM_ALLOC_ENABLE``,
    read once, before torch's first allocation, so entry points call this before importing torch): the
    explainers' 50 MB tensors then stop paying a page fault per 4 kB (default bundled explanation 1.45 ->
    1.38 s, same outputs; README 'Live and speed'). A value the user set is kept; elsewhere than Linux
    torch ignores it."""
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")


def cpu_name() -> str:
    """The CPU model as the OS names it ("AMD EPYC", "Intel(R) Xeon(R) ..."), else the architecture."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
