"""The float32 cross-attention K/V cache (engine/speed.py ``cross_kv_cache``) at AudioGen-medium's shape:
audiocraft's own ``LMModel.generate`` with and without it, interleaved, same seed; per-step medians and
whether the codes are identical (issue 20 item 3b, optional part):

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_cross_kv.py [--layers 48] [--seconds 0.5]

Writes benchmarks/results/speed_cross_kv.json and .md (machine load before/after recorded).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=48)
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    from bench_explainers import _medium_model
    from agx_desktop.engine.model_inputs import conditions_for
    from agx_desktop.engine.speed import cross_kv_cache, kv_cache_counts
    load_before, t0 = list(os.getloadavg()), time.perf_counter()
    model = _medium_model(num_layers=args.layers)
    lm = model.lm
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    steps = int(args.seconds * model.frame_rate)

    def run(cached: bool) -> tuple[list[float], torch.Tensor]:
        stamps: list[float] = []
        torch.manual_seed(0)
        with torch.no_grad(), (cross_kv_cache(lm) if cached else torch.no_grad()):
            codes = lm.generate(None, conditions_for("a dog barks then a bell rings"), max_gen_len=steps,
                                use_sampling=True, temp=1.0, top_k=250, cfg_coef=3.0, two_step_cfg=False,
                                callback=lambda *a: stamps.append(time.perf_counter()))
            if cached:
                run.counts = kv_cache_counts(lm)  # type: ignore[attr-defined]
        return [b - a for a, b in zip(stamps, stamps[1:])], codes

    rows: dict[str, list[float]] = {"float32": [], "float32 + cross K/V cache": []}
    codes: dict[str, torch.Tensor] = {}
    for _ in range(args.repeats):
        for name, cached in (("float32", False), ("float32 + cross K/V cache", True)):
            per_step, codes[name] = run(cached)
            rows[name].append(statistics.median(per_step))
            print(name, rows[name][-1], flush=True)
    res = {"layers": args.layers, "seconds": args.seconds, "steps": steps, "threads": threads,
           "step_s": {k: v for k, v in rows.items()}, "codes_equal": bool(torch.equal(*codes.values())),
           "kv_counts": list(run.counts), "load_before": load_before,  # type: ignore[attr-defined]
           "load_after": list(os.getloadavg()), "wall_s": time.perf_counter() - t0}
    (RESULTS / "speed_cross_kv.json").write_text(json.dumps(res, indent=1))
    plain, cached = min(rows["float32"]), min(rows["float32 + cross K/V cache"])
    lines = ["# Cross-attention K/V cache, float32, AudioGen-medium's shape (issue 20)", "",
             f"audiocraft's `LMModel.generate`, random weights, {args.layers} layers, {steps} steps, {threads} threads, "
             f"runs interleaved ×{args.repeats}; load average (1 min) {load_before[0]:.1f} → {res['load_after'][0]:.1f} "
             f"on {os.cpu_count()} cores, {res['wall_s']:.0f} s.", "",
             "| run | s/step (median per run) |", "|---|---|"]
    lines += [f"| {k} | {', '.join(f'{x:.3f}' for x in v)} |" for k, v in rows.items()]
    lines += ["", f"Best of each: {plain:.3f} → {cached:.3f} s/step ({100 * (cached / plain - 1):+.1f} %); "
              f"codes identical: {'yes' if res['codes_equal'] else 'NO'}; K/V reused / computed in the last cached run: "
              f"{res['kv_counts'][0]} / {res['kv_counts'][1]}."]
    (RESULTS / "speed_cross_kv.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
