"""Where the bundled model's 5 s generate and default explanation spend time (issue 20 item 3a):
cProfile of one generate and one explanation at 1 thread, top functions by own and cumulative time.

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/profile_bundled_speed.py [--what gen|explain|both]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pathlib
import pstats
import statistics
import sys
import time

os.environ.setdefault("AGX_THREADS", "1")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from agx_desktop.engine.explain import explain  # noqa: E402
from agx_desktop.engine.generation import decode, generate  # noqa: E402
from agx_desktop.engine.models import load_model  # noqa: E402

PROMPT = "a dog barks then a bell rings"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--what", default="both")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model("bundled")
    params = model.default_params(duration=5.0, seed=1)
    take = generate(model, PROMPT, params)
    print("load", os.getloadavg())
    if args.what in ("gen", "both"):
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            generate(model, PROMPT, params)
            ts.append(time.perf_counter() - t)
        print(f"generate median {statistics.median(ts):.3f} s  all {[round(x, 3) for x in ts]}")
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            decode(model, take.codes)
            ts.append(time.perf_counter() - t)
        print(f"decode median {statistics.median(ts):.3f} s")
        prof = cProfile.Profile()
        prof.enable()
        generate(model, PROMPT, params)
        prof.disable()
        for key in ("tottime", "cumtime"):
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats(key).print_stats(args.top)
            print(s.getvalue())
    if args.what in ("explain", "both"):
        explain(model, take)
        ts = []
        for _ in range(max(1, args.repeats // 2)):
            t = time.perf_counter()
            explain(model, take)
            ts.append(time.perf_counter() - t)
        print(f"explain median {statistics.median(ts):.3f} s  all {[round(x, 3) for x in ts]}")
        prof = cProfile.Profile()
        prof.enable()
        explain(model, take)
        prof.disable()
        for key in ("tottime", "cumtime"):
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats(key).print_stats(args.top)
            print(s.getvalue())
    print("load", os.getloadavg())


if __name__ == "__main__":
    main()
