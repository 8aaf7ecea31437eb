"""agx batch backends: a local process pool and Ray give the same audio samples as the in-process run
for the same seeds, and a worker killed mid-row (SIGKILL after generating) is retried with nothing lost.

Ray runs on a local head bound to 127.0.0.1, started here once for the module; the Ray test is skipped
(with the reason) only where Ray cannot be imported (it is the optional extra agx-desktop[ray])."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from agx_desktop.batch.backends import ProcessPool, RayBackend
from agx_desktop.batch.plan import plan
from agx_desktop.batch.runner import run_batch
from agx_desktop.batch.sheet import read_sheet
from agx_desktop.batch.work import CRASH_ENV

SHEET = ("prompt,count,duration,seed,model,catid,creator,source,explain,format\n"
         "a dog barks,2,0.5,11,stand-in,DOGBark,JD,AGX,random,wav24\n"
         "a bell rings,2,0.5,,stand-in,BELLHand,JD,AGX,no,wav16\n")


@pytest.fixture(scope="module")
def sheet(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sheet") / "sheet.csv"
    path.write_text(SHEET, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def in_process(sheet, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inproc") / "lib"
    summary = run_batch(sheet, out, progress=False)
    assert (summary.made, summary.failed, summary.problems) == (4, [], [])
    return out


def _audio(out: Path) -> dict[str, np.ndarray]:
    return {p.name: sf.read(p / "audio.wav", dtype="float32", always_2d=True)[0]
            for p in sorted((out / "takes").iterdir())}


def _check_same_and_complete(out: Path, reference: Path, sheet: Path) -> None:
    items = plan(read_sheet(sheet)[0])
    assert sorted(p.name for p in (out / "takes").iterdir()) == sorted(i.id for i in items)
    assert sorted(p.name for p in (out / "export").iterdir()) == sorted(i.export_name for i in items)
    assert len((out / "manifest.csv").read_text(encoding="utf-8").splitlines()) == 1 + len(items)
    assert not list(out.rglob(".*")), "temporaries or locks left behind"
    mine, theirs = _audio(out), _audio(reference)
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert np.array_equal(mine[name], theirs[name]), name  # bit-identical samples, same seeds
    explained = [i for i in items if i.explain]
    assert all((out / "takes" / i.id / "explanation.json").is_file() for i in explained)


def _crash_once(monkeypatch, tmp_path: Path, sheet: Path) -> Path:
    victim = plan(read_sheet(sheet)[0])[1]
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ENV, f"{victim.id}@{marker}")
    return marker


def test_pool_worker_killed_mid_row_is_retried_and_gives_the_same_audio(sheet, in_process, tmp_path, monkeypatch):
    marker = _crash_once(monkeypatch, tmp_path, sheet)
    with ProcessPool(2, threads=1, start_method="fork") as pool:  # fork: no second import of torch in tests
        summary = run_batch(sheet, tmp_path / "lib", pool, progress=False)
        restarts = pool.restarts
    assert marker.is_file(), "the worker was not killed"
    assert restarts >= 1 and summary.retried >= 1
    assert (summary.made, summary.failed) == (4, [])
    _check_same_and_complete(tmp_path / "lib", in_process, sheet)


def test_pool_worker_killed_from_outside_costs_only_the_rows_it_had(sheet, in_process, tmp_path):
    """A worker process killed by something else (the OOM killer, a user) while rows are in flight: the
    standard pool breaks as a whole and refuses the next row; the backend starts a new one and sends the
    rows that were running again, the finished takes stay, and the batch ends complete with the
    in-process samples."""
    import signal
    import time

    killed: list[int] = []
    pool = ProcessPool(2, threads=1, start_method="fork")

    def kill_a_worker(item, folder):
        if not killed:
            pid = next(iter(pool._executor._processes))  # a worker of the running pool
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            deadline = time.monotonic() + 60
            while not pool._executor._broken and time.monotonic() < deadline:  # the next row meets a broken pool
                time.sleep(0.01)
    with pool:
        summary = run_batch(sheet, tmp_path / "lib", pool, progress=False, on_take=kill_a_worker)
    assert killed and pool.restarts >= 1  # rows in flight then were sent again (unless they had just finished)
    assert (summary.made, summary.failed) == (4, [])
    _check_same_and_complete(tmp_path / "lib", in_process, sheet)



def test_pool_row_that_always_kills_its_worker_fails_alone_and_the_rows_beside_it_are_made(sheet, in_process,
                                                                                            tmp_path, monkeypatch):
    """A row that kills every worker that runs it (out of memory, say) while other rows share the pool:
    the pool cannot say which row killed it, so the rows in flight are sent again one at a time; the
    culprit is given up after its 3 deaths with a line saying so, every other row is made."""
    items = plan(read_sheet(sheet)[0])
    monkeypatch.setenv(CRASH_ENV, f"{items[0].id}@*")
    with ProcessPool(2, threads=1, start_method="fork") as pool:
        summary = run_batch(sheet, tmp_path / "lib", pool, progress=False)
        restarts = pool.restarts
    assert summary.made == 3 and restarts >= 3
    assert len(summary.failed) == 1 and summary.failed[0].startswith(f"row 2 take 1 ({items[0].id}): its worker died 3 "
                                                                    "times while running it")
    made = {p.name: a for p, a in ((p, sf.read(p / "audio.wav", dtype="float32", always_2d=True)[0])
                                   for p in (tmp_path / "lib" / "takes").iterdir())}
    reference = _audio(in_process)
    assert sorted(made) == sorted(i.id for i in items[1:])
    assert all(np.array_equal(made[k], reference[k]) for k in made)

@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason="Ray is not installed (optional extra: pip install 'agx-desktop[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_worker_killed_mid_row_is_retried_and_gives_the_same_audio(ray_session, sheet, in_process, tmp_path,
                                                                      monkeypatch):
    marker = _crash_once(monkeypatch, tmp_path, sheet)
    with RayBackend(workers=2, threads=1) as backend:
        summary = run_batch(sheet, tmp_path / "lib", backend, progress=False)
        restarts = backend.restarts
    assert marker.is_file(), "the Ray worker was not killed"
    assert restarts >= 1 and summary.retried >= 1
    assert (summary.made, summary.failed) == (4, [])
    _check_same_and_complete(tmp_path / "lib", in_process, sheet)
    assert ray_session.is_initialized()  # the test's session is used and left as it was


def test_agx_evaluate_on_a_process_pool_gives_the_in_process_records(tmp_path, monkeypatch):
    """`agx evaluate --workers 2`: the same records (words, top-1 class, every method's scores) as the
    in-process run; the driver alone writes results.jsonl and the tables."""
    import json

    from _eval_helpers import synth_model
    from agx_desktop.batch import backends
    from agx_desktop.engine import models
    from agx_desktop.engine.cli import run

    model = synth_model()
    monkeypatch.setattr(models, "load_model", lambda *a, **k: model)  # forked workers inherit it
    monkeypatch.setattr(backends, "DEFAULT_START_METHOD", "fork")
    captions = tmp_path / "c.txt"
    captions.write_text("a dog barks\nrain falls on a roof\nthunder then a bell\n", encoding="utf-8")
    args = ["--quiet", "evaluate", str(captions), "--methods", "random,atman", "--samples", "2", "--duration",
            "0.5", "--classifier", "_eval_helpers:make_classifier"]
    assert run(args + ["--out", str(tmp_path / "one")]) == 0
    assert run(args + ["--out", str(tmp_path / "pool"), "--workers", "2"]) == 0

    def records(out):
        rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        for r in rows:
            r.pop("seconds")
            for m in r["methods"].values():
                m.pop("seconds"), m.pop("peak_mb")
        return sorted(rows, key=lambda r: r["index"])
    assert records(tmp_path / "pool") == records(tmp_path / "one")
    assert "complete: 3 of 3" in (tmp_path / "pool" / "table1.md").read_text()

