"""agx batch after ``kill -9`` of the driver mid-run: the rerun finishes the sheet with no duplicate take,
no half-written take or export, no temporary left, and the takes finished before the kill untouched.
While the driver runs, a second ``agx batch`` on the same folder is refused in one line and writes nothing;
the killed driver's lock file is left behind but does not block the rerun."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agx_desktop.batch.plan import plan
from agx_desktop.batch.runner import run_batch
from agx_desktop.batch.sheet import read_sheet
from agx_desktop.engine.take_folder import load_explanation, load_take

SHEET = ("prompt,count,duration,seed,model,catid,creator,source,explain,format\n"
         "a door creaks,6,1,3,stand-in,MISCMisc,JD,AGX,random,wav24\n")


def _manifest(out: Path) -> list[dict[str, str]]:
    try:
        with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def test_kill_9_of_the_driver_mid_run_then_rerun_completes_without_duplicates(tmp_path, capsys):
    from agx_desktop.engine.cli import run

    sheet = tmp_path / "sheet.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    out = tmp_path / "lib"
    env = {**os.environ, "AGX_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    driver = subprocess.Popen([sys.executable, "-m", "agx_desktop.engine.cli", "--quiet", "batch", str(sheet),
                               "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while len(_manifest(out)) < 1 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        capsys.readouterr()
        if driver.poll() is None:  # a second driver on the folder in use: refused before it writes anything
            listing = sorted(p.name for p in (out / "takes").iterdir())
            assert run(["--quiet", "batch", str(sheet), "--out", str(out)]) == 2
            err2 = capsys.readouterr().err
            assert err2 == (f"agx: error: another agx batch (pid {driver.pid}) is running in {out}: wait for it to "
                            "finish or stop it, then run this again (nothing was written)\n")
            assert len(err2.strip().splitlines()) == 1
            assert set(listing) <= {p.name for p in (out / "takes").iterdir()}
    finally:
        driver.send_signal(signal.SIGKILL)
        _, err = driver.communicate()
    assert driver.returncode == -signal.SIGKILL, f"the driver ended before it was killed: {err.decode()[-500:]}"
    stale = out / ".batch-driver.agx-lock"
    assert stale.is_file()  # what kill -9 leaves; the OS has released the lock itself
    before = _manifest(out)
    assert 1 <= len(before) < 6
    finished = {m["TakeFolder"]: (out / m["TakeFolder"] / "audio.wav").stat().st_mtime_ns for m in before}

    summary = run_batch(sheet, out, progress=False)
    assert summary.failed == [] and summary.done_before == len(before)
    items = plan(read_sheet(sheet)[0])
    after = _manifest(out)
    assert [m["TakeFolder"] for m in after] == [f"takes/{i.id}" for i in items]  # each once, in sheet order
    assert len({m["TakeID"] for m in after}) == len(items)
    assert sorted(os.listdir(out / "takes")) == sorted(i.id for i in items)
    assert sorted(os.listdir(out / "export")) == sorted(i.export_name for i in items)
    assert not list(out.rglob(".*")) and not stale.exists(), "a temporary or lock was left behind"
    for m in after:  # every take whole: loads, its explanation fits it, the manifest names it
        take = load_take(out / m["TakeFolder"])
        assert take.id == m["TakeID"] and load_explanation(out / m["TakeFolder"], take).take_id == take.id
        assert (out / m["Filename"]).stat().st_size > 1000
    for folder, mtime in finished.items():  # never redone or rewritten
        assert (out / folder / "audio.wav").stat().st_mtime_ns == mtime


def _pool_workers(pid: int) -> set[int]:
    """The pool's worker processes among the children of ``pid`` (Linux /proc), not its resource tracker."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids |= {int(k) for k in (task / "children").read_text().split()}
        except OSError:
            pass
    return {k for k in kids if b"resource_tracker" not in _cmdline(k)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_ctrl_c_of_agx_batch_on_a_process_pool_exits_130_keeps_whole_takes_and_a_rerun_finishes(tmp_path):
    """Ctrl+C in the terminal (SIGINT to the whole process group, workers included) mid-run: the driver
    stops its workers, says how to continue and exits 130; no worker is left running, every take folder
    there is whole, nothing half-written is left; the same command then finishes the sheet."""
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(SHEET, encoding="utf-8")
    out = tmp_path / "lib"
    env = {**os.environ, "AGX_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    # `agx batch --workers 2` as typed, with forked workers (as in the other pool tests: no second torch import)
    command = ("import sys; from agx_desktop.batch import backends; backends.DEFAULT_START_METHOD = 'fork'; "
               "from agx_desktop.engine.cli import main; sys.argv[0] = 'agx'; main()")
    driver = subprocess.Popen([sys.executable, "-c", command, "--quiet", "batch", str(sheet), "--out", str(out),
                               "--workers", "2", "--threads", "1"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while len(_manifest(out)) < 1 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _pool_workers(driver.pid)
        os.killpg(driver.pid, signal.SIGINT)
        stdout, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.communicate()
    assert driver.returncode == 130, err.decode()[-800:]
    assert err.decode().rstrip().endswith("agx: stopped; run the same command again to continue")
    assert stdout.decode().startswith("interrupted: ")
    assert len(workers) == 2 and not [p for p in workers if _running(p)], "a worker outlived the driver"
    made = _manifest(out)
    assert 1 <= len(made) < 6
    assert not list(out.rglob(".*")), "a half-written file or lock was left"
    for folder in (out / "takes").iterdir():  # whatever is there is a whole take (an explanation may follow)
        load_take(folder)
    for m in made:
        take = load_take(out / m["TakeFolder"])
        assert load_explanation(out / m["TakeFolder"], take).take_id == take.id and (out / m["Filename"]).is_file()

    summary = run_batch(sheet, out, progress=False)
    assert (summary.done_before, summary.failed) == (len(made), []) and summary.finished == 6
    assert len(os.listdir(out / "takes")) == 6 and len(os.listdir(out / "export")) == 6
