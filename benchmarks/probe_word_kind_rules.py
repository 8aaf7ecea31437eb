"""Word kinds, rounds 4-5 (issue 18): the figures behind benchmarks/results/heldout_words.md's round-4 and
round-5 sections.

    .venv/bin/python benchmarks/probe_word_kind_rules.py ablate   # rules (a)-(f) added one at a time
    .venv/bin/python benchmarks/probe_word_kind_rules.py vocab [--before 1abab67^]   # round 4
    .venv/bin/python benchmarks/probe_word_kind_rules.py vocab --before b97d209      # round 5

``ablate``: sound+contrast (strict and phrase words) per part, from the cached held-out explanations
(``bench_faithfulness.py heldout-cache``), with the round-4 rules of ``engine/word_kinds.py`` switched
off and added back one at a time: (a) contractions, (b) the request frame (and politeness words), (c)
media words, (d) purpose phrases; round 5: (e) informal contractions (spaCy's tokenizer exceptions and
INFORMAL_CONTRACTIONS), (f) interjections opening a prompt. ``vocab``: every prompt of the world's training captions and of the
benchmark's event phrases, alone and inside the forms of dev/test/test2/test3 (and test4 from round 5), read with the word
kinds of git revision ``--before`` and with today's ``prompt_word_kinds``; lists every word whose kind
changes, event words (the world's event words and the phrases' words) first: there must be none.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_faithfulness as bf  # noqa: E402
from agx_desktop.engine import word_kinds as wk  # noqa: E402

RULES = ["round 3", "+ (a) contractions", "+ (b) request frame", "+ (c) media words", "+ (d) purpose phrases",
         "+ (e) informal contractions", "+ (f) interjections"]
SEEN = ("dev", "test", "test2", "test3", "test4")  # the parts round 5 chose on


def _set_level(level: int, full: dict) -> None:
    for k, v in full.items():
        setattr(wk, k, v)
    if level < 1:
        wk._stop_contraction = lambda w: False
    if level < 2:
        wk._request_slots = lambda norm, start: ([], len(norm))
        wk.POLITE_WORDS = frozenset()
    if level < 3:
        wk.MEDIA_WORDS = frozenset()
    if level < 4:
        wk._DETERMINERS = frozenset()
    if level < 5:
        wk.expansion = lambda word: ()
    if level < 6:
        wk.INTERJECTIONS = frozenset()


def ablate(_: argparse.Namespace) -> None:
    full = {k: getattr(wk, k) for k in ("_stop_contraction", "_request_slots", "POLITE_WORDS", "MEDIA_WORDS",
                                        "_DETERMINERS", "expansion", "INTERJECTIONS")}
    args = argparse.Namespace(per_form=4, test_per_form=6, test2_per_form=5, test3_per_form=5, test4_per_form=5,
                              test5_per_form=5, test6_per_form=5, part="all")
    items = [it for it in bf._items(args) if it["part"] in SEEN]  # the seen parts only
    views = {"sound+contrast": bf.VIEWS["sound+contrast"]}
    for level, name in enumerate(RULES):
        _set_level(level, full)
        rows = bf.score_views(items, views)["sound+contrast"]
        cells = []
        for part in SEEN:
            sel = [r for r in rows if r["part"] == part]
            single, halves = bf._figures(sel)[:2]
            ps, ph = bf._figures(sel, "ok_phrase")[:2]
            cells.append(f"{part} {sum(single)}/{len(single)}, {sum(halves)}/{len(halves)} "
                         f"(phrase {sum(ps)}/{len(ps)}, {sum(ph)}/{len(ph)})")
        print(f"{name:24s} | " + " | ".join(cells), flush=True)
    _set_level(len(RULES), full)


def vocab(args: argparse.Namespace) -> None:
    from agx_desktop.engine.bundled import BUNDLED_DIR, world
    source = subprocess.run(["git", "show", f"{args.before}:agx_desktop/engine/word_kinds.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    source = source.replace("from .resources import", "from agx_desktop.engine.resources import")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "old_word_kinds.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("old_word_kinds", path)
        old = importlib.util.module_from_spec(spec)
        sys.modules["old_word_kinds"] = old  # dataclasses look their module up
        spec.loader.exec_module(old)

    def old_kinds(ws: list[str]) -> list[str]:
        if hasattr(old, "prompt_word_kinds"):  # round 4 on: the prompt's kinds, position included
            return old.prompt_word_kinds(ws)
        return ["function" if old.word_kind(w) == "function" else "context" if old.is_context_word(w) else "sound"
                for w in ws]

    event_words = {wk.normalise(w) for e in world.EVENTS for ph in e.words + e.nouns + e.verbs for w in ph.split()}
    phrases: list[str] = []
    for table in (bf.EVENT_PHRASES, bf.TEST2_PHRASES, bf.TEST3_PHRASES, bf.TEST4_PHRASES):
        for ger, cla, extra in table.values():
            event_words |= {wk.normalise(w) for w in extra}
            phrases += ger + cla
            event_words |= {wk.normalise(w) for ph in ger + cla for w in ph.split() if wk.word_kind(w) == "content"}
    with gzip.open(BUNDLED_DIR / "train_captions.txt.gz", "rt", encoding="utf-8") as f:
        prompts = f.read().splitlines()
    prompts += phrases
    for part in SEEN:
        for form in bf.SINGLE_FORMS[part]:
            prompts += [form.format(g=ph, c=ph, G=ph[0].upper() + ph[1:], C=ph[0].upper() + ph[1:], U=ph.upper())
                        for ph in phrases]
        for form in bf.TWO_FORMS[part]:
            prompts += [form.format(A=a, B=b) for a in phrases[::3] for b in phrases[1::5]]
    changed: dict = {}
    carrier: dict = {}
    for p in prompts:
        ws = p.split()
        for w, o, n in zip(ws, old_kinds(ws), wk.prompt_word_kinds(ws)):
            if o != n:
                (changed if wk.normalise(w) in event_words else carrier).setdefault((wk.normalise(w), o, n), p)
    print(f"{len(prompts)} prompts, {len(event_words)} event words; event words that change kind: {len(changed)}")
    for k, p in sorted(changed.items()):
        print("  EVENT", k, "|", p)
    print("carrier words that change kind:")
    for k, p in sorted(carrier.items()):
        print("  ", k, "|", p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    sub.add_parser("ablate")
    v = sub.add_parser("vocab")
    v.add_argument("--before", default="1abab67^", help="git revision of the word kinds to compare with")
    args = ap.parse_args()
    {"ablate": ablate, "vocab": vocab}[args.what](args)


if __name__ == "__main__":
    main()
