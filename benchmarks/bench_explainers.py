"""AudioGenX speed: reference vs default mode, cost vs audio/prompt length, and audiogen-medium scale on CPU.

    # 1. speed ratio + both modes' Fid/KL on the same takes, one process (bundled model + classifier)
    nice -n 10 .venv/bin/python benchmarks/bench_explainers.py ratio --takes 6
    # 2. cost vs audio length (2.5/5/10 s) and prompt length (5/10/20 words) -> PNG + table
    nice -n 10 .venv/bin/python benchmarks/bench_explainers.py scaling
    # 3. audiogen-medium shape (random init) on the CPU: a few epochs, extrapolated
    nice -n 10 .venv/bin/python benchmarks/bench_explainers.py medium

Results go to ``benchmarks/results/explainers_*.{md,json,csv,png}``. Every timing says which
machine, threads and load it ran under; modes are interleaved take by take so load changes hit both.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def machine() -> str:
    import torch
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"load average {load:.1f} at start, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def peak_rss_mb() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- 1. ratio

def cmd_ratio(args: argparse.Namespace) -> None:
    import torch
    from agx_desktop.engine.explain import explain
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.take import GenerationParams
    from agx_desktop.engine import metrics

    model = load_model(args.model)
    captions = [c.strip() for c in Path(args.captions).read_text().splitlines() if c.strip()][:args.takes]
    clf = None
    if not args.no_metrics:
        try:
            clf = metrics.load_classifier(args.classifier)
        except metrics.ClassifierUnavailable as e:
            print(f"no Fid/KL: {e}", file=sys.stderr)
    modes = ["reference", "quick", "fast"] if args.with_fast else ["reference", "quick"]
    rows = []
    for i, cap in enumerate(captions):
        take = generate(model, cap, GenerationParams(duration=args.duration, seed=i))
        exs, secs = {}, {}
        for mode in (modes if i % 2 == 0 else modes[::-1]):  # alternate order against drift
            t0 = time.perf_counter()
            exs[mode] = explain(model, take, mode=mode)
            secs[mode] = time.perf_counter() - t0
        row = {"caption": cap, "seconds": secs, "epochs": {m: exs[m].extras.get("epochs_run", 50) for m in modes}}
        if clf is not None:
            row["scores"] = metrics.faithfulness(model, take, exs, clf, n_samples=5, sample_seed=1000 + i,
                                                 floor=False)["methods"]
        rows.append(row)
        print(f"[{i + 1}/{len(captions)}] " + "  ".join(f"{m} {secs[m]:.1f}s" for m in modes) + f"  {cap}",
              file=sys.stderr)
    tot = {m: sum(r["seconds"][m] for r in rows) for m in modes}
    ratio = tot["reference"] / tot["quick"]
    lines = ["# AudioGenX: reference vs default (quick) mode, same takes, one process", "",
             f"Model `{args.model}`, {args.duration:g} s takes, {len(rows)} held-out captions, "
             f"threads {model.num_threads}; {machine()}.", "",
             f"**Speed ratio reference / quick = {ratio:.2f}×** (total {tot['reference']:.1f} s vs {tot['quick']:.1f} s)",
             "", "| mode | s per explanation (mean ± SE) | epochs (mean) | Fid_F ↓ | Fid_CF ↑ | KL_F ↓ | KL_CF ↑ | size |",
             "|---|---|---|---|---|---|---|---|"]
    for m in modes:
        s = [r["seconds"][m] for r in rows]
        se = statistics.stdev(s) / len(s) ** 0.5 if len(s) > 1 else 0.0
        ep = statistics.mean(r["epochs"][m] for r in rows)
        cells = []
        for k in ("fid_f", "fid_cf", "kl_f", "kl_cf", "size"):
            if clf is None:
                cells.append("–")
                continue
            mean, sem = metrics.mean_se([r["scores"][m][k] for r in rows])
            cells.append(f"{mean:.3f} ± {sem:.3f}")
        lines.append(f"| {m} | {statistics.mean(s):.2f} ± {se:.2f} | {ep:.1f} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n\nRerun: `nice -n 10 .venv/bin/python benchmarks/bench_explainers.py ratio " \
        f"--takes {args.takes}`\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "explainers_ratio.md").write_text(text)
    (RESULTS / "explainers_ratio.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))
    print(text)


# ----------------------------------------------------------------------------- 2. scaling

WORDS = ("a loud dog barks then a small bell rings far away while heavy rain falls on the old "
         "tin roof and distant thunder rolls over quiet hills").split()


def _bundled_shape_model(max_duration: float = 10.0):
    """Random-init LM of the bundled architecture (from resources/bundled/config.json), up to 10 s."""
    import torch
    from agx_desktop.engine.bundled import loader
    from agx_desktop.engine.models import LoadedModel
    cfg = loader.read_config()
    torch.manual_seed(0)
    lm = loader.build_lm(cfg["lm"])
    codec = loader.build_codec(None, cfg.get("codec"))
    gen = loader.assemble(lm, codec, max_duration=max_duration)
    return LoadedModel("bundled-shape", gen, torch.device("cpu"))


def _fake_take(model, prompt: str, duration: float, seed: int = 0):
    """A take with random codes (timing does not depend on what the codes are)."""
    import numpy as np
    import torch
    from agx_desktop.engine.take import GenerationParams, Take
    frames = int(duration * model.frame_rate)
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, model.card, (model.lm.num_codebooks, frames), generator=g)
    return Take(prompt=prompt, model_id=model.id, params=GenerationParams(duration=duration, seed=seed),
                sample_rate=model.sample_rate, frame_rate=model.frame_rate,
                audio=np.zeros((1, int(duration * model.sample_rate)), np.float32), codes=codes,
                latents=torch.zeros(0), text=model.text_tokens(prompt))


def _epoch_cost(model, take, mode: str, e1: int, e2: int, repeats: int = 2) -> tuple[float, float]:
    """(setup s, s per epoch): the median of the per-epoch durations seen by the progress callback
    over ``repeats`` runs of ``e2`` epochs (robust to transient load), setup = time to the first epoch's
    end minus one epoch. Quick's convergence stop is disabled (tol < 0). ``e1`` is unused (kept for the CLI)."""
    from agx_desktop.engine.explain import explain
    extra = {"tol": -1.0} if mode == "quick" else {}
    durations, setups = [], []
    for _ in range(repeats):
        stamps: list[float] = []
        t0 = time.perf_counter()
        explain(model, take, mode=mode, epochs=e2, progress=lambda stage, d, t: stamps.append(time.perf_counter()),
                **extra)
        diffs = [b - a for a, b in zip(stamps, stamps[1:])]
        durations += diffs
        setups.append(stamps[0] - t0 - statistics.median(diffs))
    return statistics.median(setups), statistics.median(durations)


