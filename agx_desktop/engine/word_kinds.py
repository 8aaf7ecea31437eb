"""Content words and function words of an explanation, side by side (issue 18 item 5).

A contextual text encoder gives function words ("then", "a", "while") real signal, and AudioGenX
faithfully reports it: on "X then Y" prompts "then" often tops the ranking. The scores are kept as
they are (the paper's); this view only *separates* the two kinds so a person reads the ranking of
the words they care about (content words) without the function words being hidden: both lists are
returned, every word with its kind, its score, its rank among all words and within its kind.

Function word = spaCy's English stop word list (``spacy.lang.en.stop_words``, no model download)
after stripping punctuation; numbers-only and empty tokens count as function words.

A third kind, **context** (:data:`CONTEXT_WORDS`), splits the content words further for the
"sound words" view of issue 18: words that say how loud, how far, how fast, where, when or how it
was heard ("distance", "loud", "recording", "later", "background") rather than what sounds. They
matter to the model too (in the bundled world "distant" lowers the level), so they keep their
scores and ranks; :attr:`WordKinds.sound` ranks the remaining content words (what sounds) apart.
``word_kind`` tells function words from the others exactly as before (``guided_edit`` relies on it).
"""
from __future__ import annotations

import functools
import re
import typing as tp
from dataclasses import dataclass

import numpy as np

if tp.TYPE_CHECKING:
    from .explanation import Explanation, Interval

CONTENT, FUNCTION, CONTEXT = "content", "function", "context"

#: Context words: a fixed, general list (written for issue 18 before its test captions were scored; it
#: is not taken from them): the bundled world's modifiers and their spellings, and general words of
#: loudness, distance, speed, pitch, place, repetition, hearing/recording and sequence. Words that
#: name a sound source or action (and "sounds", a verb of the world's beeps) are not in it.
CONTEXT_WORDS = frozenset("""
loud loudly quiet quietly soft softly faint faintly distant faraway far away off distance nearby near close
close-up closeup fast rapid rapidly quick quickly slow slowly high high-pitched low low-pitched deep pitch
heavy strong light gentle gently
background foreground outside outdoors inside indoors somewhere nearby
repeatedly again continuously constantly occasionally briefly
sound hear hears heard hearing listen listening recording recorded record audio clip field ambience ambient noise
first later afterwards initially eventually subsequently finally meanwhile soon begin begins start starts end ends
stop stops followed follows together
""".split())


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


def is_context_word(word: str) -> bool:
    """A content word of :data:`CONTEXT_WORDS` (how, where, when, how heard: not what sounds)."""
    return word_kind(word) == CONTENT and normalise(word) in CONTEXT_WORDS


@dataclass(frozen=True)
class WordScore:
    """One prompt word as the view shows it."""

    index: int  # position in the prompt's words
    word: str
    kind: str  # content | function
    context: bool  # a content word of CONTEXT_WORDS (how, where, when: not what sounds)
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

    @property
    def sound(self) -> list[WordScore]:
        """The "sound words" view: content words that are not context words (what sounds), by score."""
        return [w for w in self.content if not w.context]

    def top_content(self) -> WordScore | None:
        """The most important content word (None when the prompt has none)."""
        content = self.content
        return content[0] if content else None

    def top_sound(self) -> WordScore | None:
        """The most important sound word (None when the prompt has none)."""
        sound = self.sound
        return sound[0] if sound else None

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
    return WordKinds([WordScore(i, w, kinds[i], kinds[i] == CONTENT and normalise(w) in CONTEXT_WORDS,
                                float(values[i]), rank[i], in_kind[i]) for i, w in enumerate(words)])


def interval_contrast(explanation: "Explanation", interval: "Interval") -> np.ndarray:
    """[words] a word's importance over ``interval`` minus over the rest of the clip (issue 18's
    "contrast" variant, not the paper's): what this part of the clip needs more than the rest does.

    The paper's interval importance (Eq. 7 over the interval's steps) of a word that the whole clip
    needs is high everywhere; the difference keeps what is particular to the interval. Values lie in
    [−1, 1]; "the rest" = the steps that predict no frame inside ``interval``.
    """
    inside = explanation.steps_for_interval(interval)
    rest = np.setdiff1d(np.arange(explanation.n_steps), inside)
    if len(rest) == 0:
        return explanation.word_importance(interval)
    outside = explanation.text.tokens_to_words(explanation.step_masks[rest].mean(axis=0), explanation.word_aggregation)
    return explanation.word_importance(interval) - outside


def explanation_word_kinds(explanation: "Explanation", interval: "Interval" = None,
                           contrast: bool = False) -> WordKinds:
    """The view the app shows: ``explanation``'s word importance (holistic, or over ``interval``
    seconds) with every word's kind and ranks; ``contrast`` (with an interval): the interval's
    importance minus the rest of the clip's (:func:`interval_contrast`, a variant)."""
    if contrast and interval is not None:
        return classify_scores(explanation.words, interval_contrast(explanation, interval))
    return classify_scores(explanation.words, explanation.word_importance(interval))
