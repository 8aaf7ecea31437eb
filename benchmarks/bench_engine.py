"""Time and peak memory to generate and to explain 5 s of audio on the default model.

Each measurement runs in a fresh child process so its peak RSS is its own. Results go to
``benchmarks/results/engine.md`` (and stdout) with the machine they were measured on.

    .venv/bin/python benchmarks/bench_engine.py [--model bundled] [--duration 5] [--repeats 3] [--epochs 50]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(args: argparse.Namespace) -> None:
    """Run one job and print a JSON line with its timings and peak memory."""
    import torch
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.take import GenerationParams
    from agx_desktop.engine.explain import explain

    t0 = time.perf_counter()
    model = load_model(args.model, args.device)
    load_s = time.perf_counter() - t0
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    prompt = "a dog barks then a bell rings in the distance"
    times = []
    for i in range(args.repeats):
        t = time.perf_counter()
        take = generate(model, prompt, GenerationParams(duration=args.duration, seed=i))
        times.append(time.perf_counter() - t)
    out = {"job": args.child, "model": model.id, "trained": model.trained, "load_s": load_s,
           "threads": model.num_threads, "rss_after_load_mb": rss_loaded, "generate_s": times,
           "steps": int(take.latents.shape[0])}
    if args.child == "explain":
        times = []
        for i in range(max(1, args.repeats // 2)):
            t = time.perf_counter()
            ex = explain(model, take, epochs=args.epochs, mode=args.mode)
            times.append(time.perf_counter() - t)
        out.update(explain_s=times, epochs=args.epochs, mode=args.mode, tokens=len(take.text.tokens),
                   epochs_run=ex.extras.get("epochs_run", args.epochs))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["torch"] = torch.__version__
    print("RESULT " + json.dumps(out))


def run_child(job: str, args: argparse.Namespace, extra: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", job, "--model", args.model, "--duration", str(args.duration),
           "--repeats", str(args.repeats), "--epochs", str(args.epochs), *extra]
    if args.device:
        cmd += ["--device", args.device]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{job} failed:\n{proc.stderr[-3000:]}")


def machine() -> str:
    from agx_desktop.engine.machine import cpu_name

    return f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="bundled")
    p.add_argument("--device", default=None)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--mode", default="quick", choices=["quick", "fast", "reference"])
    p.add_argument("--child", choices=["generate", "explain"])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "engine.md"))
    args = p.parse_args()
    if args.child:
        child(args)
        return
    load_before = os.getloadavg()[0]
    gen = run_child("generate", args, [])
    modes = {m: run_child("explain", args, ["--mode", m]) for m in ("quick", "fast", "reference")}
    med = statistics.median
    rows = [
        "| job | median wall s | runs | peak RSS MB | RSS after model load MB |",
        "|---|---|---|---|---|",
        f"| generate {args.duration:g} s ({gen['steps']} steps) | {med(gen['generate_s']):.2f} | "
        f"{len(gen['generate_s'])} | {gen['peak_rss_mb']:.0f} | {gen['rss_after_load_mb']:.0f} |",
    ]
    for mode, res in modes.items():
        default = " (default)" if mode == "quick" else ""
        rows.append(f"| explain {args.duration:g} s, AudioGenX {mode} mode{default}, {res['epochs_run']} of "
                    f"{res['epochs']} epochs "
                    f"({res['tokens']} tokens) | {med(res['explain_s']):.2f} | {len(res['explain_s'])} | "
                    f"{res['peak_rss_mb']:.0f} | {res['rss_after_load_mb']:.0f} |")
    ratios = {m: med(modes["reference"]["explain_s"]) / med(modes[m]["explain_s"]) for m in ("fast", "quick")}
    text = "\n".join([
        f"# Engine benchmark: model `{gen['model']}`{'' if gen['trained'] else ' (UNTRAINED stand-in)'}",
        "",
        f"Machine: {machine()}; torch {gen['torch']}; intra-op threads {gen['threads']}; device "
        f"{args.device or 'default (CPU here)'}. Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        "with `.venv/bin/python benchmarks/bench_engine.py`. Peak RSS includes Python, torch and audiocraft "
        "(each job in its own process).",
        "",
        *rows,
        "",
        f"Explain speed ratio reference/fast: {ratios['fast']:.2f}x (same loss and masks, see tests/test_explain.py); "
        f"reference/quick: {ratios['quick']:.2f}x (quick's faithfulness: benchmarks/results/explainers_ratio.md).",
        f"Load average when the run started: {load_before:.2f} (other jobs shared the cores if above ~0.5).",
        f"Model load: {gen['load_s']:.2f} s.",
        "",
    ])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
