"""Take folders: atomic writes, identical round trip, clear errors."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from agx_desktop.engine import take_folder
from agx_desktop.engine.errors import NotATakeError, StorageError
from agx_desktop.engine.explain import explain


def test_round_trip_is_identical(tiny_take, tmp_path):
    folder = take_folder.save_take(tiny_take, tmp_path / "take")
    back = take_folder.load_take(folder)
    assert np.array_equal(back.audio, tiny_take.audio)
    assert torch.equal(back.codes, tiny_take.codes) and torch.equal(back.latents, tiny_take.latents)
    assert back.metadata() == tiny_take.metadata()
    meta = json.loads((folder / "take.json").read_text())
    assert meta["prompt"] == tiny_take.prompt and meta["seed"] == 7 and meta["params"]["top_k"] == 32
    assert sorted(os.listdir(tmp_path)) == ["take"]  # no temporary leftovers


def test_overwrite_is_atomic_and_keeps_nothing_half_written(tiny_take, tmp_path, monkeypatch):
    folder = take_folder.save_take(tiny_take, tmp_path / "take")
    before = (folder / "audio.wav").read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(take_folder, "save_tensors", boom)
    with pytest.raises(StorageError, match="disk holding .* is full.*previous take there is unchanged"):
        take_folder.save_take(tiny_take, folder)
    assert (folder / "audio.wav").read_bytes() == before  # the old take is intact
    assert sorted(os.listdir(tmp_path)) == ["take"]


def test_explanation_json(tiny_model, tiny_take, tmp_path):
    folder = take_folder.save_take(tiny_take, tmp_path / "take")
    ex = explain(tiny_model, tiny_take, epochs=2)
    path = take_folder.save_explanation(ex, folder, interval=(0.2, 0.6))
    doc = json.loads(path.read_text())
    assert doc["method"] == "audiogenx" and doc["model"] == "tiny-test" and doc["interval"] == [0.2, 0.6]
    assert len(doc["importance"]) == len(doc["words"]) and all(0 <= v <= 1 for v in doc["importance"])
    assert len(doc["per_frame"]) == 50 and doc["frame_rate"] == 50
    assert doc["params"]["seed"] == 0 and doc["seconds"] > 0
    # each word's kind beside its score (the "Sound words first" view's grouping), scores the interval's
    kinds = doc["word_kinds"]
    assert [k["word"] for k in kinds] == doc["words"] and [k["score"] for k in kinds] == doc["importance"]
    assert {k["kind"] for k in kinds} <= {"content", "function"} and sorted(k["rank"] for k in kinds) == list(
        range(1, len(kinds) + 1))
    back = take_folder.load_explanation(folder)
    np.testing.assert_allclose(back.word_importance((0.2, 0.6)), doc["importance"], atol=1e-5)
    # re-saving the same take keeps its explanation
    take_folder.save_take(tiny_take, folder)
    assert (folder / "explanation.json").is_file()


def test_not_a_take(tmp_path):
    with pytest.raises(NotATakeError, match="not a take folder"):
        take_folder.load_take(tmp_path)
    with pytest.raises(NotATakeError, match="not a folder"):
        take_folder.load_take(tmp_path / "nope")


def test_corrupt_take(tiny_take, tmp_path):
    folder = take_folder.save_take(tiny_take, tmp_path / "take")
    (folder / "take.json").write_text("{ not json")
    with pytest.raises(NotATakeError, match="corrupt"):
        take_folder.load_take(folder)
