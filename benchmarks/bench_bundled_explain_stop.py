"""AudioGenX quick mode's stop rule on the bundled model: time against fidelity (issue 20 item 3a).

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_bundled_explain_stop.py [--captions 20]

Quick mode's trajectory does not depend on when it stops (same lr schedule, same Gumbel draws), so one
run of it per take (20 epochs, no stop) gives the mask every stop rule would return: the explainers'
p at the epoch the rule stops. For held-out captions of the bundled world (heldout_captions.txt from
line 80 on; seeds 800 + i, 5 s takes) this compares each candidate rule with the current quick rule
(tol 0.02, patience 2, min 5 epochs) and with the paper mode (50 epochs, lr 1e-3):
  * Spearman rank correlation of the holistic word scores and mean per-step correlation of the masks;
  * the faithfulness metrics as ``agx evaluate`` computes them (evaluation.metrics.faithfulness, the
    bundled event classifier, 5 samples per mask): Fid and KL of factual and counterfactual
    regenerations, and the mask size;
  * epochs run (each epoch ≈ the per-epoch time of quick mode, measured on the first take).
Writes benchmarks/results/bundled_explain_stop.json and .md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("AGX_THREADS", "1")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from agx_desktop.engine.explain import audiogenx, explain  # noqa: E402
from agx_desktop.engine.generation import generate  # noqa: E402
from agx_desktop.engine.models import load_model  # noqa: E402
from agx_desktop.evaluation.metrics import faithfulness, load_classifier  # noqa: E402

#: name -> (tol, patience, min_epochs, max_epochs)
RULES = {"current (tol .02, patience 2, min 5)": (0.02, 2, 5, 50),
         "tol .02, patience 1, min 5": (0.02, 1, 5, 50),
         "tol .03, patience 1, min 4": (0.03, 1, 4, 50),
         "tol .04, patience 1, min 4": (0.04, 1, 4, 50),
         "current, at most 8 epochs": (0.02, 2, 5, 8),
         "current, at most 6 epochs": (0.02, 2, 5, 6)}
SCORED = ["current (tol .02, patience 2, min 5)", "tol .03, patience 1, min 4", "current, at most 6 epochs"]
HORIZON = 20


def stop_epoch(ps: list[torch.Tensor], tol: float, patience: int, min_epochs: int, cap: int) -> int:
    """The epoch quick mode's rule stops at (replays _Trace.settled on the recorded p's)."""
    previous, calm = None, 0
    for epoch, p in enumerate(ps):
        if epoch >= cap:
            return cap
        imp = p.mean(0)
        if previous is not None:
            calm = calm + 1 if float((imp - previous).abs().max()) < tol else 0
            if calm >= patience and epoch >= min_epochs:
                return epoch
        previous = imp
    raise RuntimeError("the rule did not stop within the horizon: record more epochs")


def trajectory(model, take, **settings) -> tuple[list[torch.Tensor], object]:
    """p before each of HORIZON quick-mode epochs (index e = after e optimiser steps); ``settings``
    override quick's others (e.g. ``lr``, ``lr_decay``)."""
    seen: list[torch.Tensor] = []
    original = audiogenx._Trace.settled

    def settled(self, p, epoch, cfg):
        seen.append(p.detach().clone())
        return False
    audiogenx._Trace.settled = settled
    try:
        ex = explain(model, take, epochs=HORIZON, min_epochs=HORIZON, **settings)
    finally:
        audiogenx._Trace.settled = original
    return seen, ex