def cmd_scaling(args: argparse.Namespace) -> None:
    model = _bundled_shape_model()
    points = [(2.5, 10), (5.0, 10), (10.0, 10), (5.0, 5), (5.0, 20)]
    rows = []
    for dur, words in points:
        take = _fake_take(model, " ".join(WORDS[:words]), dur)
        row = {"duration": dur, "words": words, "tokens": len(take.text.tokens),
               "steps": int(dur * model.frame_rate) + model.lm.num_codebooks - 1}
        for mode in ("reference", "quick"):
            setup, per = _epoch_cost(model, take, mode, 1, 1 + args.epochs)
            row[mode] = {"setup_s": setup, "epoch_s": per}
        row["reference_50_s"] = row["reference"]["setup_s"] + 50 * row["reference"]["epoch_s"]
        row["quick_at_median_epochs_s"] = row["quick"]["setup_s"] + args.quick_epochs * row["quick"]["epoch_s"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    header = ["audio s", "words", "tokens", "steps", "reference s/epoch", "quick s/epoch", "reference 50 epochs s",
              f"quick {args.quick_epochs} epochs s"]
    lines = ["# AudioGenX cost vs audio length and prompt length", "",
             f"Random-init LM of the bundled model's architecture (so 10 s fits; cost does not depend on the "
             f"weights), threads {model.num_threads}; s/epoch = median of the {args.epochs} per-epoch durations of 2 "
             f"runs (robust to transient load); quick's convergence stop disabled for timing; the last column uses "
             f"{args.quick_epochs} epochs (about the mean number of epochs the default mode's convergence stop ran on 8 held-out bundled takes: explainers_ratio.md). Measured while other jobs loaded the 2 cores (load average in the last sentence): treat single points as noisy, re-run on an idle machine. "
             f"{machine()}.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    csv = [",".join(h.replace(" ", "_") for h in header)]
    for r in rows:
        vals = [f"{r['duration']:g}", str(r["words"]), str(r["tokens"]), str(r["steps"]),
                f"{r['reference']['epoch_s']:.3f}", f"{r['quick']['epoch_s']:.3f}", f"{r['reference_50_s']:.1f}",
                f"{r['quick_at_median_epochs_s']:.1f}"]
        lines.append("| " + " | ".join(vals) + " |")
        csv.append(",".join(vals))
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / "explainers_scaling.png"
    try:
        _plot(rows, png)
        lines += ["", f"![cost]({png.name})"]
    except Exception as e:  # no Qt platform: table only
        lines += ["", f"(no PNG: {e.__class__.__name__}: {e})"]
    lines += ["", "Rerun: `nice -n 10 .venv/bin/python benchmarks/bench_explainers.py scaling`"]
    (RESULTS / "explainers_scaling.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "explainers_scaling.csv").write_text("\n".join(csv) + "\n")
    print("\n".join(lines))


def _plot(rows: list[dict], path: Path) -> None:
    """Two panels (seconds per epoch vs audio length, vs prompt length) with pyqtgraph's exporter."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from pyqtgraph.exporters import ImageExporter
    pg.mkQApp()
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    win = pg.GraphicsLayoutWidget()
    win.resize(1100, 500)
    colors = {"reference": (200, 60, 40), "quick": (40, 90, 200)}
    for col, (key, label, sel) in enumerate([
            ("duration", "audio length (s), 10-word prompt", lambda r: r["words"] == 10),
            ("words", "prompt length (words), 5 s audio", lambda r: r["duration"] == 5.0)]):
        p = win.addPlot(row=0, col=col, title="ms per epoch vs " + label)
        p.addLegend(offset=(10, 10))
        p.setLabel("bottom", label)
        p.setLabel("left", "ms per epoch")
        pts = sorted([r for r in rows if sel(r)], key=lambda r: r[key])
        for mode in ("reference", "quick"):
            p.plot([r[key] for r in pts], [1000 * r[mode]["epoch_s"] for r in pts], pen=pg.mkPen(colors[mode], width=2),
                   symbol="o", symbolBrush=colors[mode], name=mode)
        p.setYRange(0, max(1000 * r["reference"]["epoch_s"] for r in pts) * 1.1)
        p.setXRange(0, max(r[key] for r in pts) * 1.05)
    pg.QtWidgets.QApplication.processEvents()
    ImageExporter(win.scene()).export(str(path))


# ----------------------------------------------------------------------------- 3. medium

ISSUE_UNIT_S = 15.3


def cmd_medium(args: argparse.Namespace) -> None:
    import torch
    from audiocraft.models import AudioGen
    from audiocraft.models.lm import LMModel
    from audiocraft.modules.codebooks_patterns import DelayedPatternProvider
    from audiocraft.modules.conditioners import ConditionFuser, ConditioningProvider
    from agx_desktop.engine.models import LoadedModel
    from agx_desktop.engine.tiny import HashWordConditioner, build_tiny_codec
    from agx_desktop.engine.explain import explain

    t0 = time.perf_counter()
    torch.manual_seed(0)
    dim = 1536
    provider = ConditioningProvider({"description": HashWordConditioner(output_dim=dim)})
    fuser = ConditionFuser(fuse2cond={"cross": ["description"], "prepend": [], "sum": []})
    lm = LMModel(DelayedPatternProvider(n_q=4, delays=[0, 1, 2, 3]), provider, fuser, n_q=4, card=2048, dim=dim,
                 num_heads=24, num_layers=48, hidden_scale=4, norm="layer_norm", norm_first=True,
                 cross_attention=True, custom=False, bias_ff=False, bias_attn=False, bias_proj=False, causal=True,
                 positional_embedding="sin", cfg_dropout=0.0, cfg_coef=3.0, two_step_cfg=False).eval()
    n_params = sum(p.numel() for p in lm.parameters())
    gen = AudioGen(name="medium-shape", compression_model=build_tiny_codec(card=2048, n_q=4), lm=lm, max_duration=10)
    model = LoadedModel("medium-shape", gen, torch.device("cpu"))
    build_s = time.perf_counter() - t0
    prompt = "a dog barks while a man speaks and birds chirp in the distance"  # 14 words
    take = _fake_take(model, prompt, 5.0)
    print(f"built {n_params / 1e9:.2f} B params in {build_s:.0f} s; threads {model.num_threads}", file=sys.stderr)
    res = {"params_b": n_params / 1e9, "threads": model.num_threads, "tokens": len(take.text.tokens)}
    # the unit the issue measured on this machine (15.3 s on 2 free cores): one teacher-forced
    # forward+backward at batch 2 through the cross-attention masks, timed here under the same
    # conditions as the explainer so that load and thread count cancel in the ratio
    from agx_desktop.engine import teacher
    inputs = teacher.prepare(model, take)
    with model.threads(), teacher.frozen(model.lm):
        mask = torch.ones(2, inputs.n_steps, res["tokens"], requires_grad=True)
        t = time.perf_counter()
        teacher.latents(model, inputs, mask, batch=2).float().sum().backward()
        res["unit_s"] = time.perf_counter() - t
    del inputs, mask
    print(f"unit (fwd+bwd, batch 2): {res['unit_s']:.1f} s", file=sys.stderr)
    plan = {"quick": (1, 1 + args.epochs), "reference": (1, 1 + args.ref_epochs)}
    for mode, (e1, e2) in ((m, plan[m]) for m in args.modes.split(",")):
        times = []
        for e in (e1, e2):
            t = time.perf_counter()
            extra = {"tol": -1.0} if mode == "quick" else {}
            explain(model, take, mode=mode, epochs=e, **extra)
            times.append(time.perf_counter() - t)
            print(f"{mode} {e} epochs: {times[-1]:.1f} s (peak RSS so far {peak_rss_mb():.0f} MB)", file=sys.stderr)
        per = (times[1] - times[0]) / (e2 - e1)
        res[mode] = {"setup_s": times[0] - per, "epoch_s": per, "peak_rss_mb": peak_rss_mb()}
    res["machine"] = machine()
    res["steps"] = int(take.codes.shape[-1]) + 3
    res["quick_epochs_assumed"] = args.quick_epochs
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "explainers_medium_cpu.json").write_text(json.dumps(res, indent=1))
    render_medium(res)


def render_medium(res: dict) -> None:
    """explainers_medium_cpu.md from the measurements (``medium --render-only`` redoes it from the JSON)."""
    u = res["unit_s"]
    q = res["quick"]
    n_ep = int(res.get("quick_epochs_assumed", 15))
    units = {"setup": q["setup_s"] / u, "epoch": q["epoch_s"] / u}
    free = {n: (units["setup"] + n * units["epoch"]) * ISSUE_UNIT_S for n in (n_ep, 20, 50)}
    lines = ["# AudioGenX at audiogen-medium shape on the CPU (random init)", "",
             f"LM: dim 1536, 48 layers, 24 heads, 4 codebooks × 2048, no biases ({res['params_b']:.2f} B params with "
             f"cross-attention); 5 s = {res.get('steps', 253)} steps; {res['tokens']} text tokens. Measured with "
             f"{res['threads']} thread, niced, while the bundled model trained on the other core "
             f"({res.get('machine', '')}). Absolute seconds here are therefore slow; the estimate below uses ratios.",
             "",
             "Method: the unit the issue measured on this machine (one teacher-forced forward+backward at batch 2 "
             f"through the masks: {ISSUE_UNIT_S} s on 2 free cores) is timed in the same process "
             f"({u:.1f} s here); the default (quick) mode is run for 1 and 2 epochs; s/epoch = difference, setup = the "
             "rest (teacher inputs, unmasked target pass, explainer init). Cost in units × "
             f"{ISSUE_UNIT_S} s = estimate on 2 free cores (load and thread count cancel in the ratio).", "",
             "| | measured here | in units | estimate on 2 free cores |", "|---|---|---|---|",
             f"| quick setup | {q['setup_s']:.1f} s | {units['setup']:.2f} | {units['setup'] * ISSUE_UNIT_S:.0f} s |",
             f"| quick epoch (F+CF pass at batch 2 + 199 M-weight explainer step) | {q['epoch_s']:.1f} s | "
             f"{units['epoch']:.2f} | {units['epoch'] * ISSUE_UNIT_S:.1f} s |",
             f"| quick peak RSS (process) | {q['peak_rss_mb']:.0f} MB | | |", "",
             "Default-mode explanation of 5 s, estimated on 2 free cores: "
             + ", ".join(f"{n} epochs **{v:.0f} s ({v / 60:.1f} min)**" for n, v in free.items())
             + f". {n_ep} epochs is the median the convergence stop ran on the bundled model; at this scale it is "
             "not measured (that needs trained weights). Reference mode, not run here (two graphs at batch 2 need "
             f"~18 GB): ≥ 2 units per epoch → ≥ {100 * ISSUE_UNIT_S / 60:.0f} min for 50 epochs.", "",
             "The 2-minute target is NOT reached on the CPU: it needs ≤ "
             f"{(120 / ISSUE_UNIT_S - units['setup']) / units['epoch']:.1f} epochs at this cost per epoch. "
             "bf16 autocast on this CPU was 15-20× slower than fp32 (6-layer slice, fwd+bwd), so it is GPU-only.", "",
             "Rerun: `AGX_BENCH_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_explainers.py medium --modes "
             "quick --epochs 1` (≈ 8 min, 15 GB)"]
    (RESULTS / "explainers_medium_cpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("ratio")
    r.add_argument("--model", default="bundled")
    r.add_argument("--captions", default=str(RESULTS / "heldout_captions.txt"))
    r.add_argument("--takes", type=int, default=6)
    r.add_argument("--duration", type=float, default=5.0)
    r.add_argument("--classifier", default="bundled")
    r.add_argument("--no-metrics", action="store_true")
    r.add_argument("--with-fast", action="store_true", help="also time the fast mode (same masks as reference)")
    s = sub.add_parser("scaling")
    s.add_argument("--epochs", type=int, default=5, help="extra epochs timed per point")
    s.add_argument("--quick-epochs", type=int, default=15)
    m = sub.add_parser("medium")
    m.add_argument("--epochs", type=int, default=2, help="extra quick epochs timed")
    m.add_argument("--ref-epochs", type=int, default=1, help="extra reference epochs timed")
    m.add_argument("--quick-epochs", type=int, default=15)
    m.add_argument("--modes", default="quick", help="quick[,reference] (reference needs ~18 GB)")
    m.add_argument("--render-only", action="store_true", help="rewrite the .md from explainers_medium_cpu.json")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(int(os.environ.get("AGX_BENCH_THREADS", torch.get_num_threads())))
    if args.cmd == "medium" and args.render_only:
        render_medium(json.loads((RESULTS / "explainers_medium_cpu.json").read_text()))
        return
    {"ratio": cmd_ratio, "scaling": cmd_scaling, "medium": cmd_medium}[args.cmd](args)


if __name__ == "__main__":
    main()
