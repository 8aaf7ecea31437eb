"""The engine on a CUDA GPU: does every path the app uses run there, and how fast is it?

Three parts, all in this one process (so they share the GPU's warm state):

1. **bundled** — the shipped model loaded with ``load_model('bundled', 'cuda')``: generate 5 s,
   explain it in quick (the default; float32 on CUDA), quick with bf16 forced, fast and reference; the same
   take explained on the CPU (float32) for a mask agreement check.
2. **hub** — the real offline hub path (registry → audiocraft builders → ``T5Conditioner``) on a
   tiny ``facebook/audiogen-medium`` + ``t5-large`` in a temporary HF cache (``tests/hub_cache``),
   loaded straight onto CUDA: generate and explain. It checks that the T5 text encoder follows
   the LM to the GPU (see ``models.move_text_encoders``).
3. **medium** — a random-init LM in audiogen-medium's configuration (1.8 B parameters, as in
   ``bench_explainers.py medium``) built on the GPU: generate 5 s, the teacher-forced
   forward+backward unit in float32 and bf16, and quick/reference per-epoch cost.

Writes ``cuda.json`` and ``cuda.md`` to ``--out`` (default ``benchmarks/results``).

    .venv/bin/python benchmarks/bench_cuda.py            # on a machine with a CUDA GPU
    .venv/bin/python benchmarks/bench_cuda.py --device cpu --medium-layers 2 --out /tmp/x   # smoke run
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HF_CACHE = tempfile.mkdtemp(prefix="agx-hub-")
os.environ["HF_HUB_CACHE"] = HF_CACHE  # read by huggingface_hub at import: set before anything imports it
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

PROMPT = "a dog barks then a bell rings in the distance"


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, *a, **kw):
    sync()
    t = time.perf_counter()
    out = fn(*a, **kw)
    sync()
    return time.perf_counter() - t, out


def peak_gb(dev: torch.device) -> float:
    return torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else float("nan")


def reset_peak(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def minilm_weights() -> str:
    """Which MiniLM the bundled model's conditioner loads (the packaged one, or a stand-in)."""
    from agx_desktop.engine.bundled.conditioner import minilm_path
    f = Path(minilm_path()) / "model.safetensors"
    h = hashlib.sha256(f.read_bytes()).hexdigest()[:12]
    return f"{f.stat().st_size / 2**20:.1f} MB, sha256 {h}"


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


# ----------------------------------------------------------------------------- 1. bundled

def part_bundled(dev: torch.device, repeats: int) -> dict:
    from agx_desktop.engine.explain import explain
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.take import GenerationParams

    load_s, model = timed(load_model, "bundled", dev, use_cache=False)
    res = {"load_s": load_s, "minilm": minilm_weights(), "trained": model.trained, "bf16": model.fast_bf16}
    generate(model, PROMPT, GenerationParams(duration=1.0, seed=99))  # warm-up (kernels, allocator)
    gens = []
    for i in range(repeats):
        sec, take = timed(generate, model, PROMPT, GenerationParams(duration=5.0, seed=i))
        gens.append(sec)
    assert np.isfinite(take.audio).all() and take.audio.shape[-1] == 5 * model.sample_rate
    res["generate_5s_s"] = gens
    res["rms"] = float(np.sqrt((take.audio ** 2).mean()))
    explain(model, take, mode="quick", epochs=2)  # warm-up: the first backward pass on the GPU is slow
    reset_peak(dev)
    for mode in ("quick", "fast", "reference"):
        sec, ex = timed(explain, model, take, mode=mode)
        res[f"explain_{mode}_s"] = sec
        res[f"explain_{mode}_epochs"] = ex.extras.get("epochs_run")
        if mode == "quick":
            masks_dev = ex.step_masks
    res["explain_peak_gb"] = peak_gb(dev)
    with forced_bf16("1"):
        sec, ex_bf16 = timed(explain, model, take, mode="quick")
    res["explain_quick_bf16_s"], res["explain_quick_bf16_epochs"] = sec, ex_bf16.extras.get("epochs_run")
    assert np.isfinite(masks_dev).all()
    cpu_model = load_model("bundled", "cpu", use_cache=False)
    sec, ex_cpu = timed(explain, cpu_model, take, mode="quick")
    res["cpu_explain_quick_s"] = sec
    res["cpu_threads"] = cpu_model.num_threads
    n = min(len(masks_dev), len(ex_cpu.step_masks))
    res["quick_mask_corr_dev_vs_cpu"] = corr(masks_dev[:n], ex_cpu.step_masks[:n])
    res["quick_holistic_corr_dev_vs_cpu"] = corr(masks_dev.mean(0), ex_cpu.step_masks.mean(0))
    return res


# ----------------------------------------------------------------------------- 2. hub path

