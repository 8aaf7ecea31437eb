"""Generation: determinism, what a Take holds, word weights, regeneration variants, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agx_desktop.engine import teacher
from agx_desktop.engine.errors import Cancelled, DurationError, ParameterError, PromptError
from agx_desktop.engine.explain import explain
from agx_desktop.engine.generation import generate, regenerate
from agx_desktop.engine.progress import CancelToken
from agx_desktop.engine.take import GenerationParams

P = GenerationParams(duration=0.5, seed=3, top_k=32)


def test_same_seed_same_audio_other_seed_other_audio(tiny_model):
    a = generate(tiny_model, "a dog barks", P)
    b = generate(tiny_model, "a dog barks", P)
    c = generate(tiny_model, "a dog barks", GenerationParams(duration=0.5, seed=4, top_k=32))
    assert np.array_equal(a.audio, b.audio) and torch.equal(a.codes, b.codes)
    assert not torch.equal(a.codes, c.codes)


def test_take_holds_everything(tiny_model, tiny_take):
    t = tiny_take
    assert t.audio.dtype == np.float32 and t.audio.shape == (1, 16000)
    assert t.codes.shape == (4, 50) and t.codes.dtype == torch.int64
    assert t.latents.shape == (50 + 3, 64)  # delay pattern: frames + K - 1 steps
    assert t.text.words == ["a", "dog", "barks", "then", "a", "bell", "rings"]
    assert t.params.seed == 7 and t.sample_rate == 16000 and t.frame_rate == 50
    # the stored per-step latents are the conditional branch's: a teacher-forced pass agrees
    inputs = teacher.prepare(tiny_model, t)
    with torch.no_grad():
        tf = teacher.latents(tiny_model, inputs)[0]
    torch.testing.assert_close(tf, t.latents, atol=1e-4, rtol=1e-4)


def test_word_weights(tiny_model):
    base = generate(tiny_model, "a dog barks", P)
    ones = generate(tiny_model, "a dog barks", P, word_weights=[1, 1, 1])
    muted = generate(tiny_model, "a dog barks", P, word_weights=[1, 0, 1])
    boosted = generate(tiny_model, "a dog barks", P, word_weights=[1, 3, 1])
    assert torch.equal(base.codes, ones.codes)
    assert not torch.equal(base.codes, muted.codes) and not torch.equal(base.codes, boosted.codes)
    assert muted.kind == "weighted" and muted.word_weights == [1.0, 0.0, 1.0]


def test_regenerate_variants(tiny_model, tiny_take):
    ex = explain(tiny_model, tiny_take, epochs=2)
    fact = regenerate(tiny_model, tiny_take, "factual", explanation=ex)
    cf = regenerate(tiny_model, tiny_take, "counterfactual", explanation=ex)
    w = regenerate(tiny_model, tiny_take, "weighted", word_weights=[1.0] * len(tiny_take.words))
    assert fact.kind == "factual" and cf.kind == "counterfactual" and fact.parent == tiny_take.id
    assert fact.params.seed == tiny_take.params.seed
    np.testing.assert_allclose(fact.step_mask + cf.step_mask, 1.0, atol=1e-6)
    assert torch.equal(w.codes, tiny_take.codes)  # all-ones weights = the original take
    with pytest.raises(ParameterError, match="explain it first"):
        regenerate(tiny_model, tiny_take, "factual")


def test_progress_and_cancel(tiny_model):
    token = CancelToken()
    seen = []

    def progress(stage, done, total):
        seen.append(done)
        if done == 5:
            token.cancel()

    with pytest.raises(Cancelled):
        generate(tiny_model, "a dog barks", P, progress=progress, cancel=token)
    assert seen[-1] == 5


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_empty_prompt(tiny_model, prompt):
    with pytest.raises(PromptError, match="empty"):
        generate(tiny_model, prompt, P)


def test_prompt_too_long(tiny_model):
    limit = tiny_model.max_text_tokens
    with pytest.raises(PromptError, match=f"at most {limit}"):
        generate(tiny_model, " ".join(["rain"] * (limit + 1)), P)


@pytest.mark.parametrize("duration", [0, -1.0, 4.5, float("nan")])
def test_bad_durations(tiny_model, duration):
    with pytest.raises(DurationError):
        generate(tiny_model, "a dog barks", GenerationParams(duration=duration))


@pytest.mark.parametrize("field,value", [("top_k", -1), ("top_p", 1.5), ("temperature", -0.1), ("cfg_coef", -1)])
def test_bad_sampling_params(tiny_model, field, value):
    with pytest.raises(ParameterError):
        generate(tiny_model, "a dog barks", GenerationParams(duration=0.2, **{field: value}))


def test_bad_word_weights(tiny_model):
    with pytest.raises(ParameterError, match="3 word weights"):
        generate(tiny_model, "a dog barks", P, word_weights=[1, 1])
    with pytest.raises(ParameterError, match=">= 0"):
        generate(tiny_model, "a dog barks", P, word_weights=[1, -1, 1])


def test_take_from_other_weights_under_the_same_id_is_refused(tiny_model, tiny_take):
    from dataclasses import replace
    from agx_desktop.engine.errors import ModelMismatchError

    assert tiny_take.model_fingerprint == tiny_model.fingerprint
    stale = replace(tiny_take, model_fingerprint="0" * 16)
    with pytest.raises(ModelMismatchError, match="other weights"):
        explain(tiny_model, stale, epochs=1)
    with pytest.raises(ModelMismatchError, match="other weights"):
        regenerate(tiny_model, stale, "weighted", word_weights=[1.0] * len(stale.words))
