"""Region regeneration (issue 17 item 1): the parent's codes before the region are the LM's prompt,
the region gets the edited words, the audio outside what changed is the parent's, sample for sample."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agx_desktop.engine import take_folder
from agx_desktop.engine.errors import Cancelled, ModelMismatchError, ParameterError
from agx_desktop.engine.generation import decode
from agx_desktop.engine.progress import CancelToken
from agx_desktop.engine.region import (edit_label, equal_power_crossfade, regenerate_region, replace_words,
                                       splice_audio)

DOG_BELL = ["a", "dog", "barks", "then", "a", "bell", "rings"]


def _sample(seconds, sr=16000):
    return int(round(seconds * sr))


@pytest.mark.parametrize("tail", ["regenerate", "splice"])
def test_audio_before_the_region_is_the_parents_sample_for_sample(tiny_model, tiny_take, tail):
    new = regenerate_region(tiny_model, tiny_take, 0.4, 0.7, prompt=replace_words(tiny_take.prompt, {"bell": "whistle"}),
                            word_weights=[1, 0, 1, 1, 1, 1, 1], tail=tail)
    b0, b1 = _sample(0.4), _sample(0.7)
    assert np.array_equal(new.audio[:, :b0], tiny_take.audio[:, :b0])
    assert torch.equal(new.codes[:, :20], tiny_take.codes[:, :20])  # 0.4 s at 50 Hz: the LM's prompt
    assert not np.array_equal(new.audio[:, b0:b1], tiny_take.audio[:, b0:b1])  # the region did change
    if tail == "splice":  # and after the region: the parent's codes and samples again
        assert np.array_equal(new.audio[:, b1:], tiny_take.audio[:, b1:])
        assert torch.equal(new.codes[:, 35:], tiny_take.codes[:, 35:])
    assert new.audio.shape == tiny_take.audio.shape and new.latents.shape == tiny_take.latents.shape


def test_decoding_alone_would_not_keep_the_prefix(tiny_model, tiny_take):
    """Why the parent's samples are spliced in: the codec's context reaches back across frames."""
    prefix = decode(tiny_model, tiny_take.codes[:, :20])
    assert not np.array_equal(prefix, tiny_take.audio[:, :prefix.shape[1]])


def test_new_take_records_parent_region_and_edits(tiny_model, tiny_take, tmp_path):
    prompt = replace_words(tiny_take.prompt, {"bell": "whistle"})
    edits = {"replace": {"bell": "whistle"}, "weights": {"dog": 0.0}}
    new = regenerate_region(tiny_model, tiny_take, 0.4, 0.7, prompt=prompt, word_weights=[1, 0, 1, 1, 1, 1, 1],
                            tail="splice", crossfade=0.02, edits=edits)
    assert new.kind == "region" and new.parent == tiny_take.id and new.prompt == "a dog barks then a whistle rings"
    assert new.word_weights == [1, 0, 1, 1, 1, 1, 1] and new.params == tiny_take.params
    assert new.edit["region"] == [0.4, 0.7] and new.edit["tail"] == "splice" and new.edit["crossfade"] == 0.02
    assert new.edit["replace"] == {"bell": "whistle"} and new.edit["parent_prompt"] == tiny_take.prompt
    assert [(s["start"], s["end"], s["text"]) for s in new.segments] == [
        (0.0, 0.4, tiny_take.prompt), (0.4, 0.7, prompt), (0.7, 1.0, tiny_take.prompt)]
    assert edit_label(new) == "bell→whistle · mute dog · region 0.40–0.70 s"
    back = take_folder.load_take(take_folder.save_take(new, tmp_path / "edit"))
    assert back.edit == new.edit and back.segments == new.segments and back.parent == tiny_take.id
    assert np.array_equal(back.audio[:, :_sample(0.4)], tiny_take.audio[:, :_sample(0.4)])


def test_a_region_of_a_region_take_keeps_the_first_edit(tiny_model, tiny_take):
    first = regenerate_region(tiny_model, tiny_take, 0.6, 0.8, word_weights=[1, 1, 1, 1, 1, 0, 1])
    second = regenerate_region(tiny_model, first, 0.2, 0.4, word_weights=[1, 0, 1, 1, 1, 1, 1], tail="splice")
    texts = [(s["start"], s["end"], s["word_weights"]) for s in second.segments]
    assert texts[1] == (0.2, 0.4, [1, 0, 1, 1, 1, 1, 1]) and (0.6, 0.8, [1, 1, 1, 1, 1, 0, 1]) in texts
    assert np.array_equal(second.audio[:, _sample(0.4):], first.audio[:, _sample(0.4):])


@pytest.mark.parametrize("start", [0.0, 0.02, 0.5])
def test_unchanged_words_give_the_parent_back(tiny_model, tiny_take, start):
    """The region samples with the noise its steps had in the parent (same seed): an edit changes
    the sound by what it says, not by new noise, so A/B compares the edit alone."""
    same = regenerate_region(tiny_model, tiny_take, start)
    assert torch.equal(same.codes, tiny_take.codes) and np.array_equal(same.audio, tiny_take.audio)
    other_seed = regenerate_region(tiny_model, tiny_take, 0.5, seed=8)
    assert not torch.equal(other_seed.codes[:, 25:], tiny_take.codes[:, 25:])


def test_equal_power_crossfade():
    a, b = np.ones((1, 64), np.float32), np.zeros((1, 64), np.float32)
    x = equal_power_crossfade(a, b)
    assert x[0, 0] > 0.99 and x[0, -1] < 0.03 and np.all(np.diff(x[0]) < 0)
    gains_sq = equal_power_crossfade(a, b) ** 2 + equal_power_crossfade(b, a) ** 2
    np.testing.assert_allclose(gains_sq, 1.0, atol=1e-6)
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((1, 4000)), rng.standard_normal((1, 4000))  # uncorrelated: power kept
    mixed = equal_power_crossfade(u.astype(np.float32), v.astype(np.float32))
    assert abs(np.mean(mixed[:, 1800:2200] ** 2) - 1.0) < 0.15
    w = (u + 1e-3 * v).astype(np.float32)  # nearly the same audio: no 3 dB bump mid-fade
    assert abs(np.mean(equal_power_crossfade(u.astype(np.float32), w)[:, 1800:2200] ** 2) - 1.0) < 0.15
    parent, new = np.zeros((1, 100), np.float32), np.ones((1, 100), np.float32)
    out = splice_audio(parent, new, 20, 60, crossfade=10)
    assert np.all(out[:, :20] == 0) and np.all(out[:, 30:50] == 1) and np.all(out[:, 60:] == 0)
    short = splice_audio(parent, new, 20, 24, crossfade=10)  # fades shortened to half the region
    assert np.all(short[:, :20] == 0) and np.all(short[:, 24:] == 0) and short[0, 21] > 0


def test_replace_words():
    assert replace_words("A dog barks, then a bell rings.", {"bell": "church bell"}) == \
        "A dog barks, then a church bell rings."
    assert replace_words("a dog barks", {"Dog": "cat"}) == "a cat barks"
    with pytest.raises(ParameterError, match="not a word"):
        replace_words("a dog barks", {"bell": "whistle"})


@pytest.mark.parametrize("start,end,match", [(1.0, None, "rounds to the take's last frame boundary"),
                                             (0.995, None, r"start it at 0\.98 s or earlier"), (0.5, 0.5, "at least one frame"),
                                             (0.5, 2.0, "after the take's end"), (-1.0, None, "region start")])
def test_bad_regions(tiny_model, tiny_take, start, end, match):
    with pytest.raises(ParameterError, match=match):
        regenerate_region(tiny_model, tiny_take, start, end)


def test_bad_edits(tiny_model, tiny_take):
    with pytest.raises(ParameterError, match="7 word weights"):
        regenerate_region(tiny_model, tiny_take, 0.5, word_weights=[1, 0])
    with pytest.raises(ParameterError, match="tail"):
        regenerate_region(tiny_model, tiny_take, 0.5, tail="loop")
    with pytest.raises(ParameterError, match="crossfade"):
        regenerate_region(tiny_model, tiny_take, 0.5, crossfade=-0.1)
    from dataclasses import replace
    with pytest.raises(ModelMismatchError):
        regenerate_region(tiny_model, replace(tiny_take, model_fingerprint="0" * 16), 0.5)


def test_cancel_leaves_the_model_clean(tiny_model, tiny_take):
    token = CancelToken()

    def progress(stage, done, total):
        if done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        regenerate_region(tiny_model, tiny_take, 0.5, progress=progress, cancel=token)
    assert not any("forward" in layer.cross_attention.__dict__ for layer in tiny_model.lm.transformer.layers)


@pytest.fixture(scope="module")
def bundled():
    from agx_desktop.engine.bundled import loader
    from agx_desktop.engine.models import load_model

    if loader.missing_files():
        pytest.skip("the bundled model's files are not in resources/bundled")
    return load_model("bundled")


def test_prefix_identity_on_the_bundled_model(bundled):
    """The bundled codec (Griffin-Lim) has long context: decoding alone would change the prefix a lot."""
    from agx_desktop.engine.generation import generate

    take = generate(bundled, "a dog barks then a bell rings", bundled.default_params(duration=2.0, seed=1))
    new = regenerate_region(bundled, take, 1.0, 1.6, prompt=replace_words(take.prompt, {"bell": "whistle"}),
                            tail="splice")
    b0, b1 = _sample(1.0), _sample(1.6)
    assert np.array_equal(new.audio[:, :b0], take.audio[:, :b0])
    assert np.array_equal(new.audio[:, b1:], take.audio[:, b1:])
    assert not np.array_equal(new.audio[:, b0:b1], take.audio[:, b0:b1])
    prefix = decode(bundled, take.codes[:, :25])
    assert np.abs(prefix - take.audio[:, :prefix.shape[1]]).max() > 1e-3
    same = regenerate_region(bundled, take, 1.0)  # unchanged words: the parent back (same noise)
    assert torch.equal(same.codes, take.codes) and np.array_equal(same.audio, take.audio)


@pytest.mark.parametrize("tail", ["regenerate", "splice"])
def test_a_batch_of_variants_gives_each_take_as_it_would_come_alone(tiny_model, tiny_take, tail):
    """The guided edit regenerates a round's candidates in one LM run: each row keeps its own seed's noise."""
    from agx_desktop.engine.region import RegionVariant, regenerate_region_batch

    variants = [RegionVariant([1, 0, 1, 1, 1, 1, 1]), RegionVariant([1, 1, 1, 1, 1, 2, 1], seed=9),
                RegionVariant(None, edits={"guided": "parent"})]
    batch = regenerate_region_batch(tiny_model, tiny_take, 0.4, 0.7, variants, tail=tail)
    for variant, new in zip(variants, batch):
        alone = regenerate_region(tiny_model, tiny_take, 0.4, 0.7, word_weights=variant.word_weights,
                                  seed=variant.seed, tail=tail)
        assert torch.equal(new.codes, alone.codes) and np.array_equal(new.audio, alone.audio)
        assert new.word_weights == alone.word_weights and new.params == alone.params
    assert torch.equal(batch[2].codes, tiny_take.codes)  # unchanged words, same seed: the parent back
    assert batch[2].edit["guided"] == "parent" and batch[1].params.seed == 9