def part_hub(dev: torch.device) -> dict:
    import hub_cache
    from agx_desktop.engine.explain import explain
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.take import GenerationParams

    hub_cache.populate(HF_CACHE)
    model = load_model("facebook/audiogen-medium", dev, use_cache=False)
    cond = model.lm.condition_provider.conditioners["description"]
    t5_dev = str(next(cond.t5.parameters()).device)
    take = generate(model, "a dog barks then a bell rings", GenerationParams(duration=0.5, top_k=16, seed=1))
    ex = explain(model, take, epochs=3)
    return {"t5_device": t5_dev, "lm_device": str(next(model.lm.parameters()).device),
            "audio_finite": bool(np.isfinite(take.audio).all()), "words": len(ex.word_importance()),
            "masks_finite": bool(np.isfinite(ex.step_masks).all())}


# ----------------------------------------------------------------------------- 3. medium shape

def part_medium(dev: torch.device, layers: int, epochs: int, repeats: int) -> dict:
    import bench_explainers as be
    from agx_desktop.engine import teacher
    from agx_desktop.engine.explain import explain
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.take import GenerationParams

    t0 = time.perf_counter()
    with torch.device(dev):  # initialise the 1.8 B parameters where they will run
        model = be._medium_model(num_layers=layers, device=dev)
    res = {"layers": layers, "params_b": sum(p.numel() for p in model.lm.parameters()) / 1e9,
           "build_s": time.perf_counter() - t0, "bf16": model.fast_bf16}
    prompt = "a dog barks while a man speaks and birds chirp in the distance"
    generate(model, prompt, GenerationParams(duration=1.0, seed=99))  # warm-up
    reset_peak(dev)
    gens = []
    for i in range(repeats):
        sec, take = timed(generate, model, prompt, GenerationParams(duration=5.0, seed=i))
        gens.append(sec)
    res["generate_5s_s"] = gens
    res["generate_peak_gb"] = peak_gb(dev)
    res["steps"] = int(take.latents.shape[0])
    res["tokens"] = len(take.text.tokens)
    inputs = teacher.prepare(model, take)
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(2, inputs.n_steps, res["tokens"], generator=g).to(dev)
    units, grads = {}, {}
    with teacher.Frozen(model.lm):
        for bf16 in (False, True, False, True):
            sec, grads[bf16] = be._unit(model, inputs, mask, bf16)
            units.setdefault("bf16" if bf16 else "fp32", []).append(sec)
    res["unit_s"] = {k: min(v) for k, v in units.items()}
    a, b = grads[False].flatten().double(), grads[True].flatten().double()
    res["grad_cosine_bf16_fp32"] = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    del inputs, grads
    for key, mode, bf16 in (("quick_fp32", "quick", "0"), ("quick_bf16", "quick", "1"),
                            ("reference_fp32", "reference", "0")):
        reset_peak(dev)
        times, runs = [], []
        with forced_bf16(bf16):
            for e in (1, 1 + epochs):
                sec, ex = timed(explain, model, take, mode=mode, epochs=e, tol=-1.0)
                times.append(sec)
                runs.append(ex.extras.get("epochs_run", e))
        per = (times[1] - times[0]) / epochs
        res[key] = {"setup_s": times[0] - per, "epoch_s": per, "peak_gb": peak_gb(dev), "epochs_run": runs}
    sec, ex = timed(explain, model, take)  # the app's default, convergence stop on (random weights)
    res["default_explain_s"] = sec
    res["default_epochs_run"] = ex.extras.get("epochs_run")
    res["masks_finite"] = bool(np.isfinite(ex.step_masks).all())
    return res


@contextlib.contextmanager
def forced_bf16(value: str):
    """Run the body with ``AGX_BF16`` set to ``value`` (the engine's precision override)."""
    before = os.environ.get("AGX_BF16")
    os.environ["AGX_BF16"] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AGX_BF16", None)
        else:
            os.environ["AGX_BF16"] = before


# ----------------------------------------------------------------------------- report

def machine(dev: torch.device) -> str:
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        return (f"{p.name} ({p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs), torch "
                f"{torch.__version__}, CUDA {torch.version.cuda}, host {os.cpu_count()} CPUs")
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}"


