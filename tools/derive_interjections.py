"""Derive word_kinds.INTERJECTIONS (issue 18, round 5) from Universal Dependencies English-EWT.

    python tools/derive_interjections.py en_ewt-ud-dev.conllu en_ewt-ud-test.conllu

A word is listed when it is tagged INTJ (UPOS) in at least half of its occurrences and at least twice
(lower-cased forms; multiword-token lines and empty nodes skipped), is not a spaCy stop word, and its
WordNet senses (resources/lexicon) put less than half their weight in word_kinds.SOUND_CLASSES (an
onomatopoeia that names a sound stays a sound word). The politeness words (please, pls, plz) are
word_kinds.POLITE_WORDS already and are left out. UD English-EWT is CC BY-SA 4.0
(github.com/UniversalDependencies/UD_English-EWT); only the derived word list ships, in word_kinds.py.
Round 5 ran it on the dev and test splits (the checkout's copy lacked the train split's large file).
"""
from __future__ import annotations

import collections
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agx_desktop.engine import word_kinds as wk  # noqa: E402


def main(paths: list[str]) -> None:
    intj: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            cols = line.split("\t")
            if not line or line.startswith("#") or "-" in cols[0] or "." in cols[0]:
                continue
            word = cols[1].lower()
            total[word] += 1
            intj[word] += cols[3] == "INTJ"
    out = []
    for word, n in sorted(intj.items()):
        weights = wk.sense_weights(word)
        sound = sum(v for c, v in weights.items() if c in wk.SOUND_CLASSES)
        mostly_intj = n >= 2 and n >= total[word] / 2
        content = wk.word_kind(word) == wk.CONTENT and word not in wk.POLITE_WORDS
        if mostly_intj and content and (not weights or sound < sum(weights.values()) / 2):
            out.append(word)
            print(f"{word}\t{n}/{total[word]} INTJ\tWordNet {weights}")
    print(sorted(out))


if __name__ == "__main__":
    main(sys.argv[1:])
