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


def test_a_take_records_its_speed_settings(tiny_model):
    """A default take records nothing (as every take before the settings existed); a take made under a
    setting says its precision, quantisation and threads in its metadata."""
    plain = generate(tiny_model, PROMPT, P)
    assert plain.speed is None and "speed" not in plain.metadata()
    fast = generate(tiny_model.with_speed(SpeedSettings(int8=True, threads=1)), PROMPT, P)
    assert fast.metadata()["speed"] == {"precision": "float32", "quantisation": "int8 dynamic (linear layers)",
                                        "threads": 1, "label": "int8+1 threads"}
    bf16 = generate(tiny_model.with_speed(SpeedSettings(bf16=True)), PROMPT, P)
    assert bf16.speed["precision"] == "bf16 autocast" and bf16.speed["threads"] is None


def test_the_speed_record_survives_saving_and_shows_in_the_takes_list(tiny_model, tmp_path):
    """A take reloaded from its folder still says it was sampled under int8, and the takes list shows it;
    a default take reloads with no record and its line is unchanged."""
    from types import SimpleNamespace

    from agx_desktop.engine import take_folder
    from agx_desktop.ui.widgets.history import describe
    fast = generate(tiny_model.with_speed(SpeedSettings(int8=True, threads=1)), PROMPT, P)
    back = take_folder.load_take(take_folder.save_take(fast, tmp_path / "fast"))
    assert back.speed == fast.speed
    assert "int8+1 threads" in describe(SimpleNamespace(take=back, explanation=None, notes={}))
    plain = take_folder.load_take(take_folder.save_take(generate(tiny_model, PROMPT, P), tmp_path / "plain"))
    assert plain.speed is None
    assert "threads" not in describe(SimpleNamespace(take=plain, explanation=None, notes={}))


def test_int8_copy_leaves_no_float_linear_behind(tiny_model):
    """The copy is quantised in place (one float32 copy at the peak): every nn.Linear of the copy is
    a quantised one, none of the original's is."""
    from torch import nn
    fast = tiny_model.with_speed(SpeedSettings(int8=True))
    assert not any(type(m) is nn.Linear for m in fast.lm.modules())
    assert any(type(m) is nn.Linear for m in tiny_model.lm.modules())


def test_int8_with_bf16_stores_the_left_float_projections_as_bf16(tiny_model):
    """int8+bf16: the attention in-projections int8 leaves float are bf16 in the copy (autocast would
    cast them at every step); the copy samples; the int8-only copy and the model keep float32."""
    both = tiny_model.with_speed(SpeedSettings(int8=True, bf16=True))
    only = both.with_speed(SpeedSettings(int8=True))
    back = both.with_speed(SpeedSettings())

    def dtypes(model):
        return {m._parameters["in_proj_weight"].dtype for m in model.lm.modules()
                if m._parameters.get("in_proj_weight") is not None}
    assert dtypes(both) == {torch.bfloat16}
    assert dtypes(only) == {torch.float32} and dtypes(tiny_model) == {torch.float32}
    assert back.lm is tiny_model.lm  # turning int8 off gives the float LM back, not the copy
    take = generate(both, PROMPT, P)
    assert np.isfinite(take.audio).all() and take.speed["label"] == "bf16+int8"
