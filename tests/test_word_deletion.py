"""Word deletion (issue 18's model-grounded variant): the text without each word, KL per step."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agx_desktop.engine import teacher
from agx_desktop.engine.explain import explain
from agx_desktop.engine.explain.deletion import without_word
from agx_desktop.engine.generation import generate
from agx_desktop.engine.model_inputs import conditions_for
from agx_desktop.engine.take import GenerationParams
from test_explain import _one_word_model


@pytest.mark.parametrize("prompt, index, expected", [
    ("a dog barks", 0, "dog barks"), ("a dog barks", 1, "a barks"), ("a dog barks", 2, "a dog"),
    ("  rain,   then   thunder!  ", 1, "rain, thunder!"), ("thunder", 0, None)])
def test_without_word_closes_up_the_spaces(prompt, index, expected):
    from agx_desktop.engine.text import split_words
    assert without_word(prompt, split_words(prompt)[1][index]) == expected


def _guided(model, take, inputs, text, weights=None):
    """The take's sampling distribution [K, steps, card] under ``text`` (its words weighted by ``weights``
    through the AudioGenX mask intervention), computed here from the LM's own teacher-forced logits
    (guidance and temperature as LMModel.generate applies them)."""
    provider = model.lm.condition_provider
    with torch.no_grad():
        def logits(t, mask=None):
            return teacher.forward(model, inputs, mask=mask,
                                   condition=provider(provider.tokenize(conditions_for(t))))[1][0]
        uncond = logits(None)
        mask = None if weights is None else torch.tensor(model.text_tokens(text).word_token_mask(weights),
                                                         dtype=torch.float32)
        guided = uncond + (logits(text, mask) - uncond) * take.params.cfg_coef
    return torch.distributions.Categorical(logits=guided / take.params.temperature)


def _sampled_kl(model, take, full, without) -> np.ndarray:
    """[steps] KL summed over the codebooks that sample a code at each step (the delay pattern leaves
    the others without one)."""
    from agx_desktop.engine.explain.base import step_targets
    valid = (step_targets(model, take) >= 0).float()
    return (torch.distributions.kl_divergence(full, without) * valid).sum(0).numpy()


@pytest.fixture(scope="module")
def thunder():
    model = _one_word_model(0)
    return model, generate(model, "the loud thunder is in the distance", GenerationParams(duration=0.6, seed=2,
                                                                                          top_k=32, temperature=0.7))


def test_scores_are_the_kl_from_the_take_to_the_text_without_the_word(thunder):
    model, take = thunder
    ex = explain(model, take, method="deletion")
    inputs = teacher.prepare(model, take)
    full = _guided(model, take, inputs, take.prompt)
    without = _guided(model, take, inputs, "the loud is in the distance")
    forward_kl = _sampled_kl(model, take, full, without)  # [steps]
    reverse_kl = _sampled_kl(model, take, without, full)
    tok = take.text.token_word.index(take.words.index("thunder"))
    raw = -np.log1p(-ex.step_masks[:, tok])  # the masks are 1 - exp(-KL)
    np.testing.assert_allclose(raw, forward_kl, rtol=1e-4, atol=1e-6)
    # the direction is pinned: the reverse KL is within a few per cent here, not within float rounding
    assert np.abs(raw - reverse_kl).max() > 100 * np.abs(raw - forward_kl).max()
    assert ex.extras["kl_max"] == pytest.approx(forward_kl.max(), rel=1e-4)


def test_only_the_word_that_reaches_the_model_matters(thunder):
    """Planted: only "thunder" reaches cross-attention; deleting another word only moves the softmax's
    share of the (zero) other tokens, so its score is far below thunder's at every step."""
    model, take = thunder
    ex = explain(model, take, method="deletion")
    per_step = ex.text.tokens_to_words(ex.step_masks)  # [steps, words]
    i = ex.words.index("thunder")
    others = np.delete(per_step, i, axis=1)
    assert (per_step[:, i] > 10 * others.max(axis=1)).all(), per_step.round(3)


def test_a_word_whose_deletion_leaves_the_same_text_scores_like_its_twin(tiny_model):
    """"dog dog": deleting either copy gives the same text, so the two scores are equal."""
    take = generate(tiny_model, "a dog dog barks", GenerationParams(duration=0.5, seed=3, top_k=32))
    imp = explain(tiny_model, take, method="deletion").word_importance()
    assert imp[1] == pytest.approx(imp[2], abs=1e-9) and imp[1] > 0


def test_a_timeline_word_acts_from_its_own_segment_on(tiny_model):
    """Each position is conditioned on its own segment's words, as generation did: deleting a word of
    the second segment cannot change any step before that segment starts (scores exactly 0 there), and
    deleting a segment's only word leaves that segment the null condition."""
    from agx_desktop.engine.timeline import Segment, generate_timeline
    take = generate_timeline(tiny_model, [Segment(0.0, 0.5, "a dog barks"), Segment(0.5, 1.0, "bell")],
                             GenerationParams(duration=1.0, seed=7, top_k=32))
    ex = explain(tiny_model, take, method="deletion")
    per_step = ex.text.tokens_to_words(ex.step_masks)  # [steps, words]
    first = round(0.5 * tiny_model.frame_rate)  # the second segment's first position
    bell = take.words.index("bell")
    assert (per_step[:first, bell] == 0).all()
    assert per_step[first:, bell].max() > 0
    assert per_step[:first, take.words.index("dog")].max() > 0
    assert ex.word_spans == [(0.0, 0.5)] * 3 + [(0.5, 1.0)]


def test_a_weighted_take_is_read_with_its_weights(tiny_model):
    """A take generated with word weights: each pass applies them as generation did, the deleted word's
    weight going with it (the reference applies them through AudioGenX's mask intervention)."""
    weights = [1.0, 2.0, 0.5, 1.0, 1.0, 0.0, 1.5]
    take = generate(tiny_model, "a dog barks then a bell rings",
                    GenerationParams(duration=0.6, seed=7, top_k=32, temperature=1.3), word_weights=weights)
    ex = explain(tiny_model, take, method="deletion")
    inputs = teacher.prepare(tiny_model, take)
    full = _guided(tiny_model, take, inputs, take.prompt, weights)
    for w, text in ((1, "a barks then a bell rings"), (2, "a dog then a bell rings")):
        without = _guided(tiny_model, take, inputs, text, weights[:w] + weights[w + 1:])
        tok = take.text.token_word.index(w)
        np.testing.assert_allclose(-np.log1p(-ex.step_masks[:, tok]), _sampled_kl(tiny_model, take, full, without),
                                   rtol=1e-2, atol=2e-6)


def test_a_region_take_scores_its_region_words_from_the_region_on(tiny_model, tiny_take):
    """A region take's words are the region's; the parent's words before it are context: deleting a
    region word changes nothing before the region (exactly 0 there)."""
    from agx_desktop.engine.region import regenerate_region
    take = regenerate_region(tiny_model, tiny_take, 0.4, 0.8, prompt="a cat meows", word_weights=[1.0, 1.0, 0.5],
                             tail="regenerate")
    ex = explain(tiny_model, take, method="deletion")
    per_step = ex.text.tokens_to_words(ex.step_masks)
    first = round(0.4 * tiny_model.frame_rate)
    assert ex.words == ["a", "cat", "meows"]
    assert (per_step[:first] == 0).all() and per_step[first:].max() > 0
