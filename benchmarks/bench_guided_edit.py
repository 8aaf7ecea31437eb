"""Does the importance-guided edit loop do what it is asked, where it is asked? (issue 17 item 3)

    python benchmarks/bench_guided_edit.py --split test --task none --n 5 --skip 0   # one part (about 8 min)
    python benchmarks/bench_guided_edit.py --split test --task none --n 5 --skip 5   # the next part
    python benchmarks/bench_guided_edit.py report     # guided_edit.md from every part's json
    python benchmarks/bench_guided_edit.py --n 1 --split dev --task none             # a smoke run

    python benchmarks/bench_guided_edit.py --rounds 3 --split test2 --task none --n 20   # the ≤ 3 rounds rows

Caption splits, disjoint: **dev** (world seeds from 60,000,000: the captions the loop was developed
and tuned on, the 5 + 5 of the first run), **test** (world seeds from 62,000,000, looked at only by the
final ≤ 2 rounds run) and **test2** (64,000,000: fresh captions for the ≤ 3 rounds run). Each part
writes results/guided_edit_parts/<split>_<task>_<skip>[_r<rounds>][_one_by_one].json; 20 captions per
task take about 2 min on 2 cores.

On held-out captions of the bundled world (world seeds from 60,000,000, never used in training; caption
strings not in resources/bundled/train_captions.txt.gz), with the bundled model, its default sampling,
5 s takes and seed = caption index; region R = 2.5-5.0 s, scored by the shipped event classifier on
3.3-5.0 s (the classifier sees about +-0.8 s, so the first 0.8 s of R would still hear the untouched
audio before it):

* **remove X from R** ("while" / "background" scenes: both events sound throughout): X = a caption
  event detected in R, the user's word = the prompt word naming X, spelled like it first ("dog",
  "rainfall", "knocks"; else e.g. "walks").
  Success: X no longer detected in R **and** every other event detected there before still detected.
* **make X present in R** ("then" scenes: X sounds in the first half only): X = the first event, when
  it is not detected in R. Success: X detected in R (also reported: the other events kept).

Each against the **manual baseline**: mute the word (weight 0) / boost it (weight 2) and regenerate the
whole clip with the same seed (what the app offered before). The loop: engine/guided_edit.py with
``--candidates`` per round and at most ``--rounds`` rounds, the classifier scorer, tail 'splice'.
Caveat: the judge is the same shipped classifier the loop scores with (no second judge exists for
this world), so the loop's lead over the manual edit is partly that it picks candidates by this
very measure; what it shows is that the loop finds an edit that passes within a few candidates.
Results: benchmarks/results/guided_edit.md (and .json).
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

SEED0 = 60_000_000
SPLIT_OFFSET = {"dev": 0, "test": 2_000_000, "test2": 4_000_000}
PARTS = ROOT / "benchmarks" / "results" / "guided_edit_parts"
REGION = (2.5, 5.0)
BOOST = 2.0


def target_word(words: list[str], event: str) -> str | None:
    """The prompt word a user would name for ``event``: one spelled like the event ("rainfall", "knocks",
    "whistle") before any other word that names it ("referee", "walks")."""
    from agx_desktop.engine.guided_edit import event_for_word, is_function_word
    names = [w.strip(".,;:!?").lower() for w in words]
    found = [w for w in names if w and not is_function_word(w) and event_for_word(w) == event]
    found.sort(key=lambda w: not w.startswith(event))
    return found[0] if found else None


def judge(clf, audio, span, target: str, before: dict, intent: str) -> dict:
    after = clf.event_probs(audio[0], span)
    guarded = [e for e, p in before.items() if p > 0.5 and e != target]
    kept = all(after[e] > 0.5 for e in guarded)
    hit = after[target] <= 0.5 if intent == "none" else after[target] > 0.5
    return {"target_ok": bool(hit), "kept": bool(kept), "success": bool(hit and (kept or intent == "more")),
            "p_before": round(before[target], 3), "p_after": round(after[target], 3)}


def run_part(a: argparse.Namespace) -> None:
    torch.set_num_threads(int(os.environ.get("AGX_BENCH_THREADS", "2")))
    from agx_desktop.engine.generation import generate, regenerate
    from agx_desktop.engine.guided_edit import WordIntent, guided_edit, scored_span
    from agx_desktop.engine.models import load_model

    load_before = os.getloadavg()
    m = load_model("bundled")
    clf = loader.load_classifier()
    seen = bb.train_captions()
    span = scored_span(REGION, 5.0)
    base = SEED0 + SPLIT_OFFSET[a.split]
    want = a.skip + a.n
    for earlier in list(SPLIT_OFFSET)[:list(SPLIT_OFFSET).index(a.split)]:  # no caption of an earlier split
        seen = seen | {sc.caption for off, rel in ((0, "while"), (500_000, "background"), (1_000_000, "then"))
                       for sc in bb.held_out(60 if earlier == "dev" else 120, SEED0 + SPLIT_OFFSET[earlier] + off, seen,
                                             relation=rel)}
    intent = a.task
    pool = (bb.held_out(6 * want, base, seen, relation="while") + bb.held_out(3 * want, base + 500_000, seen,
                                                                             relation="background")
            if intent == "none" else bb.held_out(6 * want, base + 1_000_000, seen, relation="then"))
    rows, skipped, usable = [], 0, 0
    started = time.perf_counter()
    for i, sc in enumerate(pool):
        if usable >= want:
            break
        params = m.default_params(duration=5.0, seed=i)
        take = generate(m, sc.caption, params)
        before = clf.event_probs(take.audio[0], span)
        if intent == "none":
            options = [e for e in sc.names if before[e] > 0.5]
        else:
            options = [sc.events[0].name] if before[sc.events[0].name] <= 0.5 else []
        picked = [(e, target_word(take.words, e)) for e in options]
        picked = [(e, w) for e, w in picked if w]
        if not picked:
            skipped += 1
            continue
        usable += 1
        if usable <= a.skip:
            continue
        event, word = picked[0]
        t0 = time.perf_counter()
        weights = [(0.0 if intent == "none" else BOOST) if w.strip(".,;:!?").lower() == word else 1.0
                   for w in take.words]
        manual = regenerate(m, take, "weighted", word_weights=weights)
        t_manual = time.perf_counter() - t0
        result = guided_edit(m, take, [WordIntent(word, intent)], region=REGION, candidates=a.candidates,
                             max_rounds=a.rounds, batch=not a.one_by_one)
        row = {"caption": sc.caption, "seed": i, "event": event, "word": word,
               "loop": {**judge(clf, result.best.take.audio, span, event, before, intent),
                        "met": result.met, "rounds": result.rounds_used, "seconds": round(result.seconds, 1),
                        "candidates": len(result.candidates), "label": result.best.label},
               "manual": {**judge(clf, manual.audio, span, event, before, intent), "seconds": round(t_manual, 1)}}
        rows.append(row)
        print(f"[{a.split} {intent} {usable}] {sc.caption!r} ({word}): loop "
              f"{'yes' if row['loop']['success'] else 'no'} in {row['loop']['rounds']} round(s) "
              f"{row['loop']['seconds']} s; manual {'yes' if row['manual']['success'] else 'no'}", flush=True)
    doc = {"split": a.split, "task": intent, "skip": a.skip, "batch": not a.one_by_one, "seed0": base, "region": list(REGION),
           "scored_span": list(span), "candidates": a.candidates, "rounds": a.rounds, "boost": BOOST,
           "threads": torch.get_num_threads(), "seconds": round(time.perf_counter() - started, 1),
           "skipped": skipped if a.skip == 0 else None, "load_before": [round(x, 2) for x in load_before],
           "load_after": [round(x, 2) for x in os.getloadavg()], "rows": rows}
    PARTS.mkdir(parents=True, exist_ok=True)
    rounds_tag = "" if a.rounds == 2 else f"_r{a.rounds}"
    out = PARTS / f"{a.split}_{intent}_{a.skip}{rounds_tag}{'_one_by_one' if a.one_by_one else ''}.json"
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    return {"n": n,
            **{f"{who}_{k}": sum(r[who][k] for r in rows) for who in ("loop", "manual")
               for k in ("success", "target_ok", "kept")},
            "loop_rounds_mean": round(sum(r["loop"]["rounds"] for r in rows) / max(n, 1), 2),
            "loop_seconds_mean": round(sum(r["loop"]["seconds"] for r in rows) / max(n, 1), 1),
            "manual_seconds_mean": round(sum(r["manual"]["seconds"] for r in rows) / max(n, 1), 1)}


def report(out: pathlib.Path) -> None:
    """guided_edit.md (and .json): the first run's figures (before) and every part of this loop (after)."""
    first = json.loads((out.parent / "guided_edit_v1.json").read_text(encoding="utf-8"))
    parts = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(PARTS.glob("*.json"))]
    groups: dict[tuple[str, str, int], list[dict]] = {}
    settings = set()
    one_by_one = [doc for doc in parts if not doc.get("batch", True)]
    for doc in parts:
        if doc.get("batch", True):
            groups.setdefault((doc["split"], doc["task"], doc["rounds"]), []).extend(doc["rows"])
            settings.add((doc["candidates"], doc["rounds"]))

    def frac(k: int, n: int) -> str:
        return f"{k}/{n} ({100 * k / n:.0f}%)" if n else "-"

    def line(label: str, s: dict) -> str:
        n = s["n"]
        return (f"| {label} | {n} | {frac(s['loop_success'], n)} | {frac(s['manual_success'], n)} | "
                f"{frac(s['loop_target_ok'], n)} | {frac(s['manual_target_ok'], n)} | {frac(s['loop_kept'], n)} | "
                f"{frac(s['manual_kept'], n)} | {s['loop_rounds_mean']} | {s['loop_seconds_mean']} | "
                f"{s['manual_seconds_mean']} |")

    names = {"none": "remove X from R", "more": "make X present in R"}
    summary = {}
    lines = [
        "# Importance-guided edit, closed loop, vs the manual edit (bundled model)",
        "",
        f"Held-out captions of the bundled world (not in the training captions), 5 s takes, region {REGION[0]}–"
        f"{REGION[1]} s scored by the shipped classifier on 3.3–5.0 s. Success: remove — X no longer detected "
        "in R and every other event detected there before still detected; present — X detected in R. Manual: "
        f"the word muted (remove) or ×{BOOST:g} (present), whole clip regenerated with the same seed. Targets "
        "from the issue: remove ≥ 90%, present ≥ 80%. The judge is the classifier the loop scores with (no "
        "second judge exists for this world): the loop picks by this very measure.",
        "",
        "Splits: **dev** = world seeds from 60,000,000 (the captions the loop was developed on: the first run's "
        "5 + 5, whose failures shaped this loop's 'keep the others' variant); **test** = world seeds from "
        "62,000,000, run once with the loop as committed, not tuned on; **test2** = world seeds from 64,000,000, "
        "fresh captions for the ≤ 3 rounds setting (chosen before any run with it: the engine's default "
        "max_rounds), since test had been seen by then.",
        "",
        "| run | n | loop: success | manual: success | loop: target met | manual: target met | loop: others kept "
        "| manual: others kept | loop rounds (mean) | loop s (mean) | manual s (mean) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for task in ("none", "more"):
        s = first["summary"][task]
        lines.append(line(f"{names[task]} — before (first loop: one candidate at a time, "
                          f"{first['candidates']} per round, ≤ {first['rounds']} rounds), dev", s))
        for (split, task_, rounds) in sorted(groups, key=lambda k: (k[2], list(SPLIT_OFFSET).index(k[0]))):
            if task_ != task:
                continue
            key = f"{split}_{task}" + ("" if rounds == 2 else f"_r{rounds}")
            summary[key] = summarise(groups[(split, task, rounds)])
            lines.append(line(f"{names[task]} — after (batched round, ≤ {rounds} rounds), {split}", summary[key]))
    lines += ["", "Reading: 20 captions per split, so one caption is 5 points. Remove X met the issue's ≥ 90 % on test2 "
              "(≤ 3 rounds) but not on test (≤ 2 rounds); both held-out splits together 35/40 (88 %). The manual "
              "edit's share moves as much between splits (12/20, 16/20). The dev rows of ≤ 2 rounds ran at 8-9 s "
              "per loop under other load; the same captions took 2.1 s with ≤ 3 rounds minutes later."]
    if one_by_one:
        lines += ["", "What the batch saves (the same test captions and candidates; only how they go through the LM):",
                  "", "| captions | n | loop s (mean), one LM batch per round | loop s (mean), one LM run per "
                  "candidate | same outcome |", "|---|---|---|---|---|"]
        batch_rows = {(d["split"], d["task"], r["caption"]): r for d in parts if d.get("batch", True) for r in d["rows"]}
        for doc in one_by_one:
            pairs = [(batch_rows[(doc["split"], doc["task"], r["caption"])], r) for r in doc["rows"]
                     if (doc["split"], doc["task"], r["caption"]) in batch_rows]
            if not pairs:
                continue
            fast = sum(a["loop"]["seconds"] for a, _ in pairs) / len(pairs)
            slow = sum(b["loop"]["seconds"] for _, b in pairs) / len(pairs)
            same = sum(a["loop"]["success"] == b["loop"]["success"] for a, b in pairs)
            summary[f"seconds_{doc['split']}_{doc['task']}"] = {"n": len(pairs), "batch": round(fast, 2),
                                                                "one_by_one": round(slow, 2), "same_outcome": same}
            lines.append(f"| {doc['split']}, {names[doc['task']]} | {len(pairs)} | {fast:.1f} | {slow:.1f} | "
                         f"{same}/{len(pairs)} |")
    lines += [
        "",
        "After: " + "; ".join(f"{c} candidates per round (one LM batch), at most {r} rounds" for c, r in sorted(settings))
        + ", classifier scorer, tail splice. Loop seconds include explaining, regenerating and scoring.",
        "",
        "Parts (load average before → after, from other processes too):",
    ]
    for doc in parts:
        lines.append(f"- {doc['split']} {doc['task']} from #{doc['skip']}"
                     f"{'' if doc.get('batch', True) else ' (one LM run per candidate)'}: {len(doc['rows'])} captions, "
                     f"{doc['seconds']:.0f} s on {doc['threads']} thread(s), load {doc['load_before'][0]} → "
                     f"{doc['load_after'][0]}")
    lines += [
        "",
        "Rerun: `python benchmarks/bench_guided_edit.py --split test --task none --n 5 --skip 0` (and --skip 5, "
        "--task more), then `python benchmarks/bench_guided_edit.py report`; per-caption rows in "
        "guided_edit_parts/*.json; the first run's rows in guided_edit_v1.json.",
    ]
    out.with_suffix(".json").write_text(json.dumps({"before": first["summary"], "after": summary}, indent=1) + "\n",
                                        encoding="utf-8")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", nargs="?", default="run", choices=["run", "report"])
    ap.add_argument("--split", choices=list(SPLIT_OFFSET), default="test")
    ap.add_argument("--task", choices=["none", "more"], default="none")
    ap.add_argument("--n", type=int, default=5, help="captions in this part")
    ap.add_argument("--skip", type=int, default=0, help="usable captions of the split to leave out first")
    ap.add_argument("--candidates", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--one-by-one", action="store_true",
                    help="regenerate each candidate in its own LM run (to measure what the batch saves)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "guided_edit.md"))
    a = ap.parse_args()
    if a.command == "report":
        report(pathlib.Path(a.out))
    else:
        run_part(a)


if __name__ == "__main__":
    main()
