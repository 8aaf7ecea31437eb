"""The bundled model's LM recipe (training/train_bundled.py): main cycle -> fine-tune plumbing,
checkpoint resume, config provenance. Tiny synthetic caches, a few steps: no world rendering."""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import pytest
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import training.train_bundled as tb  # noqa: E402

N_CLIPS = 24


@pytest.fixture
def recipe(tmp_path, monkeypatch):
    """train_bundled with RUNS/OUT in tmp_path, random codes and text states, batch 4."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    runs.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    np.savez(runs / "codes.npz", codes=rng.integers(0, 128, (N_CLIPS, 4, 125)).astype(np.int16))
    hidden = rng.normal(size=(3, 9, 384)).astype(np.float16)
    mask = np.zeros((3, 9), dtype=np.uint8)
    for i, n in enumerate((7, 8, 9)):  # three caption lengths: three buckets
        mask[i, :n] = 1
    np.savez(runs / "text.npz", hidden=hidden, mask=mask, caption_index=rng.integers(0, 3, N_CLIPS))
    monkeypatch.setattr(tb, "RUNS", runs)
    monkeypatch.setattr(tb, "OUT", out)
    monkeypatch.setattr(tb, "N_VAL", 6)
    monkeypatch.setattr(tb, "TRAIN", dict(tb.TRAIN, batch=4))
    monkeypatch.setattr(tb, "FINETUNE", dict(tb.FINETUNE, batch=4))
    monkeypatch.setenv("AGX_TRAIN_THREADS", "1")
    return runs, out


def _weights(path: pathlib.Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_finetune_needs_the_main_cycle(recipe):
    with pytest.raises(SystemExit, match="run the `lm` stage first"):
        tb.stage_lm(2, finetune=True)


def test_main_cycle_then_finetune(recipe):
    runs, out = recipe
    tb.stage_lm(2)
    assert (runs / tb.LM_MAIN).is_file()
    assert not (out / "lm.safetensors").exists()  # the shipped file is the fine-tune's
    main = _weights(runs / tb.LM_MAIN)

    tb.stage_lm(2, finetune=True)
    tuned = _weights(out / "lm.safetensors")
    assert main.keys() == tuned.keys()
    assert any(not torch.equal(main[k], tuned[k]) for k in main)  # it trained
    assert (runs / "lm_ft_ckpt.pt").is_file() and (runs / "lm_ckpt.pt").is_file()

    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["steps_done"] == 2 and cfg["finetune"]["steps_done"] == 2  # both kept
    assert cfg["finetune"]["lr"] == tb.FINETUNE["lr"] and cfg["finetune"]["seed"] == tb.FINETUNE["seed"]
    assert cfg["finetune"]["threads"] == 1 and cfg["finetune"]["cpu"]
    assert np.isfinite(cfg["finetune"]["val_loss"])

    tb.stage_lm(2)  # rerunning the main cycle forgets its old results only
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["finetune"]["steps_done"] == 2


def test_finetune_resume_gives_the_same_weights(recipe):
    runs, out = recipe
    tb.stage_lm(1)
    tb.stage_lm(4, finetune=True)
    straight = _weights(out / "lm.safetensors")
    tb.stage_lm(2, finetune=True)  # interrupted at step 2 (its checkpoint) ...
    tb.stage_lm(4, resume=str(runs / "lm_ft_ckpt.pt"), finetune=True)  # ... and continued
    resumed = _weights(out / "lm.safetensors")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
