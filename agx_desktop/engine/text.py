"""Text tokens of a prompt and their mapping to the prompt's words.

Explanations are computed per text token (what cross-attention sees) but users think in words,
so every token is aligned to the whitespace-separated word whose characters it covers. Tokenizer
markers (SentencePiece ``▁``, WordPiece ``##``, byte-BPE ``Ġ``) are stripped before matching;
special tokens (``</s>``, ``[CLS]``...) map to no word.
"""
from __future__ import annotations

import re
import typing as tp
from dataclasses import dataclass, field

import numpy as np

_WORD_RE = re.compile(r"\S+")
_MARKERS = ("▁", "##", "Ġ")
WordAggregation = tp.Literal["max", "mean", "sum"]
MAX_TOKENS = 100_000  # far above any text encoder's limit; bounds what a damaged file may ask for


@dataclass
class TextTokens:
    """The conditioner's tokens for one prompt.

    Attributes:
        prompt: the prompt as given.
        tokens: one string per position of the conditioner output (length L).
        token_word: for each token, the index of its word in ``words`` or ``None`` (special tokens).
        words: the prompt's whitespace-separated words.
        word_spans: (start, end) character offsets of each word in ``prompt``.
    """

    prompt: str
    tokens: list[str]
    token_word: list[int | None]
    words: list[str]
    word_spans: list[tuple[int, int]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"prompt": self.prompt, "tokens": self.tokens, "token_word": self.token_word,
                "words": self.words, "word_spans": [list(s) for s in self.word_spans]}

    @classmethod
    def from_dict(cls, d: dict) -> "TextTokens":
        """Read :meth:`to_dict`'s output back, checked: ValueError (one line) if it is inconsistent.

        The words must be the prompt's whitespace words (with their spans), every token a string,
        and every token's word index ``None`` or a valid word index — a damaged file must not turn
        into an IndexError (or a wrong word) later.
        """
        if not isinstance(d, dict):
            raise ValueError(f"text must be an object, got {type(d).__name__}")
        prompt, tokens, token_word, words = (d.get(k) for k in ("prompt", "tokens", "token_word", "words"))
        if not isinstance(prompt, str):
            raise ValueError("text.prompt must be text")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("text.tokens must be a list of strings")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError("text.words must be a list of strings")
        if len(tokens) > MAX_TOKENS:
            raise ValueError(f"text.tokens has {len(tokens)} tokens (at most {MAX_TOKENS})")
        if not isinstance(token_word, list) or len(token_word) != len(tokens):
            raise ValueError(f"text.token_word must be a list of {len(tokens)} word indices (one per token)")
        for w in token_word:
            if w is not None and (not isinstance(w, int) or isinstance(w, bool) or not 0 <= w < len(words)):
                raise ValueError(f"text.token_word holds {w!r}: each must be null or a word index in "
                                 f"[0, {len(words)})")
        expected_words, expected_spans = split_words(prompt)
        if words != expected_words:
            raise ValueError("text.words are not the words of text.prompt")
        spans = d.get("word_spans")
        if spans is None:
            spans = [list(s) for s in expected_spans]
        if not isinstance(spans, list) or [s if isinstance(s, list) else None for s in spans] != \
                [list(s) for s in expected_spans] or any(isinstance(v, bool) for s in spans for v in s):
            raise ValueError("text.word_spans are not the character spans of the words in text.prompt")
        return cls(prompt, list(tokens), list(token_word), list(words), [tuple(s) for s in expected_spans])

    def tokens_to_words(self, token_values: np.ndarray, how: WordAggregation = "max") -> np.ndarray:
        """Aggregate per-token values (last axis = L) into per-word values (last axis = words).

        ``max`` is the default: a word matters if any of its pieces does, and splitting a rare word
        into several pieces should not dilute it. Words with no token get 0.
        """
        values = np.asarray(token_values, dtype=np.float64)
        out = np.zeros(values.shape[:-1] + (len(self.words),), dtype=np.float64)
        for w in range(len(self.words)):
            idx = [i for i, tw in enumerate(self.token_word) if tw == w]
            if not idx:
                continue
            part = values[..., idx]
            out[..., w] = {"max": part.max, "mean": part.mean, "sum": part.sum}[how](axis=-1)
        return out

    def word_token_mask(self, word_weights: tp.Sequence[float]) -> np.ndarray:
        """Per-token weights [L] from per-word weights: a token takes its word's weight, specials 1."""
        if len(word_weights) != len(self.words):
            raise ValueError(f"expected {len(self.words)} word weights, got {len(word_weights)}")
        return np.array([1.0 if w is None else float(word_weights[w]) for w in self.token_word])


def split_words(prompt: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Whitespace words of ``prompt`` with their character spans."""
    spans = [(m.start(), m.end()) for m in _WORD_RE.finditer(prompt)]
    return [prompt[a:b] for a, b in spans], spans


def _clean(token: str) -> str:
    for marker in _MARKERS:
        token = token.replace(marker, "")
    return token.strip().lower()


def align_tokens(prompt: str, tokens: tp.Sequence[str], special: tp.Container[str] = ()) -> TextTokens:
    """Map each token string to the word of ``prompt`` it covers.

    Tokens are matched left to right against the lower-cased prompt; a token that cannot be found
    (normalised accents, unknown-token symbols) is assigned to the word at the current position.
    """
    words, spans = split_words(prompt)
    starts = [a for a, _ in spans]
    text = prompt.lower()
    pos = 0
    token_word: list[int | None] = []

    def word_at(char: int) -> int | None:
        """The word containing ``char``, or the next one when ``char`` falls between words."""
        for i, (_, end) in enumerate(spans):
            if char < end:
                return i
        return len(spans) - 1 if spans else None

    for tok in tokens:
        if tok in special:
            token_word.append(None)
            continue
        if tok.startswith(("▁", "Ġ")):  # a word-boundary marker: the piece starts the next word
            pos = next((a for a in starts if a >= pos), len(text))
        piece = _clean(tok)
        if not piece:  # a bare boundary marker belongs to the word it opens
            token_word.append(word_at(pos))
            continue
        found = -1 if (tok[0] + tok[-1]) in ("<>", "[]") else text.find(piece, pos)
        if found < 0:  # <unk>, [UNK], normalised characters: the word at the current position
            token_word.append(word_at(pos))
            pos += 1
            continue
        token_word.append(word_at(found))
        pos = found + len(piece)
    return TextTokens(prompt, list(tokens), token_word, words, spans)
