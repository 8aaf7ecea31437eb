"""Content vs function words view (issue 18 item 5): kinds, ranks, scores unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from agx_desktop.engine.word_kinds import CONTENT, FUNCTION, classify_scores, explanation_word_kinds, word_kind


@pytest.mark.parametrize("word,kind", [("then", FUNCTION), ("Then,", FUNCTION), ("a", FUNCTION), ("while", FUNCTION),
                                       ("after", FUNCTION), ("dog", CONTENT), ("barks.", CONTENT),
                                       ("thunder", CONTENT), ("--", FUNCTION), ("3", FUNCTION)])
def test_word_kind(word, kind):
    assert word_kind(word) == kind


def test_then_on_top_stays_on_top_and_the_content_list_names_the_events():
    """The paper's scores are kept: "then" ranks first among all words, and is listed apart."""
    words = "a dog barks then a bell rings".split()
    scores = [0.1, 0.6, 0.5, 0.9, 0.2, 0.7, 0.3]
    view = classify_scores(words, scores)
    assert [w.word for w in view.words] == words and [w.score for w in view.words] == pytest.approx(scores)
    assert view.words[3].rank == 1 and view.words[3].kind == FUNCTION and view.words[3].rank_in_kind == 1
    assert [w.word for w in view.content] == ["bell", "dog", "barks", "rings"]
    assert [w.rank for w in view.content] == [2, 3, 4, 5] and [w.rank_in_kind for w in view.content] == [1, 2, 3, 4]
    assert [w.word for w in view.function] == ["then", "a", "a"]  # ties keep prompt order
    assert view.top_content().word == "bell"
    assert view.to_json()[1] == {"index": 1, "word": "dog", "kind": CONTENT, "score": 0.6, "rank": 3,
                                 "rank_in_kind": 2}
    assert classify_scores(["the", "a"], [0.5, 0.4]).top_content() is None


def test_explanation_view_uses_the_interval(tiny_model, tiny_take):
    from agx_desktop.engine.explain import explain
    ex = explain(tiny_model, tiny_take, method="random")
    whole, first = explanation_word_kinds(ex), explanation_word_kinds(ex, (0.0, 0.5))
    np.testing.assert_allclose([w.score for w in whole.words], ex.word_importance())
    np.testing.assert_allclose([w.score for w in first.words], ex.word_importance((0.0, 0.5)))
