"""The live map's cost on generation, before and after issue 20's rework, interleaved in one run:

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_live_overhead.py [--repeats 9] [--with-before]

Bundled model, 5 s, 1 thread: plain ``generate``, ``generate(on_live=...)`` with the LiveAttention of
commit a568dd0^ (a query projection and per-head product per layer and step, word scores per step),
and with today's (text keys folded into the query projection, rows batched). Each repeat runs the
three back to back; the overhead is the median of the per-repeat ratios. Writes
benchmarks/results/speed_live_overhead.json.

The old LiveAttention reads its condition's version counter, which tensors made under
``torch.inference_mode`` (how generation samples since the bundled speed cuts) do not have: it runs only
with ``--with-before`` on a tree from before that change; its figure (+10.5 %) is the one recorded then.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as `agx` and the app run (engine/machine.use_huge_pages)

import torch  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OLD_COMMIT = "a568dd0^"
PROMPT = "a dog barks then a bell rings"


def old_live_attention() -> type:
    """LiveAttention as it was before the rework (read from git), with today's flush signature."""
    source = subprocess.run(["git", "show", f"{OLD_COMMIT}:agx_desktop/engine/live.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = pathlib.Path(tempfile.mkdtemp()) / "live_old.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("agx_desktop.engine.live_old", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Old(module.LiveAttention):
        def flush(self, final: bool = False) -> None:
            super().flush()
    return Old


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--with-before", action="store_true", help="also the LiveAttention of a568dd0^ (see above)")
    args = ap.parse_args()
    os.environ.setdefault("AGX_THREADS", "1")
    torch.set_num_threads(1)
    from agx_desktop.engine import generation
    from agx_desktop.engine.models import load_model
    kinds = {"plain": None, **({"before": old_live_attention()} if args.with_before else {}),
             "after": generation.LiveAttention}
    model = load_model("bundled", "cpu")
    params = model.default_params(duration=5.0, seed=1)

    def run(kind: str) -> float:
        generation.LiveAttention = kinds[kind] or kinds["after"]
        t = time.perf_counter()
        generation.generate(model, PROMPT, params, on_live=None if kind == "plain" else (lambda s, w: None))
        return time.perf_counter() - t
    for kind in kinds:  # warm-up
        run(kind)
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.repeats):
        for kind in kinds:
            times[kind].append(run(kind))
    generation.LiveAttention = kinds["after"]
    res = {k: statistics.median(v) for k, v in times.items()}
    for kind in [k for k in ("before", "after") if k in kinds]:
        res[f"{kind}_overhead"] = statistics.median(a / b for a, b in zip(times[kind], times["plain"])) - 1
    res.update({"repeats": args.repeats, "load_before": load_before, "load_after": os.getloadavg(), "all": times})
    out = ROOT / "benchmarks" / "results" / "speed_live_overhead.json"
    out.write_text(json.dumps(res, indent=1))
    before = f"before {100 * res['before_overhead']:+.1f} %, " if "before_overhead" in res else ""
    print(f"live map overhead: {before}after {100 * res['after_overhead']:+.1f} % "
          f"(plain {res['plain']:.3f} s; load {load_before[0]:.1f} → {res['load_after'][0]:.1f})")


if __name__ == "__main__":
    main()
