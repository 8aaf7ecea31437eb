"""The session model on its own: no window, no widget, no engine (stand-in takes and models)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from agx_desktop.engine.models import BUNDLED_ID
from agx_desktop.ui.session import Session

SIGNALS = ("take_added", "current_changed", "explanation_changed", "ab_changed", "model_chosen",
           "model_changed", "sampling_custom_changed", "selection_changed", "active_words_changed", "take_updated",
           "prompt_changed", "params_changed", "explainer_changed", "words_edited_changed")


class FakeExplanation:
    def __init__(self, take_id: str = "", rows: int = 4) -> None:
        self.take_id = take_id
        self.rows = rows
        self.calls = 0

    def per_frame_words(self) -> np.ndarray:
        self.calls += 1
        return np.ones((self.rows, 2))


def item(take_id: str, explanation: FakeExplanation | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=take_id, explanation=explanation)


@pytest.fixture
def session():
    return Session()


@pytest.fixture
def seen(session):
    """Every signal the session emits, in order, as (name, args)."""
    log: list[tuple[str, tuple]] = []
    for name in SIGNALS:
        getattr(session, name).connect(lambda *args, n=name: log.append((n, args)))
    return log


def test_a_new_session_is_empty(session):
    assert dict(session.items) == {} and session.current is None
    assert session.ab == {"A": None, "B": None} and session.ab_side == "A" and not session.ab_complete
    assert session.model_id == BUNDLED_ID and session.model is None
    assert session.sampling_custom == frozenset() and session.selection is None and session.active_words == []


def test_add_take_once_and_items_are_read_only(session, seen):
    a = item("a")
    assert session.add_take(a) is True
    assert session.add_take(item("a")) is False  # same id: ignored, no signal
    assert seen == [("take_added", (a,))]
    assert list(session.items) == ["a"] and session.items["a"] is a
    with pytest.raises(TypeError):
        session.items["b"] = item("b")  # type: ignore[index]


def test_set_current_emits_only_on_a_change(session, seen):
    a, b = item("a"), item("b")
    session.add_take(a)
    session.add_take(b)
    seen.clear()
    assert session.set_current("a") is a and session.current is a
    assert session.set_current("a") is a  # already current: no signal
    assert session.set_current("nope") is None and session.current is a  # unknown: nothing changes
    session.set_current("b")
    assert seen == [("current_changed", (a,)), ("current_changed", (b,))]


def test_per_frame_is_cached_until_the_explanation_changes(session, seen):
    ex = FakeExplanation("a", rows=3)
    a = item("a", ex)
    session.add_take(a)
    first = session.per_frame(a)
    assert first.shape == (3, 2) and session.per_frame(a) is first and ex.calls == 1  # computed once
    new = FakeExplanation("a", rows=5)
    seen.clear()
    session.set_explanation(a, new)
    assert a.explanation is new and seen == [("explanation_changed", (a,))]
    assert session.per_frame(a).shape == (5, 2) and new.calls == 1  # the old rows were dropped
    session.invalidate("a")
    session.per_frame(a)
    assert new.calls == 2
    assert session.per_frame(item("x")) is None  # no explanation: nothing to cache


def test_explanation_matches_its_own_take_only(session):
    assert not session.explanation_matches(None)
    assert not session.explanation_matches(item("a"))
    assert session.explanation_matches(item("a", FakeExplanation("a")))
    assert session.explanation_matches(item("a", FakeExplanation("")))  # older files carry no take id
    assert not session.explanation_matches(item("a", FakeExplanation("b")))


def test_ab_pair_and_side(session, seen):
    session.set_ab("A", "a")
    assert session.ab == {"A": "a", "B": None} and not session.ab_complete
    assert not session.ab_pair_contains("a")  # half a pair is no pair
    session.set_ab("B", "b")
    assert session.ab_side == "B" and session.ab_complete and session.ab_pair_contains("a")
    session.set_ab_side("B")  # no change: no signal
    session.set_ab_side("A")
    session.set_ab_pair("p", "q")  # a derived take: parent as A, hearing B
    assert seen == [("ab_changed", ({"A": "a", "B": None}, "A")), ("ab_changed", ({"A": "a", "B": "b"}, "B")),
                    ("ab_changed", ({"A": "a", "B": "b"}, "A")), ("ab_changed", ({"A": "p", "B": "q"}, "B"))]
    session.ab["A"] = "changed"  # a copy: the session's pair is unchanged
    assert session.ab["A"] == "p"
    with pytest.raises(ValueError):
        session.set_ab_side("C")


def test_choosing_a_model_drops_the_loaded_one_until_it_loads(session, seen):
    m = SimpleNamespace(id=BUNDLED_ID)
    session.set_model(m)
    session.set_model(m)  # the same model: no signal
    assert session.model is m
    session.choose_model(BUNDLED_ID)  # already chosen: nothing changes
    assert session.model is m
    session.choose_model("facebook/audiogen-medium")
    assert session.model_id == "facebook/audiogen-medium" and session.model is None
    other = SimpleNamespace(id="facebook/audiogen-medium")
    session.set_model(other)
    assert seen == [("model_changed", (m,)), ("model_chosen", ("facebook/audiogen-medium",)),
                    ("model_changed", (other,))]


def test_prompt_check_is_kept_per_prompt_and_model(session):
    assert session.cached_prompt_problem("rain") is None
    session.remember_prompt_problem("rain", "")  # no model yet: nothing kept
    assert session.cached_prompt_problem("rain") is None
    session.set_model(SimpleNamespace(id="m1"))
    session.remember_prompt_problem("rain", "too long")
    assert session.cached_prompt_problem("rain") == "too long"
    assert session.cached_prompt_problem("snow") is None
    session.set_model(SimpleNamespace(id="m2"))
    assert session.cached_prompt_problem("rain") is None  # another model decides again


def test_sampling_follows_the_model_until_the_user_sets_a_field(session, seen):
    session.mark_sampling_custom("temperature")
    session.mark_sampling_custom("temperature")  # again: no signal
    session.mark_sampling_custom("top_k")
    assert session.sampling_custom == {"temperature", "top_k"}
    session.set_sampling_custom({"temperature"})
    session.follow_model_sampling()
    session.follow_model_sampling()  # already following: no signal
    assert [args for _n, args in seen] == [(frozenset({"temperature"}),), (frozenset({"temperature", "top_k"}),),
                                           (frozenset({"temperature"}),), (frozenset(),)]
    assert {n for n, _a in seen} == {"sampling_custom_changed"}


def test_selection_and_active_words(session, seen):
    session.set_selection((0.5, 1))
    session.set_selection((0.5, 1.0))  # the same region: no signal
    assert session.selection == (0.5, 1.0)
    session.set_selection(None)
    session.set_active_words([2, 0])
    session.set_active_words((2, 0))  # the same words: no signal
    words = session.active_words
    words.append(9)  # a copy
    assert session.active_words == [2, 0]
    session.set_active_words([])
    assert seen == [("selection_changed", ((0.5, 1.0),)), ("selection_changed", (None,)),
                    ("active_words_changed", ([2, 0],)), ("active_words_changed", ([],))]


def test_the_request_being_prepared(session, seen):
    from agx_desktop.engine.take import GenerationParams
    assert session.prompt == "" and session.params == GenerationParams() and not session.words_edited
    session.set_prompt("rain")
    session.set_prompt("rain")  # the same: no signal
    session.set_params(seed=3)
    session.set_params(seed=3)
    session.set_params(GenerationParams(duration=2.0), seed=4)  # a whole new set, one field changed
    assert session.params == GenerationParams(duration=2.0, seed=4)
    session.set_explainer("random", None)
    session.set_explainer("random", None)
    session.set_words_edited(True)
    session.set_words_edited(True)
    assert seen == [("prompt_changed", ("rain",)), ("params_changed", (GenerationParams(seed=3),)),
                    ("params_changed", (GenerationParams(duration=2.0, seed=4),)),
                    ("explainer_changed", ("random", None)), ("words_edited_changed", (True,))]
    with pytest.raises(TypeError):
        session.set_params(no_such_field=1)


def test_refresh_take_says_a_take_changed(session, seen):
    a = item("a")
    session.add_take(a)
    session.refresh_take(a)
    assert seen[-1] == ("take_updated", (a,))