def rho(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captions", type=int, default=20)
    ap.add_argument("--samples", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    load = [os.getloadavg()[0]]
    t_start = time.time()
    model = load_model("bundled")
    clf = load_classifier("bundled")
    captions = (RESULTS / "heldout_captions.txt").read_text().splitlines()[80:80 + args.captions]
    per: list[dict] = []
    timing: dict = {}
    for ci, caption in enumerate(captions):
        take = generate(model, caption, model.default_params(duration=5.0, seed=800 + ci))
        t = time.perf_counter()
        quick = explain(model, take)
        quick_s = time.perf_counter() - t
        paper = explain(model, take, mode="paper")
        ps, _ = trajectory(model, take)
        row = {"caption": caption, "quick_s": quick_s, "rules": {}}
        masks = {}
        for name, rule in RULES.items():
            e = stop_epoch(ps, *rule)
            masks[name] = dataclasses.replace(quick, step_masks=ps[e].float().numpy())
            row["rules"][name] = {"epochs": e}
        cur = masks["current (tol .02, patience 2, min 5)"]
        assert np.array_equal(cur.step_masks, quick.step_masks), "replayed rule differs from quick mode"
        assert row["rules"]["current (tol .02, patience 2, min 5)"]["epochs"] == quick.extras["epochs_run"]
        if ci == 0:
            timing = {"quick_s": quick_s, "epochs": quick.extras["epochs_run"]}
        for name, ex in masks.items():
            r = row["rules"][name]
            w = ex.word_importance()
            r["rho_quick"] = rho(w, quick.word_importance())
            r["rho_paper"] = rho(w, paper.word_importance())
            r["step_corr_paper"] = float(np.nanmean([np.corrcoef(a, b)[0, 1] for a, b in
                                                     zip(ex.step_masks, paper.step_masks)]))
        scored = {name: masks[name] for name in SCORED}
        scored["paper"] = paper
        faith = faithfulness(model, take, scored, clf, n_samples=args.samples, sample_seed=5000 + ci)
        row["faithfulness"] = faith
        row["paper_epochs"] = 50
        per.append(row)
        print(ci, caption[:48], {n: r["epochs"] for n, r in row["rules"].items()},
              {n: round(m["fid_cf"], 3) for n, m in faith["methods"].items()}, flush=True)
    load.append(os.getloadavg()[0])
    summary = {}
    for name in RULES:
        rs = [r["rules"][name] for r in per]
        summary[name] = {"epochs_mean": float(np.mean([r["epochs"] for r in rs])),
                         "epochs_max": int(np.max([r["epochs"] for r in rs])),
                         "rho_quick_mean": float(np.nanmean([r["rho_quick"] for r in rs])),
                         "rho_paper_mean": float(np.nanmean([r["rho_paper"] for r in rs])),
                         "step_corr_paper_mean": float(np.nanmean([r["step_corr_paper"] for r in rs]))}
    faith_summary = {}
    for name in SCORED + ["paper"]:
        ms = [r["faithfulness"]["methods"][name] for r in per]
        faith_summary[name] = {k: (float(np.mean([m[k] for m in ms])),
                                   float(np.std([m[k] for m in ms], ddof=1) / np.sqrt(len(ms))))
                               for k in ("fid_f", "fid_cf", "kl_f", "kl_cf", "size")}
    out = {"captions": len(per), "samples": args.samples, "load": load, "wall_s": time.time() - t_start,
           "timing_first_take": timing, "rules": summary, "faithfulness": faith_summary, "per_caption": per}
    (RESULTS / "bundled_explain_stop.json").write_text(json.dumps(out, indent=1, default=float))
    lines = [f"# AudioGenX quick mode's stop rule on the bundled model ({len(per)} held-out captions, 5 s takes, "
             f"1 thread; load average (1 min) {load[0]:.1f} → {load[1]:.1f}, {out['wall_s']:.0f} s)", "",
             "Rerun: `flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_bundled_explain_stop.py`",
             "", "| stop rule | epochs mean (max) | ρ words vs current quick | ρ words vs paper | per-step r vs paper |",
             "|---|---|---|---|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['epochs_mean']:.1f} ({s['epochs_max']}) | {s['rho_quick_mean']:.3f} "
                     f"| {s['rho_paper_mean']:.3f} | {s['step_corr_paper_mean']:.3f} |")
    lines += ["", f"Faithfulness (mean ± s.e. over captions; {args.samples} samples per mask; the bundled event "
              "classifier; Fid_F/KL_F lower is better, Fid_CF/KL_CF higher is better):", "",
              "| mask | Fid_F | Fid_CF | KL_F | KL_CF | size |", "|---|---|---|---|---|---|"]
    for name, s in faith_summary.items():
        lines.append(f"| {name} | " + " | ".join(f"{s[k][0]:.3f} ± {s[k][1]:.3f}" for k in
                                                 ("fid_f", "fid_cf", "kl_f", "kl_cf", "size")) + " |")
    (RESULTS / "bundled_explain_stop.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
