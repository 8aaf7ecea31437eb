"""Mutation test of AudioGenX and its faithfulness metrics (issue 18): does a wrong method fail the tests?

Each mutant is one textual change to ``explain/audiogenx.py`` or ``evaluation/metrics.py`` (the
mutations issue 18 lists, plus a few operator flips), applied to a throw-away copy of the tree; the
relevant test files then run against it (``-x``: the first failure kills the mutant). A mutant that
passes every test *survives*. Two test sets are compared on the same mutants:

* ``before``: the tests as they were at commit 57c98a2 (tests/test_explain.py, tests/test_metrics.py);
* ``after``: today's tests (the same files plus tests/test_faithfulness_method.py).

    .venv/bin/python benchmarks/mutation_explain.py [--only before|after] [--mutants 1,3,5]

Writes benchmarks/results/mutation_explain.{json,md}. About 1 min per mutant and test set on a
busy 2-core machine (test start-up dominates).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPLAIN, METRICS = "agx_desktop/engine/explain/audiogenx.py", "agx_desktop/evaluation/metrics.py"
BEFORE_COMMIT = "57c98a2"

#: (name, file, old text, new text)
MUTANTS: list[tuple[str, str, str, str]] = [
    ("factual cosine removed", EXPLAIN, "return -cos_f.sum() + cos_cf.sum()", "return cos_cf.sum()"),
    ("counterfactual cosine removed", EXPLAIN, "return -cos_f.sum() + cos_cf.sum()", "return -cos_f.sum()"),
    ("factual cosine sign flipped", EXPLAIN, "return -cos_f.sum() + cos_cf.sum()", "return cos_f.sum() + cos_cf.sum()"),
    ("counterfactual cosine sign flipped", EXPLAIN, "return -cos_f.sum() + cos_cf.sum()",
     "return -cos_f.sum() - cos_cf.sum()"),
    ("L2 regulariser sign flipped", EXPLAIN, "+ cfg.beta * torch.sqrt", "- cfg.beta * torch.sqrt"),
    ("factual/counterfactual passes swapped", EXPLAIN, "return out[0].float(), out[1].float()",
     "return out[1].float(), out[0].float()"),
    ("counterfactual pass uses m, not 1 - m", EXPLAIN, "torch.stack([m, 1 - m])", "torch.stack([m, m])"),
    ("reference-code runs the teacher-forced path", EXPLAIN,
     'if self.mode == "reference-code" and mask is not None:', "if False:"),
    ("mask_used ignored (always p)", EXPLAIN, 'if cfg.mask_used == "sample" else p', "if False else p"),
    ("Gumbel returns the drop class", EXPLAIN, "return y[..., 1]", "return y[..., 0]"),
    ("Gumbel temperature multiplies", EXPLAIN, "/ tau, dim=-1)", "* tau, dim=-1)"),
    ("metrics: factual/counterfactual rows swapped", METRICS,
     "f_rows, cf_rows = probs[base:base + n_samples], probs[base + n_samples:base + 2 * n_samples]",
     "cf_rows, f_rows = probs[base:base + n_samples], probs[base + n_samples:base + 2 * n_samples]"),
    ("metrics: masks regenerated in swapped order", METRICS, "masks += [m] * n_samples + [1.0 - m] * n_samples",
     "masks += [1.0 - m] * n_samples + [m] * n_samples"),
    ("metrics: KL direction reversed", METRICS,
     'kl_divergence(p_ref, q) if kl_direction == "orig_to_sample" else kl_divergence(q, p_ref)',
     'kl_divergence(q, p_ref) if kl_direction == "orig_to_sample" else kl_divergence(p_ref, q)'),
    ("metrics: KL log-ratio sign flipped", METRICS, "np.log(q_ref + EPS) - np.log(q_new + EPS)",
     "np.log(q_new + EPS) - np.log(q_ref + EPS)"),
    ("metrics: fidelity without abs", METRICS, "float(abs(p_ref[c] - p_new[c]))", "float(p_ref[c] - p_new[c])"),
    ("metrics: top-1 class is argmin", METRICS, "c = int(np.argmax(p_ref))\n    probs",
     "c = int(np.argmin(p_ref))\n    probs"),
    ("metrics: size reported as 1 - size", METRICS, "float(explanations[name].mask_size())",
     "float(1 - explanations[name].mask_size())"),
]

TESTS = {
    "before": {EXPLAIN: ["tests/test_explain.py"], METRICS: ["tests/test_metrics.py"]},
    "after": {EXPLAIN: ["tests/test_faithfulness_method.py", "tests/test_explain.py"],
              METRICS: ["tests/test_faithfulness_method.py", "tests/test_metrics.py"]},
}


def _copy_tree(dest: Path, test_set: str) -> None:
    for name in ("agx_desktop", "tests", "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    if test_set == "before":
        for test in ("tests/test_explain.py", "tests/test_metrics.py"):
            text = subprocess.run(["git", "show", f"{BEFORE_COMMIT}:{test}"], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout
            (dest / test).write_text(text)


def _run_tests(tree: Path, tests: list[str]) -> bool:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "AGX_THREADS": "1", "PYTHONPATH": str(tree)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                          cwd=tree, env=env, capture_output=True, text=True)
    return proc.returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["before", "after"])
    ap.add_argument("--mutants", help="comma-separated 1-based indices")
    ap.add_argument("--skip-baseline", action="store_true", help="do not first check the unmutated code passes")
    args = ap.parse_args()
    chosen = [int(i) - 1 for i in args.mutants.split(",")] if args.mutants else range(len(MUTANTS))
    sets = [args.only] if args.only else ["before", "after"]
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    store = out / "mutation_explain.json"
    results: dict = json.loads(store.read_text()) if store.exists() else {}
    for s in sets:
        results.setdefault(s, {})
    for test_set in sets:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp)
            _copy_tree(tree, test_set)
            assert args.skip_baseline or _run_tests(tree, sorted({t for ts in TESTS[test_set].values() for t in ts})), \
                f"the {test_set} tests fail on the unmutated code"
            for i in chosen:
                name, file, old, new = MUTANTS[i]
                path = tree / file
                original = path.read_text()
                assert original.count(old) == 1, f"mutant '{name}': the text is not found exactly once"
                path.write_text(original.replace(old, new))
                t0 = time.time()
                killed = not _run_tests(tree, TESTS[test_set][file])
                path.write_text(original)
                results = json.loads(store.read_text()) if store.exists() else {}  # runs may be split
                results.setdefault(test_set, {})[name] = {"killed": killed, "seconds": round(time.time() - t0, 1)}
                store.write_text(json.dumps(results, indent=1))
                print(f"{test_set:6s} {'killed  ' if killed else 'SURVIVED'} {name}", flush=True)
    _report(results)


def _report(results: dict) -> None:
    """benchmarks/results/mutation_explain.md from everything recorded so far."""
    sets = [s for s in ("before", "after") if s in results]
    lines = ["# Mutation test of AudioGenX and its metrics (`benchmarks/mutation_explain.py`)", "",
             f"Same mutants; tests as at {BEFORE_COMMIT} (before) and today (after). "
             "killed = some test fails with the mutant in place.", "",
             "| # | mutant | file | " + " | ".join(sets) + " |", "|---|---|---|" + "---|" * len(sets)]
    for i, (name, file, _, _) in enumerate(MUTANTS):
        cells = [("killed" if results[s][name]["killed"] else "**survives**") if name in results[s] else "not run"
                 for s in sets]
        lines.append(f"| {i + 1} | {name} | {Path(file).name} | " + " | ".join(cells) + " |")
    lines += ["", "Survivors: " + ", ".join(
        f"{s} {sum(not r['killed'] for r in results[s].values())}/{len(results[s])}" for s in sets)]
    (ROOT / "benchmarks" / "results" / "mutation_explain.md").write_text("\n".join(lines) + "\n")
    print(lines[-1])


if __name__ == "__main__":
    main()
