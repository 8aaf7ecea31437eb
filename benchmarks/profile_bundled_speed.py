"""Where the bundled model's 5 s generate and default explanation spend time (issue 20 item 3a):
cProfile of one generate and one explanation at 1 thread, top functions by own and cumulative time.

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/profile_bundled_speed.py [--what gen|explain|both]

``--json PATH`` writes the medians and the profile's main shares (bench_bundled_before_after.py runs this
script in the tree before and after the issue-20 item 3a cuts).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pathlib
import pstats
import statistics
import sys
import time

os.environ.setdefault("AGX_THREADS", "1")
# as `agx` and the app run (engine/machine.use_huge_pages, before torch's first allocation): without it the
# Griffin-Lim temporaries page-fault 4 kB at a time (measured: generate ~0.69 -> ~0.60 s on this tree)
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from _profile_shares import EXPLAIN_PARTS, shares  # noqa: E402
from agx_desktop.engine.explain import explain  # noqa: E402
from agx_desktop.engine.generation import decode, generate  # noqa: E402
from agx_desktop.engine.models import load_model  # noqa: E402

PROMPT = "a dog barks then a bell rings"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--what", default="both")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--json", default=None)
    ap.add_argument("--quiet", action="store_true", help="no profile tables")
    args = ap.parse_args()
    out: dict = {"load_before": os.getloadavg()[0]}
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
        out["generate_s"], out["generate_all"] = statistics.median(ts), ts
        ts = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            decode(model, take.codes)
            ts.append(time.perf_counter() - t)
        print(f"decode median {statistics.median(ts):.3f} s")
        out["decode_s"] = statistics.median(ts)
        prof = cProfile.Profile()
        prof.enable()
        generate(model, PROMPT, params)
        prof.disable()
        out["generate_profile"] = shares(prof, {"lm_loop": "lm.py:generate", "decode": "generation.py:decode",
                                                 "total": "generation.py:generate"})
        _print(prof, args)
    if args.what in ("explain", "both"):
        explain(model, take)
        ts = []
        for _ in range(max(1, args.repeats // 2)):
            t = time.perf_counter()
            explain(model, take)
            ts.append(time.perf_counter() - t)
        print(f"explain median {statistics.median(ts):.3f} s  all {[round(x, 3) for x in ts]}")
        out["explain_s"], out["explain_all"] = statistics.median(ts), ts
        prof = cProfile.Profile()
        prof.enable()
        explain(model, take)
        prof.disable()
        out["explain_profile"] = shares(prof, EXPLAIN_PARTS)
        _print(prof, args)
    print("load", os.getloadavg())
    out["load_after"] = os.getloadavg()[0]
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(out, indent=1))


def _print(prof: cProfile.Profile, args: argparse.Namespace) -> None:
    if args.quiet:
        return
    for key in ("tottime", "cumtime"):
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats(key).print_stats(args.top)
        print(text.getvalue())


if __name__ == "__main__":
    main()
