"""agx batch --int8 / --bf16: new takes are sampled under the speed settings (each take records them),
the int8 copy is quantised once per worker process, not per take, explanations use the float model,
and a process pool gives the in-process run's audio for the same settings."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from agx_desktop.batch.backends import ProcessPool
from agx_desktop.batch.runner import run_batch
from agx_desktop.engine.models import LoadedModel
from agx_desktop.engine.speed import SpeedSettings

SHEET = ("prompt,count,duration,seed,model,explain\n"
         "a dog barks,2,0.5,11,stand-in,random\n"
         "a bell rings,1,0.5,5,stand-in,no\n")


def _takes(out: Path) -> dict[str, tuple[dict, np.ndarray]]:
    return {p.name: (json.loads((p / "take.json").read_text()), sf.read(p / "audio.wav", dtype="float32")[0])
            for p in sorted((out / "takes").iterdir())}


def test_agx_batch_int8_samples_every_new_take_under_int8_quantised_once(cli, tmp_path, monkeypatch):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    made = []
    real = LoadedModel.with_speed
    monkeypatch.setattr(LoadedModel, "with_speed", lambda self, s: made.append(s) or real(self, s))
    code, out, err = cli("batch", sheet, "--out", tmp_path / "int8", "--int8")
    assert code == 0, err
    takes = _takes(tmp_path / "int8")
    assert len(takes) == 3 and all(meta["speed"]["label"] == "int8" for meta, _ in takes.values())
    assert made == [SpeedSettings(int8=True)]  # one int8 copy for the three takes
    explained = [p for p in (tmp_path / "int8" / "takes").iterdir() if (p / "explanation.json").is_file()]
    assert len(explained) == 2
    code, out, err = cli("batch", sheet, "--out", tmp_path / "float")
    assert code == 0, err
    plain = _takes(tmp_path / "float")
    assert all("speed" not in meta for meta, _ in plain.values())  # off by default: float32 takes
    assert "--int8" in cli("batch", "--help")[1] and "--bf16" in cli("batch", "--help")[1]


def test_a_process_pool_gives_the_in_process_int8_audio(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    speed = SpeedSettings(int8=True)
    run_batch(sheet, tmp_path / "here", progress=False, speed=speed)
    with ProcessPool(2, threads=1, start_method="fork") as pool:  # fork: no second import of torch in tests
        summary = run_batch(sheet, tmp_path / "pool", pool, progress=False, speed=speed)
    assert (summary.made, summary.failed) == (3, [])
    here, pool_takes = _takes(tmp_path / "here"), _takes(tmp_path / "pool")
    assert here.keys() == pool_takes.keys()
    for name in here:
        assert pool_takes[name][0]["speed"]["label"] == "int8"
        assert np.array_equal(here[name][1], pool_takes[name][1]), name
