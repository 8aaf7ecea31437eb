"""Tokens ↔ words alignment for the tokenizers we meet (SentencePiece, WordPiece, ours)."""
import numpy as np

from agx_desktop.engine.text import align_tokens


def test_sentencepiece_pieces_join_their_words():
    t = align_tokens("A dog barks, then birds chirp",
                     ["▁A", "▁dog", "▁bark", "s", ",", "▁then", "▁bird", "s", "▁ch", "irp", "</s>"], special={"</s>"})
    assert t.words == ["A", "dog", "barks,", "then", "birds", "chirp"]
    assert t.token_word == [0, 1, 2, 2, 2, 3, 4, 4, 5, 5, None]


def test_wordpiece_and_specials():
    t = align_tokens("A Dog barks", ["[CLS]", "a", "dog", "bark", "##s", "[SEP]"], special={"[CLS]", "[SEP]"})
    assert t.token_word == [None, 0, 1, 2, 2, None]
    values = np.array([0.9, 0.1, 0.2, 0.3, 0.7, 0.9])
    np.testing.assert_allclose(t.tokens_to_words(values), [0.1, 0.2, 0.7])
    np.testing.assert_allclose(t.tokens_to_words(values, "mean"), [0.1, 0.2, 0.5])
    np.testing.assert_allclose(t.word_token_mask([1, 0, 2]), [1, 1, 0, 2, 2, 1])


def test_unmatched_tokens_stay_in_place():
    t = align_tokens("café noir", ["cafe", "noir"])
    assert t.token_word == [0, 1]
