"""Shared fixtures: small audiocraft models built in-process (no network, no spacy model)."""
from __future__ import annotations

import logging
import os
import warnings

import pytest
import torch

from checkpoint_layout import write_hub_layout_checkpoint  # noqa: F401  (older imports)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
logging.getLogger("xformers").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="xformers")
torch.set_num_threads(1)  # tiny models: threads only add overhead (see LoadedModel.num_threads)


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny AudioGen-shaped model (2 layers, dim 64, 4 codebooks of 64, 50 Hz, 16 kHz)."""
    from agx_desktop.engine.models import LoadedModel
    from agx_desktop.engine.standin import build_tiny_model

    gen = build_tiny_model(name="tiny-test", seed=0, dim=64, num_layers=2, card=64, max_duration=4.0)
    return LoadedModel("tiny-test", gen, torch.device("cpu"), trained=False)


@pytest.fixture(scope="session")
def tiny_take(tiny_model):
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.take import GenerationParams

    return generate(tiny_model, "a dog barks then a bell rings", GenerationParams(duration=1.0, seed=7, top_k=32))


@pytest.fixture
def cli(untrained_bundled, capsys):
    """``cli(*args)`` runs ``agx --quiet ARGS`` in this process on the untrained stand-in: (exit code,
    stdout, stderr); never a traceback."""
    from agx_desktop.engine.cli import run

    def call(*args):
        code = run(["--quiet", *map(str, args)])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err
    return call


@pytest.fixture
def untrained_bundled(monkeypatch):
    """Make the registry's 'bundled' id build the untrained stand-in, asked for by name (the
    registry never substitutes it on its own: missing bundled weights are an error)."""
    from agx_desktop.engine import models

    monkeypatch.setitem(models._ALIASES, models.BUNDLED_ID, models.STAND_IN_ID)
    saved = dict(models._CACHE)
    models._CACHE.clear()
    yield
    models._CACHE.clear()
    models._CACHE.update(saved)
