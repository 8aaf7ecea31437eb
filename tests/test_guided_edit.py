"""The importance-guided edit loop (engine/guided_edit.py) and ``agx edit`` (engine/guided_cli.py), issue 17 item 3."""
from __future__ import annotations

import json

import numpy as np
import pytest

from agx_desktop.engine import guided_cli
from agx_desktop.engine import guided_edit as G
from agx_desktop.engine.errors import Cancelled, ParameterError
from agx_desktop.engine.progress import CancelToken


class Planted:
    """A scorer that says "met" for candidates whose weight of ``word`` is at most ``met_below``."""

    name = "planted"

    def __init__(self, word: str, met_below: float | None) -> None:
        self.word, self.met_below, self.calls = word, met_below, 0

    def prepare(self, model, original, region, intents, cancel) -> None:
        self.region = region

    def score(self, model, candidate, cancel) -> G.Score:
        self.calls += 1
        i = G.word_indices(candidate.words, self.word)[0]
        w = (candidate.word_weights or [1.0] * len(candidate.words))[i]
        met = self.met_below is not None and w <= self.met_below
        return G.Score(1.0 - w / 10.0, met)


def test_function_words_are_kept_apart():
    assert G.is_function_word("then") and G.is_function_word("A") and G.is_function_word("while,")
    assert not G.is_function_word("dog") and not G.is_function_word("ticking")
    content, function = G.split_words(["a", "dog", "barks", "then", "a", "bell", "rings"])
    assert content == ["dog", "barks", "bell", "rings"] and function == ["a", "then"]


def test_proposals_follow_the_intent_and_go_further_each_round():
    words = ["a", "dog", "barks", "while", "rain", "falls"]
    found = {"importance": {"dog": 0.5, "barks": 0.4, "rain": 0.9, "falls": 0.1},
             "co_driver": {"dog": "barks", "barks": "dog", "rain": "falls", "falls": "rain"}}
    less = G.propose(words, [G.WordIntent("dog", "less")], found, round_index=0, n=6, seed=3)
    assert [p.weights[1] for p in less[:1]] == [0.5] and less[0].seed == 3
    assert any(dict(p.changes).get("barks") == G.CO_DRIVER_WEIGHT["less"] for p in less)
    # the other event kept: every word of its phrase boosted (even "falls", which drives the region little),
    # the target's own phrase left alone
    keep = next(p for p in less if p.note == "keep the others")
    assert dict(keep.changes) == {"dog": 0.5, "rain": G.KEEP_LEVELS[0], "falls": G.KEEP_LEVELS[0]}
    assert any(p.seed != 3 for p in less) and len(less) == 6
    later = G.propose(words, [G.WordIntent("dog", "less")], found, round_index=1, n=1, seed=3)
    assert later[0].weights[1] == 0.3
    tried = {(p.weights, p.seed) for p in G.propose(words, [G.WordIntent("dog", "none")], found,
                                                     round_index=0, n=3, seed=3)}
    again = G.propose(words, [G.WordIntent("dog", "none")], found, round_index=1, n=6, seed=3, tried=tried)
    assert len(again) == 6 and not tried & {(p.weights, p.seed) for p in again}  # nothing regenerated twice
    assert any(p.seed != 3 for p in again)
    more = G.propose(words, [G.WordIntent("dog", "more")], found, round_index=0, n=3, seed=3)
    assert more[0].weights[1] == 1.5 and any(dict(p.changes).get("rain") for p in more)  # the competitor turned down
    none = G.propose(words, [G.WordIntent("dog", "none")], found, round_index=0, n=2, seed=3)
    assert all(p.weights[1] == 0.0 for p in none)


def test_the_loop_stops_as_soon_as_the_intent_is_met(tiny_model, tiny_take):
    scorer = Planted("bell", met_below=0.0)
    result = G.guided_edit(tiny_model, tiny_take, [G.WordIntent("bell", "none")], region=(0.4, 0.8),
                           candidates=2, max_rounds=3, scorer=scorer)
    assert result.rounds_used == 1 and result.met and result.best.met
    assert len(result.candidates) == 2 and scorer.calls == 2
    assert result.best.label.startswith("mute bell") and "region 0.40–0.80 s" in result.best.label
    assert result.best.take.parent == tiny_take.id and result.best.take.kind == "region"


def test_the_loop_stops_after_the_set_rounds_and_ranks_every_candidate(tiny_model, tiny_take):
    scorer = Planted("bell", met_below=None)  # never met
    seen = list(G.rounds(tiny_model, tiny_take, [G.WordIntent("bell", "less")], region=(0.4, None),
                         candidates=2, max_rounds=2, scorer=scorer))
    assert [r.index for r in seen] == [1, 2] and not seen[-1].met
    ranked = seen[-1].candidates
    assert len(ranked) == 4 and {c.round for c in ranked} == {1, 2}
    values = [c.score.value for c in ranked]
    assert values == sorted(values, reverse=True)
    # round 2 went further than round 1 (0.3 after 0.5) and started from round 1's best
    assert min(c.take.word_weights[5] for c in ranked if c.round == 2) < 0.5
    assert all(c.take.parent == seen[0].best.take.id for c in ranked if c.round == 2)
    tried = [(c.edit.weights, c.edit.seed) for c in ranked]
    assert len(set(tried)) == len(tried)  # no edit regenerated twice


