"""Export loudness as meters read the written files: target vs measured LUFS and true peak.

Exports takes of the bundled model (impulsive events: barks, knocks, steps, thunder, bells) and a
few synthetic signals at -14, -16 and -23 LUFS (24-bit, 48 kHz, true-peak ceiling -1 dBTP) through
:func:`agx_desktop.engine.delivery.export.export_wav` — the function the app and ``agx export``
call — then measures each written file with pyloudnorm (decoded file) and ffmpeg's ebur128 filter
(``ebur128=peak=true``: its own K-weighting and a 192 kHz true-peak meter). For comparison, the
"old" column is what the previous export reached: the same gain, capped where the sample peak hit
full scale, no limiter. Writes ``benchmarks/results/export_loudness.md``.

    .venv/bin/python benchmarks/bench_export_loudness.py [--takes 8] [--duration 3] [--targets -14,-16,-23]
"""
from __future__ import annotations

import argparse
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyloudnorm as pyln
import soundfile as sf

from agx_desktop.engine.audio import resample
from agx_desktop.engine.delivery import loudness
from agx_desktop.engine.delivery.export import ExportOptions, export_wav
from agx_desktop.engine.delivery.loudness import MAX_LIMIT_DB

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a dog barks", "someone knocks on a door", "footsteps on a wooden floor", "thunder rumbles",
           "a bell rings", "a clock ticks", "a dog barks then a bell rings", "a loud knock then footsteps",
           "rain falls with thunder in the background", "a whistle blows twice"]


def synthetic(sr: int = 16000, seconds: float = 3.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n = int(sr * seconds)

    def bursts(decay: float) -> np.ndarray:
        x = 0.003 * rng.standard_normal(n)
        for start in (0.2, 1.1, 2.3):
            i = int(start * sr)
            k = np.arange(min(int(0.5 * sr), n - i))
            x[i:i + k.size] += rng.standard_normal(k.size) * np.exp(-k / (decay * sr))
        return (x / np.abs(x).max()).astype(np.float32)[None]
    t = np.arange(n) / sr
    return {"bursts 60 ms": bursts(0.06), "bursts 120 ms": bursts(0.12), "bursts 250 ms": bursts(0.25),
            "clicks 10 ms": bursts(0.01), "sine 997 Hz": (0.05 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)[None],
            "noise": (0.05 * rng.standard_normal(n)).astype(np.float32)[None]}


def ffmpeg_meter(path: Path) -> tuple[float, float] | None:
    if shutil.which("ffmpeg") is None:
        return None
    err = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", str(path), "-filter_complex",
                          "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True).stderr
    summary = err[err.rindex("Summary:"):]
    return (float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1)),
            float(re.search(r"Peak:\s+(-?[\d.inf]+) dBFS", summary).group(1)))


def old_export_lufs(audio: np.ndarray, sr: int, rate: int, target: float) -> float | None:
    """What the export before this change reached: gain to the target, capped at a 0.999 sample peak."""
    data = resample(audio, sr, rate)
    before = loudness.integrated_lufs(data, rate)
    if before is None:
        return None
    gain = 10 ** ((target - before) / 20)
    peak = float(np.abs(data).max())
    if peak * gain > 0.999:
        gain = 0.999 / peak
    return loudness.integrated_lufs(data * gain, rate)


