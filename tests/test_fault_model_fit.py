"""A take whose arrays were edited to no longer fit its model is refused with one line, before the LM runs."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from agx_desktop.engine.errors import NotATakeError
from agx_desktop.engine.explain import explain
from agx_desktop.engine.generation import regenerate


def _tampered(take, **arrays):
    return dataclasses.replace(take, **arrays)


@pytest.mark.parametrize("case", ["code_too_big", "negative_code", "codebooks", "latent_width"])
def test_arrays_that_do_not_fit_the_model_are_refused(tiny_model, tiny_take, case):
    codes, latents = tiny_take.codes.clone(), tiny_take.latents.clone()
    if case == "code_too_big":
        codes[0, 0] = tiny_model.card
    elif case == "negative_code":
        codes[-1, -1] = -1
    elif case == "codebooks":
        codes = codes[:-1]
    else:
        latents = torch.zeros(latents.shape[0], latents.shape[1] + 1)
    bad = _tampered(tiny_take, codes=codes, latents=latents)
    with pytest.raises(NotATakeError) as err:
        regenerate(tiny_model, bad, "weighted", word_weights=[1.0] * len(bad.words))
    message = str(err.value)
    assert "\n" not in message and "damaged" in message and "generate it again" in message
    with pytest.raises(NotATakeError):
        explain(tiny_model, bad, method="random")


def test_an_untouched_take_still_fits(tiny_model, tiny_take):
    new = regenerate(tiny_model, tiny_take, "weighted", word_weights=[1.0] * len(tiny_take.words))
    assert torch.equal(new.codes, tiny_take.codes)  # same seed, same weights: the same take


def test_stereo_audio_for_a_mono_model_is_refused(tiny_model, tiny_take):
    import numpy as np
    bad = _tampered(tiny_take, audio=np.repeat(tiny_take.audio, 2, axis=0))
    with pytest.raises(NotATakeError, match="2 channel"):
        explain(tiny_model, bad, method="random")


def test_tokens_that_are_not_the_models_reading_of_the_prompt_are_refused(tiny_model, tiny_take):
    """Edited tokens (same count) would make the masks explain other words than the user sees."""
    from agx_desktop.engine.text import TextTokens
    d = tiny_take.text.to_dict()
    d["tokens"] = list(reversed(d["tokens"]))
    bad = _tampered(tiny_take, text=TextTokens.from_dict(d))
    with pytest.raises(NotATakeError, match="reading of its prompt"):
        explain(tiny_model, bad, method="random")
