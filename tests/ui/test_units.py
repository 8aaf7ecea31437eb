"""Small pieces on their own: the job queue, analysis, settings."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from agx_desktop.engine.errors import PromptError
from agx_desktop.ui.analysis import envelope, spectrogram
from agx_desktop.ui.jobs import Job, JobRunner
from agx_desktop.ui.settings import Settings, load_settings, save_settings


def test_runner_runs_in_order_reports_progress_and_errors(qtbot):
    r = JobRunner()
    done, failed, progress = [], [], []
    r.failed.connect(lambda j, m, d: failed.append((j.title, m, "Traceback" in d)))
    r.progress.connect(lambda j, s, d, t: progress.append((j.title, s, d, t)))

    def work(name):
        def fn(ctx):
            for i in range(3):
                ctx.progress("step", i + 1, 3)
            return name
        return fn

    def bad(ctx):
        raise PromptError("the prompt is empty: describe the sound")
    jobs = [r.submit(Job("a", work("a"), done.append)), r.submit(Job("bad", bad)),
            r.submit(Job("b", work("b"), done.append))]
    assert r.running is jobs[0] and r.pending == jobs[1:]
    qtbot.waitUntil(lambda: not r.busy and not r.pending, timeout=5000)
    assert done == ["a", "b"]
    assert failed == [("bad", "the prompt is empty: describe the sound", True)]
    assert ("a", "step", 3, 3) in progress


def test_runner_cancel_and_clear_queue(qtbot):
    r = JobRunner()
    cancelled, done = [], []
    r.cancelled.connect(lambda j: cancelled.append(j.title))

    def slow(ctx):
        for i in range(500):
            time.sleep(0.01)
            ctx.progress("wait", i, 500)
        return "never"
    a = r.submit(Job("slow", slow, done.append))
    r.submit(Job("queued", slow, done.append))
    r.clear_queue()
    qtbot.waitUntil(lambda: r.busy, timeout=2000)
    t0 = time.perf_counter()
    r.cancel_current()
    qtbot.waitUntil(lambda: not r.busy, timeout=3000)
    assert time.perf_counter() - t0 < 1.0
    assert cancelled == ["queued", "slow"] and done == [] and a.token.cancelled


def test_spectrogram_finds_a_tone():
    sr = 16000
    t = np.arange(sr) / sr
    spec = spectrogram((0.5 * np.sin(2 * np.pi * 1000 * t))[None].astype(np.float32), sr)
    peak_bin = spec.db[spec.db.shape[0] // 2].argmax()
    assert abs(peak_bin * spec.max_freq / (spec.db.shape[1] - 1) - 1000) < 40
    assert spec.duration == pytest.approx(1.0) and spec.db.max() == pytest.approx(20 * np.log10(0.5), abs=1.5)


def test_envelope_keeps_peaks():
    x = np.zeros(10000, np.float32)
    x[1234] = 0.9
    x[7777] = -0.8
    lo, hi = envelope(x[None], points=100)
    assert hi.max() == pytest.approx(0.9) and lo.min() == pytest.approx(-0.8) and len(lo) == 100


def test_settings_survive_garbage(data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "settings.json").write_text("{ not json")
    assert load_settings() == Settings()
    (data_dir / "settings.json").write_text(json.dumps({"seed": "x", "duration": 2, "prompt": 5,
                                                       "export": {"lufs": -16.0, "subtype": 3}}))
    s = load_settings()
    assert s.seed == 0 and s.duration == 2.0 and s.prompt == Settings().prompt
    assert s.export.lufs == -16.0 and s.export.subtype == "PCM_24"
    s.seed = 42
    save_settings(s)
    assert load_settings().seed == 42


def test_old_settings_keep_the_sampling_the_user_had_changed(data_dir):
    """Settings from before sampling followed the model: values changed from the old fixed defaults
    (guidance 3, top-k 250, temperature 1.0) stay the user's; unchanged ones follow the model."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "settings.json").write_text(json.dumps({"cfg_coef": 3.0, "top_k": 250, "temperature": 0.9}))
    s = load_settings()
    assert s.sampling_custom == ["temperature"] and s.temperature == 0.9
    (data_dir / "settings.json").write_text(json.dumps({"sampling_custom": ["top_k", "bogus"], "top_k": 5}))
    assert load_settings().sampling_custom == ["top_k"]



