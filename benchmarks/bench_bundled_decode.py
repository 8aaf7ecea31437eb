"""The bundled codec's Griffin-Lim decoder: iterations and starting phase against quality (issue 20 item 3a).

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_bundled_decode.py [--captions 24]

For held-out captions of the bundled world (benchmarks/results/heldout_captions.txt, from line 40 on:
the live-map comparison uses the first ones), one take each (5 s, seed 500 + i); each decoder setting
decodes the take's codes and is scored by
  * spectral convergence ``‖|STFT(x)| − M‖ / ‖M‖`` against the magnitude M the decoder is asked for
    (lower is better; 32 iterations from a random phase is the old decoder);
  * the bundled event classifier (engine/bundled/classifier.py): the events it detects (p > 0.5) equal
    the old decoder's, and the largest change of any event's clip probability;
  * seconds per decode (median, 1 thread).
Writes benchmarks/results/bundled_decode.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("AGX_THREADS", "1")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

import numpy as np  # noqa: E402
import torch  # noqa: E402

from agx_desktop.engine.bundled import codec as C  # noqa: E402
from agx_desktop.engine.bundled.loader import load_classifier  # noqa: E402
from agx_desktop.engine.generation import generate  # noqa: E402
from agx_desktop.engine.models import load_model  # noqa: E402

SETTINGS = [(32, "random"), (24, "random"), (16, "random"), (12, "random"), (8, "random"),
            (32, "advance"), (24, "advance"), (16, "advance"), (12, "advance"), (8, "advance")]


def magnitude(codec: C.MelKMeansCodec, codes: torch.Tensor) -> torch.Tensor:
    """The STFT magnitude the decoder is asked for (as mel_to_audio builds it)."""
    lm = codec.decode_latent(codes.unsqueeze(0)).transpose(1, 2)
    fr = lm.shape[-1]
    up = torch.nn.functional.interpolate(lm, size=fr * C.POOL, mode="linear", align_corners=False)
    up = torch.nn.functional.pad(up, (0, 1), mode="replicate")
    return torch.sqrt(torch.matmul(codec.fb_pinv, torch.exp(up).clamp_min(0)).clamp_min(0))


def convergence(wav: torch.Tensor, mag: torch.Tensor) -> float:
    spec = torch.stft(wav, C.N_FFT, C.STFT_HOP, window=C._window(wav.device), center=True, return_complex=True).abs()
    return float((spec - mag).norm() / mag.norm())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--captions", type=int, default=24)
    args = ap.parse_args()
    torch.set_num_threads(1)
    load = [os.getloadavg()[0]]
    model = load_model("bundled")
    codec = model.compression_model
    clf = load_classifier()
    captions = (RESULTS / "heldout_captions.txt").read_text().splitlines()[40:40 + args.captions]
    rows = {f"{n}/{i}": {"conv": [], "same_events": 0, "max_dp": [], "seconds": []} for n, i in SETTINGS}
    for ci, caption in enumerate(captions):
        take = generate(model, caption, model.default_params(duration=5.0, seed=500 + ci))
        mag = magnitude(codec, take.codes)
        ref_probs = None
        for n_iter, init in SETTINGS:
            times = []
            for _ in range(3):
                t = time.perf_counter()
                with torch.inference_mode():
                    wav = C.griffin_lim(mag, n_iter=n_iter, length=take.codes.shape[-1] * C.HOP, init=init)
                times.append(time.perf_counter() - t)
            probs = clf.event_probs(wav[0].numpy())
            if ref_probs is None:  # the first setting is the old decoder
                ref_probs = probs
                assert np.array_equal(wav[0].numpy(), take.audio[0]), "the old decoder is not what generate used"
            row = rows[f"{n_iter}/{init}"]
            row["conv"].append(convergence(wav, mag))
            row["same_events"] += int({e for e, p in probs.items() if p > 0.5} ==
                                      {e for e, p in ref_probs.items() if p > 0.5})
            row["max_dp"].append(max(abs(probs[e] - ref_probs[e]) for e in probs))
            row["seconds"].append(statistics.median(times))
        print(ci, caption[:50], {k: round(v["conv"][-1], 3) for k, v in rows.items()}, flush=True)
    load.append(os.getloadavg()[0])
    summary = {k: {"conv_mean": float(np.mean(v["conv"])), "conv_median": float(np.median(v["conv"])),
                   "conv_worse_than_old": int(sum(a > b for a, b in zip(v["conv"], rows["32/random"]["conv"]))),
                   "same_events": v["same_events"], "max_dp_mean": float(np.mean(v["max_dp"])),
                   "max_dp_max": float(np.max(v["max_dp"])), "seconds": float(np.median(v["seconds"]))}
               for k, v in rows.items()}
    out = {"captions": len(captions), "load": load, "settings": summary, "per_caption": rows}
    (RESULTS / "bundled_decode.json").write_text(json.dumps(out, indent=1))
    lines = [f"# Bundled codec decoder: Griffin-Lim iterations and start ({len(captions)} held-out captions, "
             f"5 s takes, 1 thread; load average (1 min) {load[0]:.1f} → {load[1]:.1f} on {os.cpu_count()} cores)",
             "", "Rerun: `flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/bench_bundled_decode.py`", "",
             "| iterations / start | spectral convergence mean (median) | worse than 32/random | same events as 32/random "
             "| max Δp mean (max) | s per decode |", "|---|---|---|---|---|---|"]
    for k, v in summary.items():
        lines.append(f"| {k} | {v['conv_mean']:.4f} ({v['conv_median']:.4f}) | {v['conv_worse_than_old']}/{len(captions)} "
                     f"| {v['same_events']}/{len(captions)} | {v['max_dp_mean']:.3f} ({v['max_dp_max']:.3f}) "
                     f"| {v['seconds']:.3f} |")
    (RESULTS / "bundled_decode.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
