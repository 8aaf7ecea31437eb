"""AudioGenX quick mode's learning-rate schedule on the bundled model: fewer epochs for the same masks?
(issue 20 item 3a: the default explanation's time is epochs × the per-epoch cost.)

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_bundled_explain_schedule.py \
        [--first 80 --captions 20] [--schedules 5e-3:0.95,1e-2:0.9]

For held-out captions of the bundled world (heldout_captions.txt lines FIRST.., seeds 800 + line − 80 as in
bench_bundled_explain_stop.py, 5 s takes) and each schedule (Adam lr : decay per epoch), one 20-epoch
quick-mode trajectory is recorded (quick's trajectory does not depend on when it stops) and quick's stop rule
(tol 0.02, patience 2, min 5 epochs; and min 3) is replayed on it. Each schedule × rule is compared with the
paper mode (50 epochs, lr 1e-3, the masks quick stands in for): Spearman ρ of the holistic word scores, the
mean per-step correlation of the masks, and the faithfulness metrics as ``agx evaluate`` computes them (the
bundled event classifier, 5 samples per mask). Paired differences are against the first schedule.
Writes benchmarks/results/bundled_explain_schedule[_NAME].{json,md}.
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
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agx_desktop.engine.explain import audiogenx, explain  # noqa: E402
from agx_desktop.engine.generation import generate  # noqa: E402
from agx_desktop.engine.models import load_model  # noqa: E402
from agx_desktop.evaluation.metrics import faithfulness, load_classifier  # noqa: E402
from bench_bundled_explain_stop import HORIZON, rho, stop_epoch, trajectory  # noqa: E402

#: name -> (tol, patience, min_epochs, max_epochs)
RULES = {"min 5": (0.02, 2, 5, HORIZON), "min 3": (0.02, 2, 3, HORIZON)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", type=int, default=80, help="first line of heldout_captions.txt")
    ap.add_argument("--captions", type=int, default=20)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--schedules", default="5e-3:0.95,1e-2:0.9,1e-2:0.85,2e-2:0.8")
    ap.add_argument("--name", default="")
    ap.add_argument("--render", default=None, metavar="STEM", help="only rewrite STEM.md from STEM.json")
    args = ap.parse_args()
    if args.render:
        return render(args.render)
    torch.set_num_threads(1)
    schedules = [tuple(float(x) for x in s.split(":")) for s in args.schedules.split(",")]
    label = {s: f"lr {s[0]:g}, ×{s[1]:g}/epoch" for s in schedules}
    load, t_start = [os.getloadavg()[0]], time.time()
    model, clf = load_model("bundled"), load_classifier("bundled")
    lines_all = (RESULTS / "heldout_captions.txt").read_text().splitlines()
    captions = lines_all[args.first:args.first + args.captions]
    per: list[dict] = []
    for ci, caption in enumerate(captions):
        take = generate(model, caption, model.default_params(duration=5.0, seed=800 + args.first - 80 + ci))
        paper = explain(model, take, mode="paper")
        quick = explain(model, take)
        row: dict = {"caption": caption, "quick_epochs": quick.extras["epochs_run"], "cases": {}}
        masks = {}
        for s in schedules:
            ps, _ = trajectory(model, take, lr=s[0], lr_decay=s[1])
            for rule_name, rule in RULES.items():
                e = stop_epoch(ps, *rule)
                name = f"{label[s]}, {rule_name}"
                ex = dataclasses.replace(quick, step_masks=ps[e].float().numpy())
                masks[name] = ex
                row["cases"][name] = {
                    "epochs": e, "rho_paper": rho(ex.word_importance(), paper.word_importance()),
                    "step_corr_paper": float(np.nanmean([np.corrcoef(a, b)[0, 1] for a, b in
                                                         zip(ex.step_masks, paper.step_masks)]))}
        default = (audiogenx.QUICK_LR, audiogenx.QUICK_DECAY)
        if default in label:  # the replayed stop gives quick mode's own mask
            assert np.array_equal(masks[f"{label[default]}, min 5"].step_masks, quick.step_masks), \
                "replayed default differs from quick"
        scored = {name: ex for name, ex in masks.items() if name.endswith("min 5") or name == f"{label[schedules[-1]]}, min 3"}
        scored["paper"] = paper
        row["faithfulness"] = faithfulness(model, take, scored, clf, n_samples=args.samples, sample_seed=5000 + ci)
        per.append(row)
        print(ci, caption[:40], {n: c["epochs"] for n, c in row["cases"].items()}, flush=True)
    load.append(os.getloadavg()[0])
    stem = "bundled_explain_schedule" + (f"_{args.name}" if args.name else "")
    out = {"first": args.first, "captions": len(per), "samples": args.samples, "load": load,
           "wall_s": time.time() - t_start, "schedules": args.schedules, "per_caption": per}
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1, default=float))
    render(stem)


def _mean_se(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1) / np.sqrt(len(values)))


def render(stem: str) -> None:
    """Write STEM.md from STEM.json (``--render STEM`` redoes it without rerunning)."""
    out = json.loads((RESULTS / f"{stem}.json").read_text())
    per, load = out["per_caption"], out["load"]
    names = list(per[0]["cases"])
    keys = ("fid_f", "fid_cf", "kl_f", "kl_cf", "size")
    fnames = list(per[0]["faithfulness"]["methods"])
    default = fnames[0]
    md = [f"# AudioGenX quick mode's schedule on the bundled model (heldout_captions.txt lines {out['first'] + 1}-"
          f"{out['first'] + len(per)}, 5 s takes, 1 thread; load average (1 min) {load[0]:.1f} → {load[1]:.1f}, "
          f"{out['wall_s']:.0f} s)", "",
          "Rerun: `flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_bundled_explain_schedule.py "
          f"--first {out['first']} --captions {len(per)} --schedules {out.get('schedules', '5e-3:0.95,1e-2:0.9,1e-2:0.85,2e-2:0.8')}`", "",
          f"Stop rule: tol 0.02, patience 2, min 5 (or 3) epochs. Paired differences are against the first "
          f"schedule, {default} (quick mode's default until 2026-12-03; lr 1e-2 ×0.85 since).", "",
          "| schedule, stop rule | epochs mean (max) | ρ words vs paper | per-step r vs paper |", "|---|---|---|---|"]
    for n in names:
        cases = [r["cases"][n] for r in per]
        md.append(f"| {n} | {np.mean([c['epochs'] for c in cases]):.1f} ({max(c['epochs'] for c in cases)}) | "
                  f"{np.nanmean([c['rho_paper'] for c in cases]):.3f} | "
                  f"{np.nanmean([c['step_corr_paper'] for c in cases]):.3f} |")
    md += ["", f"Faithfulness (mean ± s.e. over captions; {out['samples']} samples per mask; Fid_F/KL_F lower is "
           "better, Fid_CF/KL_CF higher is better):", "", "| mask | " + " | ".join(keys) + " |",
           "|---|---|---|---|---|---|"]
    for n in fnames:
        md.append(f"| {n} | " + " | ".join("%.3f ± %.3f" % _mean_se([r["faithfulness"]["methods"][n][k] for r in per])
                                          for k in keys) + " |")
    md += ["", f"Paired against the first schedule ({default}), each caption's difference (mean ± s.e.):", "",
           "| mask | " + " | ".join(f"Δ {k}" for k in keys) + " |", "|---|---|---|---|---|---|"]
    for n in fnames[1:]:
        md.append(f"| {n} | " + " | ".join(
            "%+.3f ± %.3f" % _mean_se([r["faithfulness"]["methods"][n][k] - r["faithfulness"]["methods"][default][k]
                                       for r in per]) for k in keys) + " |")
    (RESULTS / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))

if __name__ == "__main__":
    main()
