"""Cumulative seconds of named functions in a cProfile run: the shares that profile_bundled_speed.py and
bench_speed.py report for a generate and an explanation (one definition, so both name the same parts)."""
from __future__ import annotations

import cProfile
import pathlib
import pstats

#: where the default explanation's time goes: label -> 'file.py:function' (of several, the largest)
EXPLAIN_PARTS: dict[str, str | tuple[str, ...]] = {
    "total": "base.py:explain", "backward": "~:<method 'run_backward' of 'torch._C._EngineBase' objects>",
    "lm_passes": "teacher.py:forward", "explainers": "_audiogenx_nets.py:forward",
    # fast/quick: ChunkedAdam.step (weight gradient, torch's fused Adam, next U·W1); before it torch's Adam.step
    "adam": ("_audiogenx_nets.py:step", "adam.py:step"),
    "setup": "audiogenx.py:_explainer_net"}


def shares(prof: cProfile.Profile, names: dict[str, str | tuple[str, ...]]) -> dict[str, float]:
    """Cumulative seconds of the named functions ('file.py:function'; of several, the largest) in the profile."""
    cum: dict[str, float] = {}
    for (file, _, func), (_, _, _, cumtime, _) in pstats.Stats(prof).stats.items():
        key = f"{pathlib.Path(file).name}:{func}"
        cum[key] = max(cum.get(key, 0.0), cumtime)
    return {label: max(cum.get(k, 0.0) for k in ((key,) if isinstance(key, str) else key))
            for label, key in names.items()}
