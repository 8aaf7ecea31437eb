"""The bundled model's 5 s generate, decode and default explanation before and after the issue-20 item 3a
cuts, measured back to back in one run (1 thread):

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_bundled_before_after.py [--rounds 2]
        [--before COMMIT --name STEM --title "what changed"]

``--before b97d209 --name bundled_before_after_lean --title "the lean step and the faster Griffin-Lim"``
measures this tree against the one before the lean transformer step (engine/lean_step.py) and the
codec's own istft (issue 20, round of 2026-12-03).

"before" is the tree at BEFORE (the commit preceding the cuts), unpacked with ``git archive`` into a
temporary folder; "after" is this tree. Each round runs benchmarks/profile_bundled_speed.py once in
each tree (a fresh process: model load, 5 generates, 5 decodes, 2 explanations, one cProfile of each),
alternating, so a burst of load from other jobs hits both alike. Writes
benchmarks/results/bundled_before_after.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BEFORE = "b8c583f"  # the last commit before the item 3a cuts (d11ea28 and later)
PROFILE = ROOT / "benchmarks" / "profile_bundled_speed.py"
SAME = "Same outputs, bit for bit (tests/test_bundled_speed.py, tests/test_lean_step.py)."


def run(tree: pathlib.Path, out: pathlib.Path) -> dict:
    env = {**os.environ, "AGX_THREADS": "1"}
    subprocess.run([sys.executable, str(tree / "benchmarks" / PROFILE.name), "--json", str(out), "--quiet"],
                   cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--before", default=BEFORE, help="the commit measured as 'before'")
    ap.add_argument("--name", default="bundled_before_after", help="stem of the results files")
    ap.add_argument("--title", default="the issue-20 item 3a cuts", help="what changed, for the heading")
    ap.add_argument("--outputs", default=SAME, help="what the two trees' outputs have in common, for the results")
    args = ap.parse_args()
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="agx_before_") as tmp:
        old = pathlib.Path(tmp) / "tree"
        old.mkdir()
        archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        shutil.copy(PROFILE, old / "benchmarks" / PROFILE.name)
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for r in range(args.rounds):
            for name, tree in (("before", old), ("after", ROOT)):
                runs[name].append(run(tree, pathlib.Path(tmp) / f"{name}{r}.json"))
                print(name, r, {k: round(v, 3) for k, v in runs[name][-1].items() if k.endswith("_s")}, flush=True)
    load.append(os.getloadavg()[0])

    def med(name: str, key: str) -> float:
        return statistics.median(x for run_ in runs[name] for x in run_[key.replace("_s", "_all")]) \
            if key != "decode_s" else statistics.median(run_[key] for run_ in runs[name])

    summary = {k: {"before": med("before", k), "after": med("after", k)} for k in ("generate_s", "decode_s", "explain_s")}
    for v in summary.values():
        v["ratio"] = v["after"] / v["before"]
    profiles = {name: {"generate": runs[name][-1]["generate_profile"], "explain": runs[name][-1]["explain_profile"]}
                for name in runs}
    out = {"before_commit": args.before, "rounds": args.rounds, "load": load, "summary": summary, "profiles": profiles,
           "runs": runs}
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=1))
    labels = {"generate_s": "engine generate, 5 s", "decode_s": "codec decode (Griffin-Lim, 32 iterations)",
              "explain_s": "default explanation (AudioGenX quick)"}
    lines = [f"# Bundled model before / after {args.title} (1 thread; {args.rounds} rounds of each tree, "
             f"alternating; load average (1 min) {load[0]:.1f} → {load[1]:.1f} on {os.cpu_count()} cores)", "",
             f"Before: the tree at {args.before}; after: this tree. {args.outputs}",
             "Rerun: `flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_bundled_before_after.py"
             + ("" if args.before == BEFORE else f" --before {args.before} --name {args.name} --title \"{args.title}\"")
             + ("" if args.outputs == SAME else f" --outputs \"{args.outputs}\"")
             + "`", "",
             "| what | before, s | after, s | after / before |", "|---|---|---|---|"]
    for k, v in summary.items():
        lines.append(f"| {labels[k]} | {v['before']:.3f} | {v['after']:.3f} | {v['ratio']:.2f} |")
    lines += ["", "Profile shares (cProfile of one run each, last round; cumulative seconds, inflated by the profiler):",
              "", "| part | before, s | after, s |", "|---|---|---|"]
    for part in ("generate", "explain"):
        for key in profiles["before"][part]:
            lines.append(f"| {part}: {key} | {profiles['before'][part][key]:.3f} | {profiles['after'][part][key]:.3f} |")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
