"""Would a model-grounded ranking name the event words where the word-kind rules do not? (issue 18)

The sound view ranks AudioGenX's scores with lexical rules (engine/word_kinds.py) setting function and
context words apart; each fresh held-out part has brought words no rule had met ("#asmr", "spooky",
"mono"), and those words top the paper's ranking. This probe asks the model instead, with the word
deletion explainer (engine/explain/deletion.py, ``agx explain --method deletion``): a word's score at step
t is how far deleting the word from the prompt's TEXT moves the take's next-code distribution,

    D_w(t) = sum over the codebooks sampled at step t of
             KL( p(. | prompt, codes < t) || p(. | prompt without w, codes < t) ),

teacher-forced on the take's codes, with classifier-free guidance and temperature as the take was
sampled (no top-k cut: KL needs full supports). It is not the paper's method: deleting a word before the
text encoder leaves no trace of it in the other words' contextual embeddings, which masking AudioGenX's
token embeddings cannot do (the reason function words carry signal there). One teacher-forced pass per
word (~40-60 ms each on the bundled model), no training. The explainer shows 1 - exp(-D); both forms are
scored (the ranking of a mean differs between them).

Views compared on the cached held-out takes (``bench_faithfulness.py heldout-cache --cache DIR``): AudioGenX
sound+contrast (the shipped variant), deletion ranked every word / sound words (its halves: the half's
mean minus the rest's, as the contrast), and the two summed after scaling each to a maximum |value| of 1.

    flock /work/bench.lock nice -n 5 .venv/bin/python benchmarks/probe_word_deletion.py \
        --cache tmp/heldout_cache_s2 --parts dev,test,test2,test3,test4,test5,test6 --write

Writes benchmarks/results/word_deletion.json and word_deletion_table.md (results/word_deletion.md holds
the reading around that table); the per-caption scores are kept in tmp/word_deletion/ (delete it after
changing the explainer: it is not keyed to the code).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import bench_faithfulness as bf  # noqa: E402

PER_FORM = {"dev": 4, "test": 6, "test2": 5, "test3": 5, "test4": 5, "test5": 5, "test6": 5, "test7": 5}
STORE = ROOT / "tmp" / "word_deletion"


def deletion_scores(model, take) -> np.ndarray:
    """[words, steps] D_w(t) in nats, from the shipped explainer (engine/explain/deletion.py, whose masks are
    1 - exp(-D))."""
    from agx_desktop.engine.explain import explain

    ex = explain(model, take, method="deletion")
    return -np.log1p(-np.clip(ex.text.tokens_to_words(ex.step_masks).T, 0.0, 1.0 - 1e-16))


def cache_part(part: str) -> Path:
    """Regenerate each caption's take (its seed) and store its deletion scores once."""
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    from agx_desktop.engine.take import GenerationParams

    path = STORE / f"{part}.json"
    if path.exists():
        return path
    model = load_model("bundled")
    out, t0 = [], time.time()
    for item in bf.heldout_captions(part, PER_FORM[part]):
        take = generate(model, item["caption"], GenerationParams(seed=item["seed"]))
        out.append({"caption": item["caption"], "seed": item["seed"], "scores": deletion_scores(model, take).tolist()})
    STORE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    print(f"{part}: {len(out)} captions in {time.time() - t0:.0f} s", flush=True)
    return path


def _scaled(v: np.ndarray) -> np.ndarray:
    top = float(np.abs(v).max())
    return v / top if top > 0 else v