def test_candidates_keep_the_parents_audio_before_the_region(tiny_model, tiny_take):
    result = G.guided_edit(tiny_model, tiny_take, [G.WordIntent("dog", "more")], region=(0.5, 0.9),
                           candidates=3, max_rounds=1, scorer=Planted("dog", None))
    n0 = int(0.5 * tiny_take.sample_rate)
    for cand in result.candidates:
        assert np.array_equal(cand.take.audio[:, :n0], tiny_take.audio[:, :n0])
        assert cand.take.word_weights[1] >= 1.5


def test_cancel_mid_round_returns_nothing(tiny_model, tiny_take):
    token = CancelToken()
    stages: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        stages.append(stage)
        if stage.endswith("· generate") and done >= 2:  # the round's batch is being sampled
            token.cancel()

    scorer = Planted("bell", None)
    gen = G.rounds(tiny_model, tiny_take, [G.WordIntent("bell", "none")], region=(0.4, 0.8), candidates=3,
                   max_rounds=2, scorer=scorer, progress=progress, cancel=token)
    with pytest.raises(Cancelled):
        next(gen)
    assert any(s.startswith("round 1/2 · 3 candidates at once · generate") for s in stages)
    assert not any("score candidate" in s for s in stages) and scorer.calls == 0


def test_intents_it_cannot_act_on_are_one_line(tiny_model, tiny_take):
    with pytest.raises(ParameterError, match="'cat' is not a word of the prompt"):
        G.guided_edit(tiny_model, tiny_take, [G.WordIntent("cat", "none")], scorer=Planted("dog", None))
    with pytest.raises(ParameterError, match="'then' is a function word"):
        G.guided_edit(tiny_model, tiny_take, [G.WordIntent("then", "less")], scorer=Planted("dog", None))
    with pytest.raises(ParameterError, match="asked both"):
        G.check_intents(tiny_take.words, [G.WordIntent("dog", "less"), G.WordIntent("dog", "more")])


def test_the_explanation_scores_any_model(tiny_model, tiny_take):
    result = G.guided_edit(tiny_model, tiny_take, [G.WordIntent("bell", "none")], region=(0.5, None),
                           candidates=1, max_rounds=1, scorer="explanation")
    assert result.scorer == "explanation"
    word = result.best.score.detail["words"]["bell"]
    assert 0.0 <= word["after"] <= 1.0 and 0.0 <= word["before"] <= 1.0


# --------------------------------------------------------------------------------------------- agx edit
from cli_fixtures import agx, take  # noqa: E402,F401  (fixtures)


def test_agx_edit_writes_ranked_candidates(agx, take, tmp_path):
    out = tmp_path / "edited"
    code, stdout, err = agx("edit", take, "--none", "bell", "--region", 0.5, 1.0, "--candidates", 2, "--rounds", 1,
                            "--scorer", "explanation", "--out", out)
    assert code == 0, err
    summary = json.loads((out / guided_cli.SUMMARY).read_text())
    assert summary["rounds_used"] == 1 and len(summary["candidates"]) == 2
    assert summary["function_words"] == ["a", "then"] and "bell" in summary["content_words"]
    first = json.loads((out / "01" / "take.json").read_text())
    assert first["kind"] == "region" and first["edit"]["weights"]["bell"] == 0.0
    assert "mute bell · region 0.50–1.00 s" in stdout and "function words left as they are: a, then" in stdout


@pytest.mark.parametrize("args, message", [
    (("--none", "cat", "--region", 0.2, 0.6), "'cat' is not a word of the prompt"),
    (("--less", "dog", "--region", 0.6, 0.2), "region"),
    (("--more", "dog", "--region", 0.2, 9.0), "after the take's end"),
    (("--region", 0.2, 0.6), "say what to change"),
])
def test_agx_edit_refuses_in_one_line(agx, take, tmp_path, args, message):
    out = tmp_path / "never"
    code, stdout, err = agx("edit", take, *args, "--out", out)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


# --------------------------------------------------------------------------------------------- bundled model
def test_bundled_classifier_scores_a_muted_event():
    from agx_desktop.engine.bundled import loader
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model
    if not (loader.BUNDLED_DIR / loader.CLASSIFIER_NAME).exists():
        pytest.skip("the bundled model's files are not in resources/bundled")
    model = load_model("bundled")
    take = generate(model, "a dog barks while rain falls", model.default_params(duration=2.0, seed=3))
    result = G.guided_edit(model, take, [G.WordIntent("dog", "none")], region=(1.0, 2.0), candidates=1,
                           max_rounds=1)
    assert result.scorer == "classifier"
    detail = result.best.score.detail
    assert detail["words"]["dog"]["event"] == "dog" and detail["span"] in ([1.8, 2.0], [1.0, 2.0])
    n0 = int(1.0 * take.sample_rate)
    assert np.array_equal(result.best.take.audio[:, :n0], take.audio[:, :n0])