def test_settings_start_from_the_engines_generation_defaults():
    """One list of generation fields: the engine's GenerationParams; the app differs only where it says why."""
    from dataclasses import fields

    from agx_desktop.engine.take import GenerationParams
    from agx_desktop.ui.settings import APP_OVERRIDES, NOT_IN_APP

    engine = GenerationParams()
    shown = [f.name for f in fields(GenerationParams) if f.name not in NOT_IN_APP]
    assert shown == ["duration", "seed", "top_k", "temperature", "cfg_coef"]
    for name in shown:
        assert getattr(Settings(), name) == APP_OVERRIDES.get(name, getattr(engine, name)), name
    assert APP_OVERRIDES == {"temperature": 0.8}


def test_a_settings_file_from_before_still_loads(data_dir):
    """Every key the settings file held before the generation fields came from GenerationParams."""
    data_dir.mkdir(parents=True, exist_ok=True)
    old = {"prompt": "rain", "model": "facebook/audiogen-medium", "duration": 3.5, "seed": 7, "cfg_coef": 4.0,
           "top_k": 100, "temperature": 0.7, "sampling_custom": ["top_k"], "epochs": 20, "method": "random",
           "variations": 2, "loop": True, "geometry": "AAA", "state": "BBB",
           "export": {"folder": "/x", "subtype": "FLOAT", "sample_rate": 48000, "normalize": "peak", "lufs": -16.0,
                      "peak_db": -2.0, "pattern": "{fxname}", "catid": "RAIN", "creator": "me", "source": "here"}}
    (data_dir / "settings.json").write_text(json.dumps(old))
    s = load_settings()

    def kept(d: dict) -> None:  # every old key and value is there; new keys (export true_peak/max_limit, …) added
        assert {k: d[k] for k in old if k != "export"} == {k: v for k, v in old.items() if k != "export"}
        assert {k: d["export"][k] for k in old["export"]} == old["export"]
        from agx_desktop.engine.delivery.loudness import CEILING_DB, MAX_LIMIT_DB
        assert d["export"]["true_peak"] == CEILING_DB and d["export"]["max_limit"] == MAX_LIMIT_DB
    kept(s.to_dict())
    save_settings(s)
    kept(json.loads((data_dir / "settings.json").read_text()))


def test_model_load_job_shows_its_stages_and_stops_when_cancelled():
    """The app's load job passes the engine's stages to its progress and its Cancel to the load
    (the emit below runs where the worker's would, so the cancel lands at a known stage)."""
    from agx_desktop.engine import models
    from agx_desktop.engine.errors import Cancelled
    from agx_desktop.ui import tasks
    from agx_desktop.ui.jobs import JobContext

    models._CACHE.clear()
    stages: list[str] = []
    job = Job("Load model bundled", tasks.load_model_task("bundled"), kind="load")

    def emit(stage: str, done: int, total: int) -> None:
        stages.append(stage)
        if stage.startswith("building"):
            job.token.cancel()  # the user presses Cancel while the model is being built
    with pytest.raises(Cancelled):
        job.fn(JobContext(job, emit))
    assert stages == ["building the untrained stand-in model"] and not models._CACHE

    stages.clear()
    again = Job("Load model bundled", tasks.load_model_task("bundled"), kind="load")
    model = again.fn(JobContext(again, lambda s, d, t: stages.append(s)))
    dev = str(models.choose_device())
    assert stages == ["building the untrained stand-in model", f"moving to {dev}", "model ready"]
    assert models._CACHE[("bundled", dev)] is model and not model.trained
    models._CACHE.clear()  # the stand-in must not serve a later test (in this process) as "bundled"


def test_job_bar_says_what_a_busy_job_is_doing(qtbot):
    """A job with no step count (loading the model) makes the bar busy, which draws no text: the label
    beside it names the job while it runs and goes away when the bar shows steps or the job ends."""
    import threading

    from agx_desktop.ui.panels.jobbar import JobBar
    r = JobRunner()
    bar = JobBar(r)
    qtbot.addWidget(bar)
    bar.show()
    release, stepped = threading.Event(), threading.Event()

    def load(ctx):
        release.wait(5)
        ctx.progress("sample", 1, 4)
        stepped.wait(5)
    r.submit(Job("Load model bundled", load, kind="load"))
    qtbot.waitUntil(lambda: bar.busy_label.isVisible(), timeout=3000)
    assert bar.busy_label.text() == "Load model bundled…" and bar.progress.maximum() == 0
    release.set()
    qtbot.waitUntil(lambda: bar.progress.maximum() == 4, timeout=3000)
    assert not bar.busy_label.isVisible()
    stepped.set()
    qtbot.waitUntil(lambda: not r.busy, timeout=3000)
    assert not bar.busy_label.isVisible() and "Done: Load model bundled" in bar.progress.format()
