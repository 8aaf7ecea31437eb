"""AudioGenX per mode on the bundled model (issue 18 items 3 and 5), one command each:

    .venv/bin/python benchmarks/bench_faithfulness.py table1  [--captions 2] [--epochs 50] [--samples 5]
    .venv/bin/python benchmarks/bench_faithfulness.py heldout [--per-form 1] [--part dev|test|all]

``table1``: Table 1 (Fid/KL factual and counterfactual, size) on held-out captions of the bundled
world (``protocol.write_heldout_world_captions``: absent from the training captions), for every
AudioGenX mode (quick, fast, paper, reference-code with its sampled mask, reference-code with p)
and BOTH KL directions from the same samples: same takes, same explanation seed, same sampling
seed, so the rows differ only by the mode. Default 2 captions x 50 epochs, ~10 min on a busy
2-core machine (reference-code's per-step passes dominate: ~2 min per take).

``heldout``: does the explanation name the event? Captions of the bundled world written here in
forms the training templates never use (other connectives, word orders, carrier phrases,
punctuation, synonyms). ``dev`` forms were looked at while writing this; ``test`` forms were run
once at the end. Single-event captions: is the top word one of the event's own words — among all
words (the paper's ranking) and among content words only (:mod:`agx_desktop.engine.word_kinds`, the
view that lists function words apart)? Two-event sequential captions: the explanation of each half
of the clip (interval importance, paper Eq. 7 over that half's steps), the same two readings,
counted only on takes whose event classifier confirms the order (first event louder in the first
half, the second in the second). Default mode quick, as the app.

Results: benchmarks/results/faithfulness_table1.{json,md}, benchmarks/results/heldout_words.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
MODES = {  # row name -> AudioGenX settings
    "quick": {"mode": "quick"},
    "fast": {"mode": "fast"},
    "paper": {"mode": "paper"},
    "reference-code": {"mode": "reference-code"},  # mask_used = sample (its default)
    "reference-code (p)": {"mode": "reference-code", "mask_used": "p"},
}

# ----------------------------------------------------------------------------- held-out phrasings

#: event -> (noun phrases, verb phrases, synonyms counted as own words): words the templates use
#: and a few they never do.
EVENT_PHRASES = {  # nouns, (gerund, third person), synonyms
    "dog": (["a dog", "the puppy", "a hound"], ["barking", "barks"], ["hound", "woof"]),
    "bell": (["a bell", "the church bell"], ["ringing", "chimes"], ["chime", "ding", "dong"]),
    "siren": (["a siren", "an ambulance siren"], ["wailing", "blares"], ["sirens"]),
    "rain": (["rain", "a downpour"], ["falling", "pours"], ["downpour", "drizzle"]),
    "thunder": (["thunder", "a thunderstorm"], ["rumbling", "crashes"], ["storm"]),
    "bird": (["a bird", "a songbird"], ["chirping", "sings"], ["songbird", "birdsong", "tweeting"]),
    "clock": (["a clock", "the old wall clock"], ["ticking", "ticks"], ["tick", "tock"]),
    "engine": (["an engine", "a car motor"], ["idling", "rumbles"], ["idle", "motor"]),
    "whistle": (["a whistle", "the referee's whistle"], ["shrilling", "shrills"], ["referee's", "shrill"]),
    "wind": (["wind", "a gusty wind"], ["howling", "blows"], ["breeze", "gust"]),
}

SINGLE_FORMS = {
    "dev": ["the sound of {n} {g}", "you can hear {n} {g}!", "{n} {v} -- nothing else", "listen: {n} {g}"],
    "test": ["somewhere far off, {n} {v}.", "recording of {n} {g}, outdoors", "{N}, {g} on and on",
             "just {n} {g}..."],
}
TWO_FORMS = {  # {A} happens first, {B} second
    "dev": ["{A}, and afterwards {B}", "first {A}; later {B}", "{A} -- followed by {B}"],
    "test": ["{B}, but only after {A}", "{A}. Next: {B}.", "to begin, {A}, and in the end {B}"],
}


def _phrase(event: str, k: int) -> str:
    nouns, verbs, _ = EVENT_PHRASES[event]
    return f"{nouns[k % len(nouns)]} {verbs[0]}"


def own_words(event: str) -> set[str]:
    from agx_desktop.engine.bundled import world
    from agx_desktop.engine.word_kinds import normalise
    ev = world.EVENTS[world.EVENT_INDEX[event]]
    words = set(ev.words) | set(EVENT_PHRASES[event][2])
    for np_ in EVENT_PHRASES[event][0] + EVENT_PHRASES[event][1]:
        words |= {normalise(w) for w in np_.split()} - {"a", "an", "the", "of", "old", "wall", "car", "gusty"}
    return words


def heldout_captions(part: str, per_form: int) -> list[dict]:
    """Deterministic caption list: single-event and two-event, each with its events in time order."""
    rng = np.random.default_rng(18)
    events = list(EVENT_PHRASES)
    out: list[dict] = []
    parts = ["dev", "test"] if part == "all" else [part]
    for p in parts:
        for form in SINGLE_FORMS[p]:
            for k in range(per_form):
                ev = events[int(rng.integers(len(events)))]
                nouns, verbs, _ = EVENT_PHRASES[ev]
                n = nouns[int(rng.integers(len(nouns)))]
                out.append({"part": p, "kind": "single", "form": form, "events": [ev],
                            "caption": form.format(n=n, g=verbs[0], v=verbs[1], N=n[0].upper() + n[1:])})
        for form in TWO_FORMS[p]:
            for k in range(per_form):
                a, b = (events[int(i)] for i in rng.choice(len(events), 2, replace=False))
                out.append({"part": p, "kind": "two", "form": form, "events": [a, b],
                            "caption": form.format(A=_phrase(a, int(rng.integers(6))), B=_phrase(b, int(rng.integers(6))))})
    return out


def _top(words: list[str], scores: np.ndarray, content_only: bool) -> str:
    from agx_desktop.engine.word_kinds import classify_scores, normalise
    kinds = classify_scores(words, scores)
    ranked = kinds.content if content_only else sorted(kinds.words, key=lambda w: w.rank)
    return normalise(ranked[0].word) if ranked else ""


def run_heldout(args: argparse.Namespace) -> None:
    from agx_desktop.engine.bundled.loader import load_classifier
    from agx_desktop.engine.bundled import world
    from agx_desktop.engine.audio import resample
    from agx_desktop.engine.explain import explain
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.take import GenerationParams

    model, clf = load_model("bundled"), load_classifier("cpu")
    rows = []
    for i, item in enumerate(heldout_captions(args.part, args.per_form)):
        t0 = time.time()
        take = generate(model, item["caption"], GenerationParams(seed=100 + i))
        ex = explain(model, take, mode=args.mode, seed=0)
        words, d = ex.words, ex.duration
        row = dict(item, words=words, seconds=0.0)
        if item["kind"] == "single":
            own = own_words(item["events"][0])
            scores = ex.word_importance()
            row.update(paper=_top(words, scores, False) in own, content=_top(words, scores, True) in own,
                       importance=[round(float(s), 3) for s in scores])
        else:
            frames = clf.frame_probs(resample(take.audio, model.sample_rate, 16000))[0]  # [events, frames]
            half = frames.shape[1] // 2
            a, b = (world.EVENT_INDEX[e] for e in item["events"])
            row["order_confirmed"] = bool(frames[a, :half].mean() > frames[a, half:].mean()
                                          and frames[b, half:].mean() > frames[b, :half].mean())
            for name, interval, ev in (("first", (0.0, d / 2), item["events"][0]),
                                       ("second", (d / 2, d), item["events"][1])):
                scores = ex.word_importance(interval)
                row[f"{name}_paper"] = _top(words, scores, False) in own_words(ev)
                row[f"{name}_content"] = _top(words, scores, True) in own_words(ev)
                row[f"{name}_importance"] = [round(float(s), 3) for s in scores]
        row["seconds"] = round(time.time() - t0, 1)
        rows.append(row)
        print(json.dumps({k: row[k] for k in row if not k.endswith("importance")}), flush=True)
    _write_heldout(rows, args)


def _rate(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)} ({100 * sum(flags) / max(len(flags), 1):.0f}%)" if flags else "-"


def _write_heldout(rows: list[dict], args: argparse.Namespace) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "heldout_words.json").write_text(json.dumps({"mode": args.mode, "rows": rows}, indent=1))
    lines = [f"# Does the explanation name the event? (`bench_faithfulness.py heldout`, mode {args.mode})", "",
             "Captions of the bundled world in forms its training templates never use; dev forms were seen while "
             "writing them, test forms run once at the end. paper = top word among all words (the paper's "
             "ranking); content = top word among content words (function words listed apart, "
             "`engine/word_kinds.py`).", "",
             "| part | single: paper | single: content | two-event halves: paper | two-event halves: content "
             "| two-event takes (order confirmed / all) |", "|---|---|---|---|---|---|"]
    for part in sorted({r["part"] for r in rows}) + ["all"]:
        sel = [r for r in rows if part in ("all", r["part"])]
        single = [r for r in sel if r["kind"] == "single"]
        two = [r for r in sel if r["kind"] == "two" and r["order_confirmed"]]
        halves_p = [r[f"{h}_paper"] for r in two for h in ("first", "second")]
        halves_c = [r[f"{h}_content"] for r in two for h in ("first", "second")]
        lines.append(f"| {part} | {_rate([r['paper'] for r in single])} | {_rate([r['content'] for r in single])} "
                     f"| {_rate(halves_p)} | {_rate(halves_c)} | {len(two)}/{sum(r['kind'] == 'two' for r in sel)} |")
    lines += ["", "Captions: " + "; ".join(f"`{r['caption']}`" for r in rows)]
    (RESULTS / "heldout_words.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:-2]))


# ----------------------------------------------------------------------------- Table 1 per mode

def run_table1(args: argparse.Namespace) -> None:
    from agx_desktop.engine.explain import explain
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.take import GenerationParams
    from agx_desktop.evaluation import metrics
    from agx_desktop.evaluation.protocol import write_heldout_world_captions

    model, clf = load_model("bundled"), metrics.load_classifier("bundled")
    with tempfile.TemporaryDirectory() as tmp:
        write_heldout_world_captions(Path(tmp) / "c.txt", args.captions)
        captions = (Path(tmp) / "c.txt").read_text().split("\n")[:args.captions]
    records = []
    for i, caption in enumerate(captions):
        take = generate(model, caption, GenerationParams(seed=i))
        exs, secs = {}, {}
        for name, settings in MODES.items():
            t0 = time.time()
            exs[name] = explain(model, take, seed=0, epochs=args.epochs, **settings)
            secs[name] = round(time.time() - t0, 1)
        masks = []
        for name in MODES:
            m = np.asarray(exs[name].step_masks, dtype=np.float32)
            masks += [m] * args.samples + [1.0 - m] * args.samples
        masks += [None] * args.samples
        audio = metrics.sample_with_masks(model, take, masks, seed=1000 + i)
        p_ref = clf.probs(take.audio, model.sample_rate)
        c = int(np.argmax(p_ref))
        probs = [clf.probs(a, model.sample_rate) for a in audio]
        rec: dict = {"caption": caption, "top1": c, "methods": {}, "floor": {}}
        n = args.samples
        for direction in metrics.KL_DIRECTIONS:
            for j, name in enumerate(MODES):
                f_rows, cf_rows = probs[2 * n * j:2 * n * j + n], probs[2 * n * j + n:2 * n * (j + 1)]
                fid_f, kl_f = metrics.sample_scores(p_ref, f_rows, c, direction)
                fid_cf, kl_cf = metrics.sample_scores(p_ref, cf_rows, c, direction)
                rec["methods"].setdefault(name, {"fid_f": fid_f, "fid_cf": fid_cf, "size": exs[name].mask_size(),
                                                 "seconds": secs[name], "epochs_run": exs[name].extras["epochs_run"]})
                rec["methods"][name][f"kl_f[{direction}]"] = kl_f
                rec["methods"][name][f"kl_cf[{direction}]"] = kl_cf
            fid, kl = metrics.sample_scores(p_ref, probs[2 * n * len(MODES):], c, direction)
            rec["floor"].update({"fid": fid, f"kl[{direction}]": kl})
        records.append(rec)
        print(json.dumps(rec), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "faithfulness_table1.json").write_text(json.dumps(
        {"captions": args.captions, "epochs": args.epochs, "samples": args.samples, "records": records}, indent=1))
    keys = ["fid_f", "fid_cf", "kl_f[orig_to_sample]", "kl_cf[orig_to_sample]", "kl_f[sample_to_orig]",
            "kl_cf[sample_to_orig]", "size", "seconds"]
    lines = [f"# Table 1 per AudioGenX mode, bundled model (`bench_faithfulness.py table1`)", "",
             f"{len(records)} held-out world captions, {args.samples} samples each of factual (M) and "
             f"counterfactual (1 - M) audio, epochs {args.epochs} (quick: a maximum), bundled event classifier; "
             "same takes, explanation seed 0 and sampling seed for every row; mean ± standard error over captions. "
             "Fid_F, KL_F lower = better; Fid_CF, KL_CF higher = better. KL[o→s] = KL(orig ‖ sample) (default), "
             "KL[s→o] = KL(sample ‖ orig) (the reference code's).", "",
             "| mode | Fid_F | Fid_CF | KL_F[o→s] | KL_CF[o→s] | KL_F[s→o] | KL_CF[s→o] | size | s/take |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in MODES:
        cells = []
        for k in keys:
            m, se = metrics.mean_se([r["methods"][name][k] for r in records])
            cells.append(f"{m:.3f} ± {se:.3f}" if k != "seconds" else f"{m:.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    fl = {k: metrics.mean_se([r["floor"][k] for r in records])[0] for k in records[0]["floor"]}
    lines.append(f"| floor (new samples, no mask) | {fl['fid']:.3f} | | {fl['kl[orig_to_sample]']:.3f} | | "
                 f"{fl['kl[sample_to_orig]']:.3f} | | | |")
    (RESULTS / "faithfulness_table1.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("table1")
    t.add_argument("--captions", type=int, default=2)
    t.add_argument("--epochs", type=int, default=50)
    t.add_argument("--samples", type=int, default=5)
    h = sub.add_parser("heldout")
    h.add_argument("--per-form", type=int, default=1)
    h.add_argument("--part", choices=["dev", "test", "all"], default="all")
    h.add_argument("--mode", default="quick")
    args = ap.parse_args()
    run_table1(args) if args.what == "table1" else run_heldout(args)


if __name__ == "__main__":
    main()
