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
    model = load_model("bundled", "cpu", use_cache=False)  # the trained one (ui tests leave a stand-in cached)
    assert model.trained
    fast = model.with_speed(SpeedSettings(int8=True))
    float_cond = model.lm.condition_provider.conditioners["description"]
    int8_cond = fast.lm.condition_provider.conditioners["description"]
    hidden = [k for k, v in vars(float_cond).items() if isinstance(v, torch.nn.Module) or "tokenizer" in k]
    assert hidden  # the encoder and tokenizer the conditioner hides from the module tree
    for key in hidden:
        assert vars(int8_cond)[key] is vars(float_cond)[key], key
    take = generate(fast, "a dog barks", P)  # the copy still samples through the shared encoder
    assert np.isfinite(take.audio).all() and take.speed["label"] == "int8"


def test_the_apps_int8_setting_does_not_fail_every_take_of_a_model_on_the_gpu(monkeypatch):
    """The app loads a model on CUDA where there is one, and with_speed refuses int8 off the CPU; with the
    Model menu's int8 checked (a remembered setting), every Generate and Regenerate failed with 'int8
    quantisation runs on the CPU only'. int8 is left out where the model is not on the CPU: the take
    is sampled in float32 with the other settings and records so."""
    from types import SimpleNamespace

    from agx_desktop.engine.models import LoadedModel
    from agx_desktop.engine.standin import build_tiny_model
    from agx_desktop.ui import tasks
    model = LoadedModel("tiny-gpu", build_tiny_model(name="tiny-gpu", seed=0, dim=64, num_layers=2, card=64,
                                                     max_duration=4.0), torch.device("cpu"), trained=False)
    model.device = torch.device("cuda")  # as a model loaded on the GPU reports itself (no GPU needed here)
    monkeypatch.setattr(tasks, "_model", lambda ctx, model_id: model)
    ctx = SimpleNamespace(progress=lambda *a: None)
    sampler = tasks._sampling_model(ctx, "tiny-gpu", {"int8": True, "bf16": False, "threads": 0})
    assert sampler is model and sampler.speed.is_default  # nothing else asked for: the model itself
    asked = []
    monkeypatch.setattr(model, "with_speed", lambda settings: asked.append(settings) or model)
    tasks._sampling_model(ctx, "tiny-gpu", {"int8": True, "bf16": False, "threads": 1})
    assert asked == [SpeedSettings(threads=1)]  # the other settings still apply, int8 does not
