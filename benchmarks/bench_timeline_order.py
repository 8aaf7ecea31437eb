"""Does a prompt timeline hold the order of two events where one "X then Y" prompt does not? (issue 17 item 2)

    python benchmarks/bench_timeline_order.py              # 16 pairs, about 4 min on 2 cores
    python benchmarks/bench_timeline_order.py --pairs 8    # a smoke run

On held-out two-event "X then Y" scenes of the bundled world (world seeds 50,000,000 on, never
used in training; caption strings not in resources/bundled/train_captions.txt.gz), each pair of
event phrases is generated three ways with the bundled model, the same seed and its default
sampling, 5 s:

  * **timeline**: "0-2.5 s: X", "2.5-5 s: Y" (engine/timeline.py, per-step conditioning);
  * **one prompt "X then Y"**: the two phrases joined by " then " (the training templates' connective);
  * **one prompt as typed**: the held-out caption itself (" then ", ", then ", " followed by ",
    " and then ", " before ").

The shipped event classifier scores each take. **Strict order**: only X detected before the
boundary and only Y after it, with the world's margins (before 2.1 s / after 2.9 s: the world's own
scenes switch between 2.1 and 2.9 s and the classifier sees about +-0.8 s), as bench_bundled.py
measures it; also at the halves (0-2.5 / 2.5-5 s) and loosely (X in the first half and Y in the
second, others allowed), and how often both events sound in both halves.
Results: benchmarks/results/timeline_order.md (and .json).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_bundled as bb  # noqa: E402
from agx_desktop.engine.bundled import loader  # noqa: E402

JOINS = (", then ", " and then ", " followed by ", " before ", " then ")  # longest first where they overlap
SEED0 = 50_000_000
BOUNDARY = 2.5


def split_caption(caption: str) -> tuple[str, str] | None:
    """("X phrase", "Y phrase") of a world "X <join> Y" caption, or None."""
    low = caption.lower()
    for join in JOINS:
        i = low.find(join)
        if i > 0:
            return caption[:i].strip(), caption[i + len(join):].strip()
    return None


def score(clf, audio, x: str, y: str) -> dict:
    early, late = bb.EARLY, bb.LATE
    d_early = set(clf.detect(audio, interval=(0.0, early)))
    d_late = set(clf.detect(audio, interval=(late, 2 * bb.HALF)))
    d1 = set(clf.detect(audio, interval=(0.0, BOUNDARY)))
    d2 = set(clf.detect(audio, interval=(BOUNDARY, 2 * bb.HALF)))
    return {
        "strict": x in d_early and y not in d_early and y in d_late and x not in d_late,
        "strict_halves": d1 & {x, y} == {x} and d2 & {x, y} == {y},
        "loose": x in d1 and y in d2,
        "both_in_both_halves": {x, y} <= d1 and {x, y} <= d2,
        "x_first_only": x in d_early and y not in d_early,
        "y_last_only": y in d_late and x not in d_late,
        "x_after": x in d_late,
        "y_after": y in d_late,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "timeline_order.md"))
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("AGX_BENCH_THREADS", "2")))
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.timeline import Segment, generate_timeline

    m = load_model("bundled")
    clf = loader.load_classifier()
    seen = bb.train_captions()
    scenes = [sc for sc in bb.held_out(a.pairs * 2, SEED0, seen, relation="then") if split_caption(sc.caption)]
    scenes = scenes[:a.pairs]
    conditions = ("timeline", "one prompt: X then Y", "one prompt: as typed")
    rows: dict[str, list[dict]] = {c: [] for c in conditions}
    examples = []
    started = time.perf_counter()
    for i, sc in enumerate(scenes):
        x, y = sc.events[0].name, sc.events[1].name
        px, py = split_caption(sc.caption)
        params = m.default_params(duration=2 * bb.HALF, seed=i)
        takes = {
            "timeline": generate_timeline(m, [Segment(0.0, BOUNDARY, px), Segment(BOUNDARY, 2 * bb.HALF, py)], params),
            "one prompt: X then Y": generate(m, f"{px} then {py}", params),
            "one prompt: as typed": generate(m, sc.caption, params),
        }
        for c, take in takes.items():
            rows[c].append(score(clf, take.audio[0], x, y))
        examples.append({"caption": sc.caption, "x": x, "y": y, "seed": i,
                         **{c: rows[c][-1]["strict"] for c in conditions}})
        print(f"[{i + 1}/{len(scenes)}] {sc.caption!r}: " +
              ", ".join(f"{c}={'yes' if rows[c][-1]['strict'] else 'no'}" for c in conditions), flush=True)
    seconds = time.perf_counter() - started
    n = len(scenes)
    keys = ("strict", "strict_halves", "loose", "x_first_only", "y_last_only", "y_after", "x_after",
            "both_in_both_halves")
    summary = {c: {k: sum(r[k] for r in rows[c]) for k in keys} for c in conditions}
    doc = {"pairs": n, "seed0": SEED0, "boundary_s": BOUNDARY, "early_late_s": [bb.EARLY, bb.LATE],
           "sampling": m.default_params().to_dict(), "seconds": round(seconds, 1),
           "threads": torch.get_num_threads(), "counts": summary, "examples": examples}
    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    head = ("| | strict order (only X < 2.1 s, only Y > 2.9 s) | strict at the halves | X first half & Y second "
            "| only X at the start | only Y at the end | Y after 2.9 s | X still after 2.9 s | both events in both halves |")
    lines = [
        "# Order of two events: prompt timeline vs one prompt (bundled model)",
        "",
        f"{n} held-out two-event scenes of the bundled world (world seeds from {SEED0:,}, captions not in the "
        "training set), each generated three ways with the same seed and the model's default sampling "
        f"(top-k {m.default_params().top_k}, temperature {m.default_params().temperature:g}, cfg "
        f"{m.default_params().cfg_coef:g}), 5 s; scored by the shipped event classifier "
        "(engine/bundled/classifier.py). Timeline: \"0-2.5 s: X\", \"2.5-5 s: Y\" (engine/timeline.py). "
        "\"X then Y\": the two phrases joined by \" then \". As typed: the held-out caption with its own "
        "connective (then / , then / followed by / and then / before).",
        "",
        head,
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in conditions:
        s = summary[c]
        lines.append(f"| {c} | " + " | ".join(f"{s[k]}/{n} ({100 * s[k] / n:.0f}%)" for k in keys) + " |")
    lines += [
        "",
        f"Strict order is bench_bundled.py's rule (the world's scenes switch between {bb.EARLY} and {bb.LATE} s; "
        "the classifier sees about +-0.8 s around each frame). Wall time "
        f"{seconds:.0f} s for {3 * n} takes on {torch.get_num_threads()} thread(s).",
        "",
        "Rerun: `python benchmarks/bench_timeline_order.py [--pairs N]` (AGX_BENCH_THREADS sets the threads); "
        "per-pair results in timeline_order.json.",
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
