"""Why the bundled model's 5 s generate stays above issue 20's 0.5 s goal on this machine: the floors under
what is left (issue 20 item 3a), each measured in this process at 1 thread.

1. The LM's GEMMs at sampling shape (M = 2 rows: the conditional and null branches) against reading the
   same weights once (``sum``): how far a GEMM is from the memory floor, and what a packed-weight MKL
   path or oneDNN would change (neither is bit-identical to ``F.linear``, so neither could be used
   without changing every take's numbers).
2. The cost of one small op dispatched from Python and from TorchScript (a [2, 192] add, the size a
   sampling step's elementwise ops have): whether scripting the lean step (engine/lean_step.py) could
   cut its per-step overhead.
3. The whole generate in float32 and under the int8 setting (engine/speed.py), interleaved: whether
   int8, which is 6.45x faster at AudioGen-medium's shape, helps the 192-wide bundled LM.

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/probe_bundled_floor.py [--repeats 5] [--write]

``--write`` puts the tables in benchmarks/results/bundled_floor.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("AGX_THREADS", "1")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as agx and the app run
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PROMPT = "a dog barks then a bell rings"


def _per_call_us(fn, n: int) -> float:
    for _ in range(max(n // 20, 5)):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def gemm_rows(lm: torch.nn.Module, n: int) -> list[dict]:
    """Each distinct [out, in] weight shape of the LM's sampling GEMMs: F.linear at M = 2, the packed MKL
    and oneDNN linears (and whether they equal F.linear bit for bit), and one read of the weight."""
    shapes = {}
    for mod in lm.modules():
        if isinstance(mod, torch.nn.Linear):
            shapes.setdefault(tuple(mod.weight.shape), (mod.weight.detach(), mod.bias))
        in_proj = getattr(mod, "in_proj_weight", None)
        if isinstance(in_proj, torch.Tensor):
            shapes.setdefault(tuple(in_proj.shape), (in_proj.detach(), None))
    rows = []
    for (out_f, in_f), (w, b) in sorted(shapes.items()):
        b = None if b is None else b.detach()
        x = torch.randn(2, in_f)
        ref = F.linear(x, w, b)
        row = {"shape": [out_f, in_f], "weight_kb": round(w.numel() * 4 / 1024),
               "linear_us": _per_call_us(lambda: F.linear(x, w, b), n),
               "read_once_us": _per_call_us(lambda: w.sum(), n)}
        try:
            packed = torch.ops.mkl._mkl_reorder_linear_weight(w, 2)
            row["mkl_packed_us"] = _per_call_us(lambda: torch.ops.mkl._mkl_linear(x, packed, w, b, 2), n)
            row["mkl_packed_identical"] = bool(torch.equal(torch.ops.mkl._mkl_linear(x, packed, w, b, 2), ref))
        except Exception as exc:  # not built with MKL
            row["mkl_packed_us"], row["mkl_packed_error"] = None, str(exc)[:120]
        rows.append(row)
    return rows


def dispatch_rows(n: int) -> dict:
    """Per-op cost of a [2, 192] add: 100 in a Python loop against 100 in a TorchScript loop."""
    a, b = torch.randn(2, 192), torch.randn(2, 192)

    def python_loop(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        for _ in range(100):
            a = torch.add(a, b)
        return a
    scripted = torch.jit.script(python_loop)
    return {"python_us_per_op": _per_call_us(lambda: python_loop(a, b), n) / 100,
            "torchscript_us_per_op": _per_call_us(lambda: scripted(a, b), n) / 100,
            "layer_norm_us": _per_call_us(lambda: F.layer_norm(a, (192,)), n * 20)}


def generate_rows(repeats: int) -> dict:
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.speed import SpeedSettings
    from agx_desktop.engine.take import GenerationParams
    model = load_model("bundled")
    variants = {"float32 (default)": model, "int8": model.with_speed(SpeedSettings(int8=True, threads=1))}
    params = GenerationParams(duration=5.0, seed=3)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for name, m in variants.items():  # warm-up
        generate(m, PROMPT, params)
    for _ in range(repeats):  # interleaved, so drift in the machine's speed hits both alike
        for name, m in variants.items():
            t0 = time.perf_counter()
            generate(m, PROMPT, params)
            times[name].append(time.perf_counter() - t0)
    return {k: {"median_s": statistics.median(v), "all_s": [round(t, 3) for t in v]} for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000, help="calls per micro-benchmark")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from agx_desktop.engine.models import load_model
    lm = load_model("bundled").gen.lm
    load0 = os.getloadavg()
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                         f"{torch.__version__}, 1 thread", "load_before": [round(v, 2) for v in load0],
              "gemms": gemm_rows(lm, args.calls), "dispatch": dispatch_rows(args.calls // 4),
              "generate": generate_rows(args.repeats)}
    result["load_after"] = [round(v, 2) for v in os.getloadavg()]
    lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {result['machine']}; load "
             f"{result['load_before'][0]} -> {result['load_after'][0]}.", "",
             "| GEMM [out, in] (M = 2) | weight | F.linear | one read of the weight | ratio | MKL packed | packed = F.linear bit for bit |",
             "|---|---|---|---|---|---|---|"]
    for r in result["gemms"]:
        packed = "-" if r.get("mkl_packed_us") is None else f"{r['mkl_packed_us']:.1f} µs"
        lines.append(f"| {r['shape']} | {r['weight_kb']} kB | {r['linear_us']:.1f} µs | {r['read_once_us']:.1f} µs | "
                     f"{r['linear_us'] / r['read_once_us']:.1f}x | {packed} | {r.get('mkl_packed_identical', '-')} |")
    d = result["dispatch"]
    lines += ["", f"One [2, 192] add: {d['python_us_per_op']:.2f} µs from Python, {d['torchscript_us_per_op']:.2f} µs "
                  f"from TorchScript; one [2, 192] layer_norm {d['layer_norm_us']:.1f} µs.", "",
              "| 5 s generate, bundled, 1 thread | median | all |", "|---|---|---|"]
    for name, g in result["generate"].items():
        lines.append(f"| {name} | {g['median_s']:.3f} s | {', '.join(f'{t:.3f}' for t in g['all_s'])} |")
    print("\n".join(lines))
    if args.write:
        (RESULTS / "bundled_floor.json").write_text(json.dumps(result, indent=1))
        (RESULTS / "bundled_floor.md").write_text("# The bundled generate's floors (issue 20)\n\n"
                                                  + (__doc__ or "").split("\n\n")[1] + "\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
