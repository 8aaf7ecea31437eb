"""agx batch throughput: in-process vs a local process pool vs Ray, same sheet, same seeds, in parts.

A sheet of ``--takes`` takes of ``--duration`` s with explanations (AudioGenX, its default quick mode)
and a 24-bit BWF export each, on the bundled model, run by :func:`agx_desktop.batch.runner.run_batch`
through one backend per part into a fresh folder. A part writes ``benchmarks/results/batch_parts/NAME.json``
(skipped when that file exists, so a queue of parts resumes where it stopped); ``report`` turns the
parts into ``benchmarks/results/batch.md``. Per part: the load average before and after, wall time,
throughput, the steady rate after each worker's first take, and where each take's time went:

* ``compute``: generate + explain (the take's and explanation's own ``seconds``);
* ``worker``: the worker's whole call (``Result.seconds``: compute + rendering the export in memory; the
  first call of a worker also imports audiocraft and loads the model);
* ``save`` / ``manifest``: the driver's atomic writes of the take folder + export, and of manifest.csv;
* ``spawn``: a worker's start before its first call (interpreter, torch import; Ray actor creation);
* bytes sent per task (the pickled :class:`~agx_desktop.batch.work.Task`) and per result (the pickled
  :class:`~agx_desktop.batch.work.Result`: audio, codes, explanation, export WAV).

    .venv/bin/python benchmarks/bench_batch.py part inproc|pool|ray [--takes 40] [--duration 5] [--workers 2]
    .venv/bin/python benchmarks/bench_batch.py report
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
import typing as tp
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ROOT / "benchmarks" / "results" / "batch_parts"
PROMPTS = ["a dog barks", "someone knocks on a door", "footsteps on a wooden floor", "thunder rumbles",
           "a bell rings", "a clock ticks", "a dog barks then a bell rings", "a loud knock then footsteps",
           "rain falls with thunder in the background", "a whistle blows twice"]
BACKENDS = ("inproc", "pool", "ray")


def write_sheet(path: Path, takes: int, duration: float, model: str) -> None:
    rows = ["prompt,count,duration,seed,model,catid,creator,source,explain,format"]
    per, extra = divmod(takes, len(PROMPTS))
    for i, prompt in enumerate(PROMPTS):
        n = per + (1 if i < extra else 0)
        if n:
            rows.append(f"{prompt},{n},{duration:g},{100 * i},{model},MISCMisc,AGX,BENCH,yes,wav24")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def run_part(name: str, takes: int, duration: float, workers: int, model: str, threads: int = 1) -> dict[str, tp.Any]:
    """One backend over the whole sheet, instrumented from the driver's side (no change to the code run)."""
    from agx_desktop.batch import runner
    from agx_desktop.batch.backends import InProcess, ProcessPool, RayBackend
    from agx_desktop.batch.plan import plan
    from agx_desktop.batch.sheet import read_sheet
    from agx_desktop.batch.work import Task
    from agx_desktop.engine.take_folder import load_explanation, load_take

    tmp = Path(tempfile.mkdtemp(prefix=f"agx-bench-batch-{name}-"))
    sheet, out = tmp / "sheet.csv", tmp / "out"
    write_sheet(sheet, takes, duration, model)
    items = plan(read_sheet(sheet, model)[0])
    task_bytes = [len(pickle.dumps(Task(item), protocol=pickle.HIGHEST_PROTOCOL)) for item in items]
    per: dict[str, dict[str, tp.Any]] = {}
    manifest_s: list[float] = []
    ray_init = None
    if name == "ray":
        import ray
        t = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                 configure_logging=False)
        ray_init = time.perf_counter() - t
    backend = {"inproc": lambda: InProcess(), "pool": lambda: ProcessPool(workers, threads=threads),
               "ray": lambda: RayBackend(workers=workers, threads=threads)}[name]()
    original_run, original_save, original_manifest = backend.run, runner._save, runner.write_manifest
    start = 0.0

    def tapped_run(fn: tp.Any, tasks: tp.Any) -> tp.Iterator[tp.Any]:
        inner = original_run(fn, tasks)
        try:
            for outcome in inner:
                per.setdefault(outcome.key, {})["worker_label"] = outcome.worker
                per[outcome.key]["ready_s"] = time.perf_counter() - start
                yield outcome
        finally:
            inner.close()

    def timed_save(item: tp.Any, result: tp.Any, out_dir: Path) -> None:
        t = time.perf_counter()
        original_save(item, result, out_dir)
        entry = per.setdefault(item.id, {})
        entry["save_s"] = time.perf_counter() - t
        entry["worker_s"] = result.seconds
        entry["result_bytes"] = len(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))

    def timed_manifest(out_dir: Path, rows: tp.Any) -> Path:
        t = time.perf_counter()
        path = original_manifest(out_dir, rows)
        manifest_s.append(time.perf_counter() - t)
        return path

    backend.run = tapped_run  # type: ignore[method-assign]
    runner._save, runner.write_manifest = timed_save, timed_manifest  # type: ignore[assignment]
    load_before, uptime_before = os.getloadavg(), _uptime()
    start = time.perf_counter()
    try:
        with backend:
            summary = runner.run_batch(sheet, out, backend, progress=False, on_take=lambda item, folder: per[
                item.id].__setitem__("written_s", time.perf_counter() - start))
        wall = time.perf_counter() - start
    finally:
        runner._save, runner.write_manifest = original_save, original_manifest  # type: ignore[assignment]
        if name == "ray":
            import ray
            ray.shutdown()
    load_after, uptime_after = os.getloadavg(), _uptime()
    assert not summary.failed and not summary.problems, (summary.failed, summary.problems)
    import soundfile as sf
    for item in items:
        folder = out / "takes" / item.id
        take = load_take(folder)
        entry = per[item.id]
        entry["compute_s"] = take.seconds + load_explanation(folder, take).seconds
        entry["audio_sha256"] = hashlib.sha256(sf.read(folder / "audio.wav", dtype="float32")[0].tobytes()).hexdigest()
    disk = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    shutil.rmtree(tmp, ignore_errors=True)
    return {"backend": name, "threads": threads, "workers": 1 if name == "inproc" else workers, "takes": summary.made,
            "duration": duration, "model": model, "wall_s": wall, "ray_init_s": ray_init, "retried": summary.retried,
            "load_before": load_before, "load_after": load_after, "uptime_before": uptime_before,
            "uptime_after": uptime_after, "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "task_bytes": task_bytes, "manifest_s": manifest_s, "disk_bytes": disk, "per_take": per}


def summarise(part: dict[str, tp.Any]) -> dict[str, float]:
    """A part's figures: throughput, steady rate, and the per-take split of the workers' time."""
    takes = list(part["per_take"].values())
    n, used, wall = len(takes), part["workers"], part["wall_s"]
    by_worker: dict[str, list[dict[str, tp.Any]]] = {}
    for t in sorted(takes, key=lambda t: t["ready_s"]):
        by_worker.setdefault(t["worker_label"], []).append(t)
    firsts = [ts[0] for ts in by_worker.values()]
    later = [t for ts in by_worker.values() for t in ts[1:]]
    mean = statistics.fmean
    compute = sum(t["compute_s"] for t in takes)
    render = mean(t["worker_s"] - t["compute_s"] for t in later)
    # a worker's first call: + importing audiocraft and loading the model; before it: spawning, torch import
    load = mean(f["worker_s"] - f["compute_s"] - render for f in firsts)
    spawn = mean(max(0.0, f["ready_s"] - f["worker_s"] - (part.get("ray_init_s") or 0) * 0) for f in firsts)
    stamps = sorted(t["ready_s"] for t in takes)
    first_done = max(f["ready_s"] for f in firsts)
    steady_n = len(later)
    steady_rate = steady_n / (stamps[-1] - first_done) if steady_n and stamps[-1] > first_done else float("nan")
    save = mean(t["save_s"] for t in takes)
    manifest = mean(part["manifest_s"]) if part["manifest_s"] else 0.0
    overhead = (wall * used - compute) / n
    steady_overhead = used / steady_rate - mean(t["compute_s"] for t in later)
    return {"n": n, "workers": used, "wall_s": wall, "takes_per_min": 60 * n / wall,
            "steady_takes_per_min": 60 * steady_rate, "compute_s": compute / n,
            "later_compute_s": mean(t["compute_s"] for t in later), "render_s": render, "load_s": load,
            "spawn_s": spawn, "first_take_s": min(f["ready_s"] for f in firsts), "save_s": save,
            "manifest_s": manifest, "overhead_s": overhead, "steady_overhead_s": steady_overhead,
            "startup_share_s": (load + spawn) * used / n,
            "transfer_idle_s": steady_overhead - render - (save + manifest if used == 1 else 0.0),
            "task_bytes": mean(part["task_bytes"]), "result_bytes": mean(t["result_bytes"] for t in takes),
            "disk_per_take": part["disk_bytes"] / n}


def report(out: Path) -> None:
    parts = {path.stem: json.loads(path.read_text()) for name in BACKENDS
             for path in sorted(PARTS.glob(f"{name}*.json"), key=lambda path: path.stem)}
    if not parts:
        raise SystemExit(f"no parts in {PARTS}: run `bench_batch.py part inproc` first")
    first = next(iter(parts.values()))
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    s = {name: summarise(p) for name, p in parts.items()}
    lines = [f"# Batch backends: {first['takes']} takes of {first['duration']:g} s with explanations", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}; model `{first['model']}`, "
             "AudioGenX quick mode (default) per take, 24-bit BWF export; one intra-op thread per worker (`-2t`: two). Each "
             "backend ran as its own part through the machine-wide queue (`flock /work/bench.lock nice -n 5 "
             ".venv/bin/python benchmarks/bench_batch.py part NAME`), then `bench_batch.py report`.", "",
             "| backend | workers | measured | load before → after (1/5/15 min) | wall s | takes/min | steady takes/min "
             "| first take s | generate+explain s/take | overhead s/take | steady overhead s/take |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, p in parts.items():
        r = s[name]
        lb = "/".join(f"{x:.2f}" for x in p["load_before"])
        la = "/".join(f"{x:.2f}" for x in p["load_after"])
        lines.append(f"| {name} | {r['workers']} | {p['measured']} | {lb} → {la} | {r['wall_s']:.1f} | "
                     f"{r['takes_per_min']:.2f} | {r['steady_takes_per_min']:.2f} | {r['first_take_s']:.1f} | "
                     f"{r['compute_s']:.2f} | {r['overhead_s']:.2f} | {r['steady_overhead_s']:.2f} |")
    lines += ["", "Where the overhead goes (means per take; start-up per worker):", "",
              "| backend | spawn s/worker | import + model load s/worker | start-up share s/take | export render s/take "
              "| driver save s/take | manifest s/take | transfer + idle s/take | task bytes | result bytes | "
              "disk bytes/take |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in s.items():
        lines.append(f"| {name} | {r['spawn_s']:.1f} | {r['load_s']:.1f} | {r['startup_share_s']:.2f} | "
                     f"{r['render_s']:.3f} | {r['save_s']:.3f} | {r['manifest_s']:.3f} | {r['transfer_idle_s']:.2f} | "
                     f"{r['task_bytes']:.0f} | {r['result_bytes']:.0f} | {r['disk_per_take']:.0f} |")
    hashes = {name: {k: t["audio_sha256"] for k, t in p["per_take"].items()} for name, p in parts.items()}
    ref = next(iter(hashes.values()))
    same = all(h == ref for h in hashes.values())
    ray_init = parts.get("ray", {}).get("ray_init_s")
    lines += ["",
              "Overhead per take = (wall × workers − the workers' generate+explain seconds) / takes. Steady overhead: "
              "workers / steady rate − generate+explain, counted after every worker's first take (so without "
              "spawn, imports and model load). Export render: a worker's call minus its generate+explain (after its "
              "first). Spawn: from the run's start to a worker's first call (the in-process row: the driver's "
              "own imports and sheet reading). Import + model load: the first call's extra time. Transfer + idle: "
              "steady overhead minus render (and, in-process, minus the driver's writes, which there take the "
              "worker's time); for pool/Ray it is the pickling, the pipe/object store and the wait for the "
              "driver, which writes while the workers go on.",
              f"Ray head start-up (ray.init on 127.0.0.1, not counted above): {ray_init:.1f} s." if ray_init else "",
              f"Same audio samples (sha256 of every take's float32 samples) in every backend's folder: "
              f"{'yes' if same else 'NO'} ({len(ref)} takes × {len(hashes)} backends)."]
    notes = PARTS.parent / "batch_notes.md"  # the hand-written reading of these runs, kept across reports
    if notes.is_file():
        lines += ["", notes.read_text(encoding="utf-8").rstrip()]
    out.write_text("\n".join(ln for ln in lines) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({"summary": s, "same_audio": same}, indent=1) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("part", help="run one backend (skipped if its part file exists; --force to redo)")
    p.add_argument("backend", choices=BACKENDS)
    p.add_argument("--takes", type=int, default=40)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--model", default="bundled")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads per worker (default 1); a part with "
                   "more is saved as NAME-Tt")
    p.add_argument("--force", action="store_true")
    r = sub.add_parser("report", help="write benchmarks/results/batch.md from the parts")
    r.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "batch.md"))
    args = ap.parse_args()
    if args.command == "report":
        report(Path(args.out))
        return
    os.environ["AGX_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    target = PARTS / (f"{args.backend}.json" if args.threads == 1 else f"{args.backend}-{args.threads}t.json")
    if target.is_file() and not args.force:
        print(f"{target} exists: skipped (--force to run again)")
        return
    part = run_part(args.backend, args.takes, args.duration, args.workers, args.model, args.threads)
    PARTS.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(part, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summarise(part), indent=1))


if __name__ == "__main__":
    main()
