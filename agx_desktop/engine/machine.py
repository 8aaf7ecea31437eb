"""What machine a figure or a weight file came from (float results and timings depend on it)."""
from __future__ import annotations

import pathlib
import platform


def cpu_name() -> str:
    """The CPU model as the OS names it ("AMD EPYC", "Intel(R) Xeon(R) ..."), else the architecture."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
