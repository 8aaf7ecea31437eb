"""Content words and function words of an explanation, side by side (issue 18 item 5).

A contextual text encoder gives function words ("then", "a", "while") real signal, and AudioGenX
faithfully reports it: on "X then Y" prompts "then" often tops the ranking. The scores are kept as
they are (the paper's); this view only *separates* the two kinds so a person reads the ranking of
the words they care about (content words) without the function words being hidden: both lists are
returned, every word with its kind, its score, its rank among all words and within its kind.

Function word = spaCy's English stop word list (``spacy.lang.en.stop_words``, no model download)
after stripping punctuation; numbers-only and empty tokens count as function words.
"""
from __future__ import annotations

import functools
import re
import typing as tp
from dataclasses import dataclass

import numpy as np

if tp.TYPE_CHECKING:
    from .explanation import Explanation, Interval

CONTENT, FUNCTION = "content", "function"


@functools.lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS
    return frozenset(STOP_WORDS)


def normalise(word: str) -> str:
    """Lower case, leading/trailing punctuation removed ("Then," → "then")."""
    return re.sub(r"^[^\w]+|[^\w]+$", "", word.lower())


def word_kind(word: str) -> str:
    """``"function"`` for stop words, punctuation and numbers, else ``"content"``."""
    w = normalise(word)
    return FUNCTION if not w or w.isdigit() or w in _stop_words() else CONTENT


@dataclass(frozen=True)
class WordScore:
    """One prompt word as the view shows it."""

    index: int  # position in the prompt's words
    word: str
    kind: str  # content | function
    score: float  # the explanation's importance (unchanged)
    rank: int  # 1 = most important among all words
    rank_in_kind: int  # 1 = most important among the words of its kind


@dataclass(frozen=True)
class WordKinds:
    """An explanation's words split by kind; ``words`` in prompt order, the two lists by score."""

    words: list[WordScore]

    @property
    def content(self) -> list[WordScore]:
        return sorted((w for w in self.words if w.kind == CONTENT), key=lambda w: w.rank)

    @property
    def function(self) -> list[WordScore]:
        return sorted((w for w in self.words if w.kind == FUNCTION), key=lambda w: w.rank)

    def top_content(self) -> WordScore | None:
        """The most important content word (None when the prompt has none)."""
        content = self.content
        return content[0] if content else None

    def to_json(self) -> list[dict]:
        return [w.__dict__.copy() for w in self.words]


def classify_scores(words: tp.Sequence[str], scores: tp.Sequence[float]) -> WordKinds:
    """Kinds and ranks for ``words`` with importance ``scores`` (ties keep prompt order)."""
    values = np.asarray(scores, dtype=np.float64)
    kinds = [word_kind(w) for w in words]
    order = sorted(range(len(words)), key=lambda i: (-values[i], i))
    rank = {i: r + 1 for r, i in enumerate(order)}
    in_kind: dict[int, int] = {}
    for kind in (CONTENT, FUNCTION):
        for r, i in enumerate(i for i in order if kinds[i] == kind):
            in_kind[i] = r + 1
    return WordKinds([WordScore(i, w, kinds[i], float(values[i]), rank[i], in_kind[i]) for i, w in enumerate(words)])


def explanation_word_kinds(explanation: "Explanation", interval: "Interval" = None) -> WordKinds:
    """The view the app shows: ``explanation``'s word importance (holistic, or over ``interval``
    seconds) with every word's kind and ranks."""
    return classify_scores(explanation.words, explanation.word_importance(interval))
