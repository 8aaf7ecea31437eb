"""Speed settings (engine/speed.py): off by default, opt-in copies that leave the model as it was."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agx_desktop.engine.generation import generate
from agx_desktop.engine.speed import SpeedSettings
from agx_desktop.engine.take import GenerationParams

P = GenerationParams(duration=0.5, seed=3, top_k=32)
PROMPT = "a dog barks"


def test_every_speed_setting_is_off_by_default(tiny_model):
    assert tiny_model.speed == SpeedSettings() and tiny_model.speed.is_default
    assert (SpeedSettings().bf16, SpeedSettings().int8, SpeedSettings().threads) == (False, False, None)
    assert tiny_model.speed.label() == "float32"


def test_default_settings_give_the_same_take(tiny_model):
    same = tiny_model.with_speed(SpeedSettings())
    a, b = generate(tiny_model, PROMPT, P), generate(same, PROMPT, P)
    assert np.array_equal(a.audio, b.audio) and torch.equal(a.codes, b.codes)


def test_int8_quantises_a_copy_and_leaves_the_model(tiny_model):
    before = generate(tiny_model, PROMPT, P)
    fast = tiny_model.with_speed(SpeedSettings(int8=True))
    assert fast.lm is not tiny_model.lm and fast.compression_model is tiny_model.compression_model
    assert any("quantized" in type(m).__module__ for m in fast.lm.modules())
    assert not any("quantized" in type(m).__module__ for m in tiny_model.lm.modules())
    take = generate(fast, PROMPT, P)
    assert take.codes.shape == before.codes.shape and np.isfinite(take.audio).all()
    assert fast.fingerprint == tiny_model.fingerprint  # same weights: its takes explain with the model
    after = generate(tiny_model, PROMPT, P)  # the float model is untouched
    assert torch.equal(before.codes, after.codes)


def test_bf16_and_threads_settings(tiny_model):
    fast = tiny_model.with_speed(SpeedSettings(bf16=True, threads=1))
    assert fast.num_threads == 1 and fast.lm is tiny_model.lm and fast.speed.label() == "bf16+1 threads"
    take = generate(fast, PROMPT, P)
    assert np.isfinite(take.audio).all() and take.latents.dtype == torch.float32
    with pytest.raises(ValueError, match="threads"):
        SpeedSettings(threads=0)
