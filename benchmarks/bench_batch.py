"""agx batch throughput: in-process vs a local process pool vs Ray, same sheet, same seeds.

A sheet of ``--takes`` takes of ``--duration`` s with explanations (AudioGenX, its default quick mode)
and a 24-bit BWF export each, on the bundled model, run by :func:`agx_desktop.batch.runner.run_batch`
through each backend into a fresh folder. Per backend: wall time, throughput, the time to the first
take (start-up: spawning workers, importing torch/audiocraft, loading the model), the steady rate
after it, and the overhead per take = (wall x workers - the workers' own generate+explain seconds) / takes
(start-up, export rendering, moving the take to the driver, the driver's writes). It also checks that
the three folders hold the same audio samples. Writes ``benchmarks/results/batch.md`` (and .json).

    .venv/bin/python benchmarks/bench_batch.py [--takes 40] [--duration 5] [--workers 2] [--backends inproc,pool,ray]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a dog barks", "someone knocks on a door", "footsteps on a wooden floor", "thunder rumbles",
           "a bell rings", "a clock ticks", "a dog barks then a bell rings", "a loud knock then footsteps",
           "rain falls with thunder in the background", "a whistle blows twice"]


def write_sheet(path: Path, takes: int, duration: float, model: str) -> None:
    rows = ["prompt,count,duration,seed,model,catid,creator,source,explain,format"]
    per, extra = divmod(takes, len(PROMPTS))
    for i, prompt in enumerate(PROMPTS):
        n = per + (1 if i < extra else 0)
        if n:
            rows.append(f"{prompt},{n},{duration:g},{100 * i},{model},MISCMisc,AGX,BENCH,yes,wav24")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def run_one(name: str, sheet: Path, out: Path, workers: int) -> dict:
    from agx_desktop.batch.backends import InProcess, ProcessPool, RayBackend
    from agx_desktop.batch.runner import run_batch
    from agx_desktop.engine.take_folder import load_explanation, load_take

    backend = {"inproc": lambda: InProcess(), "pool": lambda: ProcessPool(workers, threads=1),
               "ray": lambda: RayBackend(workers=workers, threads=1)}[name]()
    stamps: list[float] = []
    start = time.perf_counter()
    with backend:
        summary = run_batch(sheet, out, backend, progress=False, on_take=lambda item, folder: stamps.append(
            time.perf_counter() - start))
    wall = time.perf_counter() - start
    assert not summary.failed and not summary.problems, (summary.failed, summary.problems)
    compute = 0.0
    for folder in sorted((out / "takes").iterdir()):
        take = load_take(folder)
        compute += take.seconds + load_explanation(folder, take).seconds
    n = summary.made
    used = 1 if name == "inproc" else workers
    steady = (n - 1) / (stamps[-1] - stamps[0]) if n > 1 and stamps[-1] > stamps[0] else float("nan")
    return {"backend": name, "workers": used, "takes": n, "wall_s": wall, "takes_per_min": 60 * n / wall,
            "first_take_s": stamps[0], "steady_takes_per_min": 60 * steady,
            "compute_s_per_take": compute / n, "overhead_s_per_take": (wall * used - compute) / n,
            "steady_overhead_s_per_take": used / steady - compute / n if steady == steady else float("nan"),
            "retried": summary.retried}


def audio_of(out: Path) -> dict[str, np.ndarray]:
    return {p.name: sf.read(p / "audio.wav", dtype="float32")[0] for p in sorted((out / "takes").iterdir())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--takes", type=int, default=40)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--backends", default="inproc,pool,ray")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "batch.md"))
    args = ap.parse_args()
    os.environ.setdefault("AGX_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    load = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="agx-bench-batch-"))
    sheet = tmp / "sheet.csv"
    write_sheet(sheet, args.takes, args.duration, args.model)
    results, ray_init = [], None
    for name in args.backends.split(","):
        if name == "ray":
            import ray
            t = time.perf_counter()
            ray.init(num_cpus=args.workers, include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=False, configure_logging=False)
            ray_init = time.perf_counter() - t
        print(f"running {name}...", flush=True)
        results.append(run_one(name, sheet, tmp / name, args.workers))
        print(json.dumps(results[-1]), flush=True)
    folders = [tmp / r["backend"] for r in results]
    reference = audio_of(folders[0])
    same = all(all(np.array_equal(reference[k], v) for k, v in audio_of(f).items()) for f in folders[1:])
    shutil.rmtree(tmp, ignore_errors=True)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    lines = [f"# Batch backends: {args.takes} takes of {args.duration:g} s with explanations",
             "",
             f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; model `{args.model}`, "
             f"AudioGenX quick mode (default) per take, 24-bit BWF export; one intra-op thread per worker. "
             f"Load average when the run started: {load:.2f} (other jobs shared the cores when above ~0.5). "
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
             f"`.venv/bin/python benchmarks/bench_batch.py --takes {args.takes} --duration {args.duration:g} "
             f"--workers {args.workers}`.",
             "",
             "| backend | workers | wall s | takes/min | first take s (start-up) | steady takes/min | "
             "generate+explain s/take | overhead s/take | steady overhead s/take |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['backend']} | {r['workers']} | {r['wall_s']:.1f} | {r['takes_per_min']:.1f} | "
                     f"{r['first_take_s']:.1f} | {r['steady_takes_per_min']:.1f} | {r['compute_s_per_take']:.2f} | "
                     f"{r['overhead_s_per_take']:.2f} | {r['steady_overhead_s_per_take']:.2f} |")
    lines += ["",
              "Overhead per take = (wall x workers - the workers' generate+explain seconds) / takes: start-up "
              "(spawning, importing torch and audiocraft, loading the model: once per worker), rendering the "
              "export, sending the take back, the driver's atomic writes and manifest. Steady overhead: the same "
              "after the first take (workers / steady rate - generate+explain), i.e. without the start-up.",
              f"Ray head start-up (ray.init, not counted above): {ray_init:.1f} s." if ray_init is not None else "",
              f"Same audio samples in every backend's folder: {'yes' if same else 'NO'}."]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    Path(args.out).with_suffix(".json").write_text(json.dumps({"load": load, "ray_init_s": ray_init,
                                                              "same_audio": same, "results": results}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