def score_part(part: str, saturate: bool) -> dict[str, dict[str, list[bool]]]:
    """Per view (``saturate``: deletion's scores as the explainer shows them, 1 - exp(-D); else D itself): flags for singles, halves of in-order takes, and both restricted to takes that play
    their event(s) (bench_faithfulness.HEARD)."""
    from agx_desktop.engine.word_kinds import interval_contrast

    stored = {(d["caption"], d["seed"]): np.asarray(d["scores"]) for d in json.loads(cache_part(part).read_text())}
    if saturate:
        stored = {k: -np.expm1(-v) for k, v in stored.items()}
    views = ("AudioGenX sound+contrast", "deletion, every word", "deletion, sound words", "sum, every word",
             "sum, sound words", "deletion, sound words, share-form halves")
    flags: dict[str, dict[str, list[bool]]] = {v: {"single": [], "halves": [], "single_played": [],
                                                   "halves_played": []} for v in views}
    for item in bf.heldout_captions(part, PER_FORM[part]):
        ex, heard = bf._load_cached(item, "quick")
        deletion = stored[(item["caption"], item["seed"])]
        words, plays = list(ex.words), all(bf._plays(heard))
        steps = np.arange(ex.n_steps)
        if item["kind"] == "single":  # (AudioGenX's scores, the event's words, deletion's scores)
            entries = [(ex.word_importance(None), bf.own_words(item["events"][0], part), deletion.mean(1),
                        deletion.mean(1))]
        elif bf._order_confirmed(heard):
            entries = []
            for h, half in enumerate(((0.0, ex.duration / 2), (ex.duration / 2, ex.duration))):
                inside = ex.steps_for_interval(half)
                rest = np.setdiff1d(steps, inside)
                # the app's contrast (word_kinds.interval_contrast: the half's mean minus the rest's), and
                # round 7's candidate share form (each step's scores as shares of its total first)
                shares = deletion / np.maximum(deletion.sum(0, keepdims=True), 1e-300)
                entries.append((interval_contrast(ex, half), bf.own_words(item["events"][h], part),
                                deletion[:, inside].mean(1) - deletion[:, rest].mean(1),
                                shares[:, inside].mean(1) - shares[:, rest].mean(1)))
        else:
            continue
        kind = "single" if item["kind"] == "single" else "halves"
        for a, own, d, d_share in entries:
            results = {"AudioGenX sound+contrast": bf._top_is_own(words, a, own, "sound"),
                       "deletion, every word": bf._top_is_own(words, d, own, "all"),
                       "deletion, sound words": bf._top_is_own(words, d, own, "sound"),
                       "sum, every word": bf._top_is_own(words, _scaled(a) + _scaled(d), own, "all"),
                       "sum, sound words": bf._top_is_own(words, _scaled(a) + _scaled(d), own, "sound"),
                       "deletion, sound words, share-form halves": bf._top_is_own(words, d_share, own, "sound")}
            for view, ok in results.items():
                flags[view][kind].append(ok)
                if plays:
                    flags[view][f"{kind}_played"].append(ok)
    return flags


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=bf.CACHE, help="bench_faithfulness heldout-cache directory")
    ap.add_argument("--parts", default="dev,test,test2,test3,test4,test5,test6")
    ap.add_argument("--write", action="store_true",
                    help="write results/word_deletion.json and word_deletion_table.md")
    args = ap.parse_args()
    bf.CACHE = args.cache
    lines = ["| view | part | single: own word on top | halves, takes in order | single, takes that play their "
             "event | halves, in-order takes that play both |", "|---|---|---|---|---|---|"]
    table: dict = {}
    for part in args.parts.split(","):
        for form, saturate in (("shipped: 1 - exp(-D)", True), ("D in nats", False)):
            table.setdefault(form, {})[part] = flags = score_part(part, saturate)
            for view, f in flags.items():
                if saturate or view != "AudioGenX sound+contrast":
                    lines.append(f"| {view}{'' if saturate or view.startswith('AudioGenX') else ', D in nats'} | {part} "
                                 f"| {bf._rate(f['single'])} | {bf._rate(f['halves'])} | "
                                 f"{bf._rate(f['single_played'])} | {bf._rate(f['halves_played'])} |")
    print("\n".join(lines))
    if args.write:
        (bf.RESULTS / "word_deletion.json").write_text(json.dumps(table))
        (bf.RESULTS / "word_deletion_table.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