def take_like(name: str, audio: np.ndarray, sr: int) -> SimpleNamespace:
    from agx_desktop.engine.take import GenerationParams
    return SimpleNamespace(audio=audio, sample_rate=sr, prompt=name, model_id="synthetic", kind="original",
                           params=GenerationParams(duration=audio.shape[-1] / sr), word_weights=None, id="synthetic",
                           created="2026-01-01T00:00:00+00:00", parent=None, duration=audio.shape[-1] / sr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--takes", type=int, default=8, help="bundled-model takes (0: synthetic signals only)")
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--targets", default="-14,-16,-23")
    ap.add_argument("--rate", type=int, default=48000)
    ap.add_argument("--max-limit", default="12,24", help="limiting caps to compare (dB; the first is the default)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/export_loudness.md"))
    args = ap.parse_args()
    targets = [float(t) for t in args.targets.split(",")]
    caps = [float(c) for c in args.max_limit.split(",")]

    items: list[tuple[str, object]] = []
    if args.takes:
        from agx_desktop.engine.generation import generate
        from agx_desktop.engine.models import load_model
        model = load_model("bundled")
        for i, prompt in enumerate((PROMPTS * 3)[:args.takes]):
            take = generate(model, prompt, model.default_params(duration=args.duration, seed=i))
            items.append((f"bundled: {prompt} (seed {i})", take))
    for name, audio in synthetic().items():
        items.append((f"synthetic: {name}", take_like(name, audio, 16000)))

    rows, t0 = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for cap, name, take, target in ((c, n, t, g) for c in caps for n, t in items for g in targets):
            path = Path(tmp) / "x.wav"
            start = time.perf_counter()
            result = export_wav(take, path, ExportOptions(lufs=target, true_peak=-1.0, sample_rate=args.rate,
                                                          max_limit=cap))
            seconds = time.perf_counter() - start
            data, sr = sf.read(str(path), always_2d=True)
            meter = float(pyln.Meter(sr).integrated_loudness(data))
            ff = ffmpeg_meter(path)
            rows.append(dict(cap=cap, name=name, target=target, before=result.loudness.before_lufs,
                             old=old_export_lufs(take.audio, take.sample_rate, args.rate, target),
                             pyln=meter, ff_i=ff[0] if ff else None, ff_tp=ff[1] if ff else None,
                             tp=result.loudness.true_peak, limited=result.loudness.limited_db,
                             reached=result.loudness.reached, message=result.message, seconds=seconds))
            print(f"cap {cap:g} {name:55s} {target:6.1f} -> {result.message}")

    def fmt(v: float | None, d: int = 1) -> str:  # noqa: E306
        return "–" if v is None or not np.isfinite(v) else f"{v:.{d}f}"
    lines = [
        "# Export loudness: target vs what meters read on the written files",
        "",
        f"`benchmarks/bench_export_loudness.py --takes {args.takes} --duration {args.duration:g} --targets "
        f"{args.targets} --max-limit {args.max_limit}` — {len(items)} signals × {len(targets)} targets, 24-bit "
        f"{args.rate} Hz, true-peak ceiling -1 dBTP; {platform.platform()}, {time.strftime('%Y-%m-%d')}, "
        f"{time.perf_counter() - t0:.0f} s in all. \"old export\": the gain the previous export applied (capped where "
        "the sample peak hit full scale, no limiter), measured the same way.",
    ]
    for cap in caps:
        part = [r for r in rows if r["cap"] == cap]
        within_py = sum(abs(r["pyln"] - r["target"]) <= 0.5 for r in part)
        within_ff = sum(r["ff_i"] is not None and abs(r["ff_i"] - r["target"]) <= 0.5 for r in part)
        old_within = sum(r["old"] is not None and abs(r["old"] - r["target"]) <= 0.5 for r in part)
        stopped = [r for r in part if not r["reached"]]
        ff_tps = [r["ff_tp"] for r in part if r["ff_tp"] is not None]
        by_target = ", ".join(f"{t:g}: {sum(abs(r['pyln'] - t) <= 0.5 for r in part if r['target'] == t)}/"
                              f"{sum(r['target'] == t for r in part)}" for t in targets)
        lines += [
            "",
            f"## At most {cap:g} dB of limiting" + (" (the default)" if cap == MAX_LIMIT_DB else ""),
            "",
            f"- **within ±0.5 LU of the target**: pyloudnorm {within_py}/{len(part)}, ffmpeg ebur128 "
            f"{within_ff}/{len(part)} (by target: {by_target}); the previous export: {old_within}/{len(part)}",
            f"- **true peak (ffmpeg, 192 kHz)**: at most {fmt(max(ff_tps) if ff_tps else None)} dBTP over all files "
            "(ceiling -1.0)",
            f"- **stopped short** (the target needs more limiting than the cap; the message says so): "
            f"{len(stopped)}/{len(part)}" + (": " + "; ".join(f"{r['name']} at {r['target']:g} → {fmt(r['pyln'])}"
                                                          for r in stopped) if stopped else ""),
            f"- limiting when applied: median {fmt(statistics.median([r['limited'] for r in part if r['limited'] > 0.05] or [0]))} dB; "
            f"export time median {statistics.median(r['seconds'] for r in part):.2f} s per file",
            "",
            "| signal | target | before | old export | pyloudnorm | ffmpeg I | ffmpeg TP | our TP | limited dB | message |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in part:
            lines.append(f"| {r['name']} | {r['target']:g} | {fmt(r['before'])} | {fmt(r['old'])} | {fmt(r['pyln'])} | "
                         f"{fmt(r['ff_i'])} | {fmt(r['ff_tp'])} | {fmt(r['tp'], 2)} | {fmt(r['limited'])} | "
                         f"{r['message']} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(line for line in lines if line.startswith(("#", "- "))))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