def render(res: dict) -> str:
    b, h, m = res.get("bundled"), res.get("hub"), res.get("medium")
    med = statistics.median
    lines = ["# The engine on a CUDA GPU", "", f"Machine: {res['machine']}. Measured {res['date']}.", ""]
    if b:
        lines += ["## Bundled model (shipped LM and codec weights)", "",
                  f"Text encoder weights: {b['minilm']}" + (" — **a random-init stand-in of the same shape** "
                  "(the packaged 87 MB weights could not travel to the GPU machine); timings depend on shapes "
                  "only, and the CPU comparison below uses the same weights." if res.get("minilm_standin") else "."),
                  "", "| | seconds |", "|---|---|",
                  f"| load | {b['load_s']:.2f} |",
                  f"| generate 5 s (median of {len(b['generate_5s_s'])}) | {med(b['generate_5s_s']):.2f} |",
                  f"| explain, quick (default; bf16 autocast: {b['bf16']}; {b['explain_quick_epochs']} epochs) | "
                  f"{b['explain_quick_s']:.2f} |",
                  f"| explain, quick with bf16 forced (`AGX_BF16=1`; {b['explain_quick_bf16_epochs']} epochs) | "
                  f"{b['explain_quick_bf16_s']:.2f} |",
                  f"| explain, fast ({b['explain_fast_epochs']} epochs) | {b['explain_fast_s']:.2f} |",
                  f"| explain, reference (paper; {b['explain_reference_epochs']} epochs) | "
                  f"{b['explain_reference_s']:.2f} |",
                  f"| explain, quick on this host's CPU, float32, {b['cpu_threads']} threads | "
                  f"{b['cpu_explain_quick_s']:.2f} |", "",
                  f"Reference/quick on the GPU: {b['explain_reference_s'] / b['explain_quick_s']:.2f}×. Quick masks, GPU "
                  f"vs CPU (both default precision) on the same take: correlation {b['quick_mask_corr_dev_vs_cpu']:.3f} per "
                  f"step, {b['quick_holistic_corr_dev_vs_cpu']:.3f} holistic. Peak GPU memory while explaining "
                  f"{b['explain_peak_gb']:.2f} GiB.", ""]
    if h:
        ok = h["t5_device"] == h["lm_device"] and h["audio_finite"] and h["masks_finite"]
        lines += ["## Hub path (tiny audiogen-medium + t5-large in a local HF cache)", "",
                  f"Loaded with `load_model('facebook/audiogen-medium', ...)`: LM on {h['lm_device']}, T5 on "
                  f"{h['t5_device']}; generation and a 3-epoch explanation ({h['words']} words) "
                  f"{'ran, finite' if ok else 'FAILED'}.", ""]
    if m:
        u = m["unit_s"]
        q = m["quick_fp32" if not m["bf16"] else "quick_bf16"]
        est = {n: q["setup_s"] + n * q["epoch_s"] for n in (11, 16, 50)}
        lines += [f"## audiogen-medium shape (random init, {m['params_b']:.2f} B params, {m['layers']} layers)", "",
                  f"5 s = {m['steps']} steps, {m['tokens']} text tokens.", "",
                  "| | seconds |", "|---|---|",
                  f"| generate 5 s (median of {len(m['generate_5s_s'])}; float32, as the engine runs it) | "
                  f"{med(m['generate_5s_s']):.2f} |",
                  f"| teacher-forced fwd+bwd at batch 2, float32 | {u['fp32']:.3f} |",
                  f"| same, bf16 autocast (weights cast once) | {u['bf16']:.3f} |"]
        for key, label in (("quick_fp32", "quick, float32"), ("quick_bf16", "quick, bf16 autocast (`AGX_BF16=1`)"),
                           ("reference_fp32", "reference (the paper's execution), float32")):
            r = m[key]
            lines.append(f"| {label}: setup / per epoch (peak {r['peak_gb']:.1f} GiB) | {r['setup_s']:.2f} / "
                         f"{r['epoch_s']:.3f} |")
        lines += [f"| default explanation as the app runs it (stop on; random weights: {m['default_epochs_run']} "
                  f"epochs) | {m['default_explain_s']:.2f} |", "",
                  f"Unit speed-up from bf16: {u['fp32'] / u['bf16']:.2f}×; mask-gradient cosine bf16 vs float32 "
                  f"{m['grad_cosine_bf16_fp32']:.4f}. Peak GPU memory while generating {m['generate_peak_gb']:.1f} GiB.",
                  "", f"Default precision here: {'bf16' if m['bf16'] else 'float32'}. "
                  "Quick explanation of 5 s in it, setup + epochs × per-epoch (epoch counts from the bundled model's "
                  "evaluation: median 11, 90th percentile 16; the paper's fixed 50): "
                  + ", ".join(f"{n} epochs **{s:.1f} s**" for n, s in est.items()) + ".", ""]
    lines += ["Rerun: `.venv/bin/python benchmarks/bench_cuda.py` on a machine with a CUDA GPU (about 3 min on "
              "an H100)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--parts", default="bundled,hub,medium")
    ap.add_argument("--medium-layers", type=int, default=48)
    ap.add_argument("--epochs", type=int, default=4, help="extra epochs timed for the per-epoch cost")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--minilm-standin", action="store_true", help="say in the report that MiniLM is a stand-in")
    args = ap.parse_args()
    dev = torch.device(args.device)
    res = {"machine": machine(dev), "date": time.strftime("%Y-%m-%d"), "minilm_standin": args.minilm_standin}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    parts = args.parts.split(",")
    for name in parts:
        t = time.perf_counter()
        if name == "bundled":
            res[name] = part_bundled(dev, args.repeats)
        elif name == "hub":
            res[name] = part_hub(dev)
        elif name == "medium":
            res[name] = part_medium(dev, args.medium_layers, args.epochs, args.repeats)
        print(f"{name}: {time.perf_counter() - t:.0f} s {json.dumps(res[name])}", flush=True)
        (out / "cuda.json").write_text(json.dumps(res, indent=1))
    text = render(res)
    (out / "cuda.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
