"""Defects found in review of the speed settings (engine/speed.py, models.LoadedModel.with_speed, the app's
sampling copy in ui/tasks.py): each test shows what a user would have hit."""
from __future__ import annotations

import numpy as np
import torch

from agx_desktop.engine.generation import generate
from agx_desktop.engine.speed import SpeedSettings
from agx_desktop.engine.take import GenerationParams

P = GenerationParams(duration=0.5, seed=3, top_k=32)


def test_int8_copy_shares_the_text_encoder_it_does_not_duplicate_it():
    """The int8 copy is documented to share the codec and the text encoder. The text conditioner keeps its
    frozen encoder and tokenizer outside the module tree (the bundled MiniLM, 22.7 M parameters, 9x the LM;
    audiocraft's T5 for AudioGen-medium); a plain deepcopy of the LM copied them anyway, so turning int8 on
    cost a second encoder's memory (AudioGen-medium: a second T5, ~0.4 GB) on the machines int8 is for."""
    from agx_desktop.engine.models import load_model
    model = load_model("bundled", "cpu")
    fast = model.with_speed(SpeedSettings(int8=True))
    float_cond = model.lm.condition_provider.conditioners["description"]
    int8_cond = fast.lm.condition_provider.conditioners["description"]
    hidden = [k for k, v in vars(float_cond).items() if isinstance(v, torch.nn.Module) or "tokenizer" in k]
    assert hidden  # the encoder and tokenizer the conditioner hides from the module tree
    for key in hidden:
        assert vars(int8_cond)[key] is vars(float_cond)[key], key
    take = generate(fast, "a dog barks", P)  # the copy still samples through the shared encoder
    assert np.isfinite(take.audio).all() and take.speed["label"] == "int8"
