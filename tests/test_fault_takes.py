"""Fault suite for take folders: where a take may be written, one writer at a time, crashes, damaged files.

Each test asserts what a user would see: the error class and its one line, the exit status of
the real ``agx`` script, the bytes of every file that was there before, the permissions of what
was written, and that no hidden temporary file is left behind.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from agx_desktop.engine import fsio, take_folder
from agx_desktop.engine.errors import (AgxError, ExplanationError, NotATakeError, OutputPathError, ParameterError,
                                       StorageError, TakeBusyError)
from agx_desktop.engine.explain.base import Explanation
from agx_desktop.engine.text import TextTokens

REPO = Path(__file__).resolve().parents[1]
AGX = Path(sys.executable).parent / "agx"


# --------------------------------------------------------------------------- helpers

def snapshot(root: Path) -> dict[str, object]:
    """Every entry under ``root``: file bytes, link targets, folders (what a user would lose)."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if ".hypothesis" in p.parts:  # hypothesis's own cache in the working folder
                continue
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = p.read_bytes()
    return out


def hidden_leftovers(folder: Path) -> list[str]:
    """Temporaries, trash folders and lock files of takes in ``folder`` (and inside its takes)."""
    found = []
    for p in folder.rglob("*"):
        if fsio.TMP_TAG in p.name or p.name.endswith(take_folder.LOCK_SUFFIX) or ".old-" in p.name or ".tmp-" in p.name:
            found.append(str(p.relative_to(folder)))
    return found


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


def other_take(take, **changes):
    """A copy of ``take`` under another id (a different take at the same path)."""
    return dataclasses.replace(take, id=changes.pop("id", "b" * 12), **changes)


def make_explanation(take, take_id: str | None = None, seed: int = 0) -> Explanation:
    """A valid explanation of ``take`` without running a method (delay pattern: step s → frames s-k)."""
    k, t = take.codes.shape
    steps = int(take.latents.shape[0])
    frames = [[s - d for d in range(k) if 0 <= s - d] for s in range(steps)]
    masks = np.random.default_rng(seed).random((steps, len(take.text.tokens)))
    return Explanation(method="random", model_id=take.model_id, prompt=take.prompt,
                       take_id=take.id if take_id is None else take_id, text=take.text, step_masks=masks,
                       step_frames=frames, n_frames=t, frame_rate=take.frame_rate, params={"seed": seed})


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has exited (temporaries tagged with it are a dead writer's)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    pid = int(proc.stdout)
    assert not fsio.pid_alive(pid)
    return pid


@pytest.fixture
def user_dirs(tmp_path, monkeypatch):
    """A home folder and a working folder full of the user's files (sentinels), cwd = home/work/sub."""
    home = tmp_path / "home"
    sub = home / "work" / "sub"
    sub.mkdir(parents=True)
    for folder in (home, home / "work", sub):
        (folder / "notes.txt").write_text(f"keep me: {folder.name}\n")
        (folder / "data").mkdir()
        (folder / "data" / "thesis.tex").write_bytes(os.urandom(64))
    (home / "work" / "plain.txt").write_text("a file the user owns\n")
    (home / "work" / "not_a_take").mkdir()
    (home / "work" / "not_a_take" / "photo.jpg").write_bytes(b"\xff\xd8" + os.urandom(32))
    (home / "work" / "link_dir").symlink_to(home / "work" / "not_a_take")
    (home / "work" / "link_file").symlink_to(home / "work" / "plain.txt")
    (home / "work" / "dangling").symlink_to(home / "work" / "nowhere")
    fake = home / "work" / "fake_take"  # the three names, but no AGX take.json
    fake.mkdir()
    for name in ("audio.wav", "tensors.safetensors"):
        (fake / name).write_bytes(b"mine")
    (fake / "take.json").write_text('{"title": "my own json"}')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(sub)
    return home


REFUSED = [
    ("", "empty"),
    ("   ", "empty"),
    (".", "current folder"),
    ("..", "above the current"),
    ("../..", "home folder"),
    ("~", "home folder"),
    ("~/", "home folder"),
    ("/", "root folder"),
    ("../plain.txt", "is a file"),
    ("../not_a_take", "not an AGX take"),
    ("../fake_take", "not an AGX take"),
    ("../link_dir", "symbolic link"),
    ("../link_file", "symbolic link"),
    ("../dangling", "symbolic link"),
    ("../plain.txt/take", "is a file, so"),
    ("../.dog.agx-lock", "temporary"),
    ("../.dog.agx-tmp-new1-ab", "temporary"),
]


# --------------------------------------------------------------------------- 1. where a take may go

@pytest.mark.parametrize("out,message", REFUSED)
def test_refused_out_paths_touch_nothing(user_dirs, tiny_take, out, message):
    before = snapshot(user_dirs)
    with pytest.raises(OutputPathError, match=message) as info:
        take_folder.check_out_path(out)
    one_line(info.value)
    with pytest.raises(OutputPathError, match=message):
        take_folder.save_take(tiny_take, out)
    assert snapshot(user_dirs) == before  # every byte, link and folder as it was
    assert not hidden_leftovers(user_dirs)


def test_allowed_out_paths(user_dirs, tiny_take):
    work = user_dirs / "work"
    # a new path (its parents are created), an existing empty folder, an earlier take
    new = take_folder.save_take(tiny_take, "../takes/a/dog")
    assert new == (work / "takes" / "a" / "dog").resolve() and take_folder.load_take(new).id == tiny_take.id
    (work / "empty").mkdir()
    assert take_folder.save_take(tiny_take, work / "empty") == (work / "empty").resolve()
    replaced = take_folder.save_take(other_take(tiny_take), new)
    assert take_folder.load_take(replaced).id == "b" * 12
    # a symlink to a take: the take it points at is replaced, the link stays
    (work / "to_dog").symlink_to(new)
    assert take_folder.check_out_path("../to_dog") == new
    take_folder.save_take(tiny_take, "../to_dog")
    assert (work / "to_dog").is_symlink() and take_folder.load_take(new).id == tiny_take.id
    assert not hidden_leftovers(work)


def test_check_out_path_property_any_text(user_dirs):
    """Any text as --out: a path that is new, empty or a take, or one OutputPathError line; nothing written."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    before = snapshot(user_dirs)
    pieces = st.sampled_from(["", ".", "..", "~", "/", "//", "../plain.txt", "../not_a_take", "../link_dir",
                              "x" * 300, "\x1b[2J", "\n", " ", "é", "\u202e", "a/b"])
    names = st.lists(pieces | st.text(max_size=8), min_size=1, max_size=5).map("/".join) | st.text(max_size=20)

    @hypothesis.settings(max_examples=300, deadline=None, database=None)
    @hypothesis.given(name=names)
    def check(name):
        try:
            target = take_folder.check_out_path(name)
        except OutputPathError as exc:
            one_line(exc)
            return
        assert target.is_absolute()
        assert not target.exists() or take_folder.is_agx_take(target) or (target.is_dir() and not os.listdir(target))
        assert target not in (user_dirs, Path.cwd(), Path("/")) and target not in Path.cwd().parents

    check()
    assert snapshot(user_dirs) == before


def test_check_out_path_writes_nothing(user_dirs):
    before = snapshot(user_dirs)
    assert take_folder.check_out_path("../new/deep/take") == (user_dirs / "work").resolve() / "new" / "deep" / "take"
    assert snapshot(user_dirs) == before


@pytest.mark.skipif(not AGX.exists(), reason="the console script is installed by `make setup`")
@pytest.mark.parametrize("out", ["..", ""])  # the two that deleted the parent / the current folder
def test_console_script_refuses_out_before_anything(user_dirs, out):
    """The real `agx`: exit 2, one line, the user's folders untouched (issue 15 item 1)."""
    before = snapshot(user_dirs)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "AGX_THREADS": "1"}
    proc = subprocess.run([str(AGX), "generate", "a dog barks", "--duration", "1", "--out", out],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agx: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert snapshot(user_dirs) == before


# --------------------------------------------------------------------------- 2. one writer at a time

HOLD_LOCK = """
import sys
from agx_desktop.engine import take_folder
with take_folder.take_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_second_process_gets_a_clear_busy_error_and_nothing_is_lost(tiny_take, tmp_path):
    folder = take_folder.save_take(tiny_take, tmp_path / "dog")
    before = snapshot(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(TakeBusyError) as info:
            take_folder.save_take(other_take(tiny_take), folder)
        msg = one_line(info.value)
        assert f"pid {holder.pid}" in msg and str(folder) in msg and "wait for it to finish" in msg
        with pytest.raises(TakeBusyError):
            take_folder.save_explanation(make_explanation(tiny_take), folder)
        with pytest.raises(TakeBusyError):
            with take_folder.take_lock(folder):
                pass
        # readers are not blocked, and the take is untouched
        assert take_folder.load_take(folder).id == tiny_take.id
        lock_file = take_folder.lock_path(folder)
        assert lock_file.exists()
        assert {k: v for k, v in snapshot(tmp_path).items() if k != lock_file.name} == before
    finally:
        holder.communicate("go\n", timeout=60)
    assert holder.returncode == 0
    # released: the lock file is gone and the next writer succeeds
    assert not take_folder.lock_path(folder).exists()
    take_folder.save_take(other_take(tiny_take), folder)
    assert take_folder.load_take(folder).id == "b" * 12
    assert not hidden_leftovers(tmp_path)


RACE = """
import sys
from agx_desktop.engine import take_folder
from agx_desktop.engine.errors import TakeBusyError
src, out, tag = sys.argv[1:]
take = take_folder.load_take(src)
take.id = tag * 12
print("ready", flush=True)
sys.stdin.readline()
done = busy = 0
for _ in range(15):
    try:
        take_folder.save_take(take, out)
        done += 1
    except TakeBusyError:
        busy += 1
print(done, busy, flush=True)
"""


def test_two_writers_racing_lose_nothing(tiny_take, tmp_path):
    src = take_folder.save_take(tiny_take, tmp_path / "src")
    out = tmp_path / "race" / "dog"
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(src), str(out), tag], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
             for tag in "cd"]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:  # start both at once
        p.stdin.write("go\n")
        p.stdin.flush()
    results = [p.communicate(timeout=300) for p in procs]
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0 and "Traceback" not in stderr, stderr
        done, busy = map(int, stdout.split())
        assert done + busy == 15
    assert sum(int(s.split()[0]) for s, _ in results) >= 1
    assert take_folder.load_take(out).id in ("c" * 12, "d" * 12)  # a whole take, one of the two
    assert sorted(os.listdir(out.parent)) == ["dog"]  # no temporary, trash or lock left


def test_lock_is_reentrant_and_threads_wait(tiny_take, tmp_path):
    folder = tmp_path / "dog"
    with take_folder.take_lock(folder) as target:
        assert target == folder.resolve()
        take_folder.save_take(tiny_take, folder)
        with take_folder.take_lock(folder):
            take_folder.save_explanation(make_explanation(tiny_take), folder)
    assert sorted(os.listdir(tmp_path)) == ["dog"]
    assert take_folder.load_explanation(folder, take=tiny_take).take_id == tiny_take.id

    held, release, errors = threading.Event(), threading.Event(), []

    def holder() -> None:
        with take_folder.take_lock(folder):
            held.set()
            release.wait(60)

    def writer() -> None:
        try:
            take_folder.save_take(other_take(tiny_take), folder)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    a = threading.Thread(target=holder)
    a.start()
    assert held.wait(60)
    b = threading.Thread(target=writer)
    b.start()
    release.set()
    a.join(60)
    b.join(60)
    assert not errors and take_folder.load_take(folder).id == "b" * 12


def test_stale_lock_file_of_a_dead_process_does_not_block(tiny_take, tmp_path, dead_pid):
    folder = tmp_path / "dog"
    take_folder.lock_path(folder).write_text(f"{' ' * 16}{dead_pid}\n")
    take_folder.save_take(tiny_take, folder)
    assert sorted(os.listdir(tmp_path)) == ["dog"]


def test_lock_leaves_no_empty_folders_when_nothing_was_written(tmp_path):
    with take_folder.take_lock(tmp_path / "a" / "b" / "dog"):
        assert (tmp_path / "a" / "b").is_dir()
    assert os.listdir(tmp_path) == []


def test_explanation_of_a_replaced_take_is_refused(tiny_take, tmp_path):
    folder = take_folder.save_take(tiny_take, tmp_path / "dog")
    explanation = make_explanation(tiny_take)  # computed for take A ...
    take_folder.save_take(other_take(tiny_take), folder)  # ... while another process replaced it by B
    with pytest.raises(ExplanationError, match="changed while it was being explained: explain it again") as info:
        take_folder.save_explanation(explanation, folder)
    one_line(info.value)
    assert not (folder / "explanation.json").exists()


def test_old_explanation_kept_only_for_the_same_take(tiny_take, tmp_path):
    folder = take_folder.save_take(tiny_take, tmp_path / "dog")
    take_folder.save_explanation(make_explanation(tiny_take), folder)
    doc = (folder / "explanation.json").read_bytes()
    take_folder.save_take(tiny_take, folder)
    assert (folder / "explanation.json").read_bytes() == doc
    take_folder.save_take(other_take(tiny_take), folder)
    assert not (folder / "explanation.json").exists()


# --------------------------------------------------------------------------- 2. crashes and recovery

def _tag(target: Path, kind: str, pid: int) -> Path:
    """A temporary name of ``target`` as a writer with ``pid`` would have made it."""
    return target.parent / f".{target.name}{fsio.TMP_TAG}{kind}{pid}-deadbeef"


CRASH_BETWEEN_RENAMES = """
import os, sys
from agx_desktop.engine import take_folder
src, out = sys.argv[1:]
take = take_folder.load_take(src)
take.id = "n" * 12
real_rename = os.rename
def rename(a, b):
    real_rename(a, b)
    if os.path.abspath(a) == os.path.abspath(out):  # the old take was moved aside: die here
        os._exit(9)
os.rename = rename
take_folder.save_take(take, out)
"""


def test_crash_between_the_renames_is_recovered_on_next_load(tiny_take, tmp_path):
    src = take_folder.save_take(tiny_take, tmp_path / "src")
    folder = take_folder.save_take(tiny_take, tmp_path / "dog")
    take_folder.save_explanation(make_explanation(tiny_take), folder)
    proc = subprocess.run([sys.executable, "-c", CRASH_BETWEEN_RENAMES, str(src), str(folder)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr
    assert not folder.exists()  # the window: no take at the path, two hidden folders
    assert len([n for n in os.listdir(tmp_path) if fsio.TMP_TAG in n]) == 2
    back = take_folder.load_take(folder)  # the next access puts the complete new take in place
    assert back.id == "n" * 12
    assert sorted(os.listdir(tmp_path)) == ["dog", "src"]


def _crashed_folder_of_takes(tiny_take, root: Path, dead_pid: int) -> None:
    """A takes folder after crashes: a save cut between its renames (no folder, two hidden ones),
    dead writers' temporaries beside and inside a take, a stale lock, a live writer's temporary,
    an old-version leftover, and a good take."""
    a = take_folder.save_take(tiny_take, root / "a")
    os.rename(a, _tag(a, "old", dead_pid))
    shutil.copytree(_tag(a, "old", dead_pid), _tag(a, "new", dead_pid))
    b = take_folder.save_take(tiny_take, root / "b")
    shutil.copytree(b, _tag(b, "new", dead_pid))
    (b / f".explanation.json{fsio.TMP_TAG}{dead_pid}-0badf00d").write_text('{"half": ')
    c = take_folder.save_take(tiny_take, root / "c")
    take_folder.lock_path(c).write_text("")  # a holder killed with -9 leaves its unlocked file
    d = take_folder.save_take(tiny_take, root / "d")
    _tag(d, "new", os.getpid()).mkdir()  # this process is alive: left alone
    e = take_folder.save_take(tiny_take, root / "e")
    os.rename(e, root / ".e.old-1a2b3c4d")
    take_folder.save_take(tiny_take, root / "f")


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_recover_all_repairs_a_folder_of_takes_as_recover_per_take_does(tiny_take, tmp_path, dead_pid):
    """One pass over the folder (the app's load_all) leaves what a recover() of each take leaves."""
    per_take, at_once = tmp_path / "per-take", tmp_path / "at-once"
    for root in (per_take, at_once):
        _crashed_folder_of_takes(tiny_take, root, dead_pid)
    for name in "abcdef":
        take_folder.recover(per_take / name)
    done = take_folder.recover_all(at_once)
    assert _tree(at_once) == _tree(per_take)
    assert sorted(n for n in os.listdir(at_once)) == sorted(["a", "b", "c", "d", "e", "f",
                                                             _tag(at_once / "d", "new", os.getpid()).name])
    assert any("restored" in line and line.endswith(_tag(at_once / "a", "new", dead_pid).name) for line in done)
    for name in "abcdef":
        assert take_folder.load_take(at_once / name, repair=False).id == tiny_take.id
    assert take_folder.recover_all(at_once) == []  # nothing left to do
    shutil.rmtree(_tag(per_take / "d", "new", os.getpid()))
    shutil.rmtree(_tag(at_once / "d", "new", os.getpid()))


def test_load_all_recovers_a_crash_between_the_renames(tiny_take, tmp_path):
    """The app's store: a real crash between the two renames, then one load_all shows the take."""
    from agx_desktop.ui.store import TakeStore

    root = tmp_path / "takes"
    src = take_folder.save_take(tiny_take, tmp_path / "src")
    folder = take_folder.save_take(tiny_take, root / "20260101000000_dog")
    take_folder.save_take(other_take(tiny_take, id="o" * 12), root / "20260101000001_other")
    proc = subprocess.run([sys.executable, "-c", CRASH_BETWEEN_RENAMES, str(src), str(folder)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr
    assert not folder.exists()
    items, notices = TakeStore(root).load_all()
    assert sorted(it.id for it in items) == ["n" * 12, "o" * 12] and notices == []
    assert sorted(os.listdir(root)) == ["20260101000000_dog", "20260101000001_other"]


def test_recovery_prefers_a_complete_new_take_else_the_old_one(tiny_take, tmp_path, dead_pid):
    folder = take_folder.save_take(tiny_take, tmp_path / "dog")
    # a writer died while writing the new take (incomplete) after moving the old one aside
    os.rename(folder, _tag(folder, "old", dead_pid))
    partial = _tag(folder, "new", dead_pid)
    partial.mkdir()
    (partial / "audio.wav").write_bytes(b"RIFF")
    assert take_folder.is_take_folder(folder)
    assert take_folder.load_take(folder).id == tiny_take.id
    assert sorted(os.listdir(tmp_path)) == ["dog"]

    # a complete but damaged new take is not preferred over the old one
    os.rename(folder, _tag(folder, "old", dead_pid))
    bad_new = _tag(folder, "new", dead_pid)
    shutil.copytree(_tag(folder, "old", dead_pid), bad_new)
    (bad_new / "tensors.safetensors").write_bytes(b"garbage")
    assert take_folder.load_take(folder).id == tiny_take.id
    assert sorted(os.listdir(tmp_path)) == ["dog"]


def test_dead_writers_temporaries_are_cleaned_live_ones_kept(tiny_take, tmp_path, dead_pid):
    folder = take_folder.save_take(tiny_take, tmp_path / "dog")
    dead_new, dead_old = _tag(folder, "new", dead_pid), _tag(folder, "old", dead_pid)
    shutil.copytree(folder, dead_new)
    shutil.copytree(folder, dead_old)
    dead_expl = folder / f".explanation.json{fsio.TMP_TAG}{dead_pid}-0badf00d"
    dead_expl.write_text('{"half": ')
    live = _tag(folder, "new", os.getpid())  # this process is alive: its temporaries are not touched
    live.mkdir()
    live_expl = folder / f".explanation.json{fsio.TMP_TAG}{os.getpid()}-0badf00d"
    live_expl.write_text("{")
    take_folder.load_take(folder)
    assert sorted(os.listdir(tmp_path)) == sorted(["dog", live.name])
    assert sorted(os.listdir(folder)) == sorted(["audio.wav", "take.json", "tensors.safetensors", live_expl.name])
    shutil.rmtree(live)
    live_expl.unlink()


def test_no_take_is_restored_while_its_writer_lives(tiny_take, tmp_path):
    folder = take_folder.save_take(tiny_take, tmp_path / "dog")
    mine = _tag(folder, "old", os.getpid())
    os.rename(folder, mine)  # "this process" is mid-swap
    with pytest.raises(NotATakeError, match="not a folder"):
        take_folder.load_take(folder)
    assert mine.is_dir() and not folder.exists()
    os.rename(mine, folder)


def test_leftovers_of_the_previous_version_are_restored(tiny_take, tmp_path):
    folder = take_folder.save_take(tiny_take, tmp_path / "take")
    os.rename(folder, tmp_path / ".take.old-1a2b3c4d")  # what the old save_take left after a crash
    assert take_folder.load_take(folder).id == tiny_take.id


KILL_LOOP = """
import sys
from agx_desktop.engine import take_folder
src, out = sys.argv[1:]
take = take_folder.load_take(src)
i = 0
while True:
    take.id = "ab"[i % 2] * 12
    take_folder.save_take(take, out)
    if i == 0:
        print("saved", flush=True)
    i += 1
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_a_random_moment_of_save_loses_nothing(tiny_take, tmp_path, seed):
    src = take_folder.save_take(tiny_take, tmp_path / "src")
    out = tmp_path / "out" / "dog"
    proc = subprocess.Popen([sys.executable, "-c", KILL_LOOP, str(src), str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "saved", proc.stderr.read() if proc.poll() is not None else ""
        threading.Event().wait(random.Random(seed).uniform(0.0, 0.4))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert take_folder.load_take(out).id in ("a" * 12, "b" * 12)
    assert sorted(os.listdir(out.parent)) == ["dog"]
    assert sorted(os.listdir(out)) == ["audio.wav", "take.json", "tensors.safetensors"]


# --------------------------------------------------------------------------- 7. permissions, strict JSON

@pytest.mark.parametrize("umask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775),
                                                     (0o077, 0o600, 0o700)])
def test_permissions_follow_the_umask(tiny_take, tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        folder = take_folder.save_take(tiny_take, tmp_path / "dog")
        take_folder.save_explanation(make_explanation(tiny_take), folder)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == dir_mode
    for name in ("audio.wav", "take.json", "tensors.safetensors", "explanation.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == file_mode, name


def _strict(text: str):
    def refuse(name):
        raise ValueError(name)
    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_and_non_finite_values_are_refused_before_writing(tiny_take, tmp_path):
    folder = take_folder.save_take(tiny_take, tmp_path / "dog")
    take_folder.save_explanation(make_explanation(tiny_take), folder)
    _strict((folder / "take.json").read_text())
    _strict((folder / "explanation.json").read_text())
    before = snapshot(tmp_path)
    for change in ({"temperature": math.nan}, {"cfg_coef": math.inf}):
        with pytest.raises(ParameterError) as info:
            take_folder.save_take(dataclasses.replace(tiny_take, params=dataclasses.replace(tiny_take.params, **change)),
                            folder)
        one_line(info.value)
    with pytest.raises(ParameterError, match="word_weights"):
        take_folder.save_take(dataclasses.replace(tiny_take, word_weights=[math.nan] * len(tiny_take.words)), folder)
    nan_audio = tiny_take.audio.copy()
    nan_audio[0, 5] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        take_folder.save_take(dataclasses.replace(tiny_take, audio=nan_audio), folder)
    ex = make_explanation(tiny_take)
    ex.step_masks[3, 1] = np.nan
    with pytest.raises(ExplanationError, match="NaN"):
        take_folder.save_explanation(ex, folder)
    ex = make_explanation(tiny_take)
    ex.params["eps"] = math.inf
    with pytest.raises(ExplanationError):
        take_folder.save_explanation(ex, folder)
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- 4. damaged files

def _edit_meta(change):
    def apply(folder: Path) -> None:
        meta = json.loads((folder / "take.json").read_text())
        change(meta)
        (folder / "take.json").write_text(json.dumps(meta))
    return apply


def _raw_meta(text: str):
    return lambda folder: (folder / "take.json").write_text(text)


def _edit_tensors(change):
    def apply(folder: Path) -> None:
        tensors = dict(load_file(str(folder / "tensors.safetensors")))
        change(tensors)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "tensors.safetensors"))
    return apply


def _edit_audio(change):
    def apply(folder: Path) -> None:
        audio, sr = sf.read(folder / "audio.wav", dtype="float32", always_2d=True)
        audio, sr = change(audio, sr)
        sf.write(folder / "audio.wav", audio, sr, subtype="FLOAT")
    return apply


def _set(path: str, value):
    def change(meta: dict) -> None:
        *parents, key = path.split(".")
        d = meta
        for p in parents:
            d = d[p]
        if value is _DELETE:
            del d[key]
        else:
            d[key] = value
    return change


_DELETE = object()

TAKE_TAMPER = {
    # take.json
    "meta garbage": ("take.json", lambda f: (f / "take.json").write_bytes(os.urandom(200))),
    "meta brace": ("take.json", _raw_meta("{")),
    "meta list": ("take.json", _raw_meta("[]")),
    "meta deep": ("take.json", _raw_meta("[" * 100_000)),
    "meta NaN": ("take.json", lambda f: (f / "take.json").write_text(
        (f / "take.json").read_text().replace('"temperature": 1.0', '"temperature": NaN'))),
    "meta 1e999": ("take.json", lambda f: (f / "take.json").write_text(
        (f / "take.json").read_text().replace('"cfg_coef": 3.0', '"cfg_coef": 1e999'))),
    "no format": ("take.json", _edit_meta(_set("format", _DELETE))),
    "created int": ("take.json", _edit_meta(_set("created", 12345))),
    "created null": ("take.json", _edit_meta(_set("created", None))),
    "prompt number": ("take.json", _edit_meta(_set("prompt", 5))),
    "id traversal": ("take.json", _edit_meta(_set("id", "../../etc"))),
    "model list": ("take.json", _edit_meta(_set("model", ["x"]))),
    "params string": ("take.json", _edit_meta(_set("params.temperature", "hot"))),
    "params bool": ("take.json", _edit_meta(_set("params.top_k", True))),
    "params unknown": ("take.json", _edit_meta(_set("params.evil", 1))),
    "params range": ("take.json", _edit_meta(_set("params.top_p", 7.0))),
    "seed huge": ("take.json", _edit_meta(_set("params.seed", 2 ** 70))),
    "seed differs": ("take.json", _edit_meta(_set("seed", 99))),
    "sample rate str": ("take.json", _edit_meta(_set("sample_rate", "16000"))),
    "sample rate 0": ("take.json", _edit_meta(_set("sample_rate", 0))),
    "frame rate neg": ("take.json", _edit_meta(_set("frame_rate", -50))),
    "weights short": ("take.json", _edit_meta(_set("word_weights", [1.0]))),
    "weights neg": ("take.json", _edit_meta(_set("word_weights", [-1.0] * 7))),
    "kind evil": ("take.json", _edit_meta(_set("kind", "evil"))),
    "text missing": ("take.json", _edit_meta(_set("text", _DELETE))),
    "token_word range": ("take.json", _edit_meta(_set("text.token_word", [0, 1, 2, 3, 4, 5, 99]))),
    "token_word short": ("take.json", _edit_meta(_set("text.token_word", [0]))),
    "words other": ("take.json", _edit_meta(_set("text.words", ["a", "cat", "barks", "then", "a", "bell", "rings"]))),
    "text prompt": ("take.json", _edit_meta(_set("text.prompt", "a cat barks then a bell rings"))),
    "spans wrong": ("take.json", _edit_meta(_set("text.word_spans", [[0, 2]] * 7))),
    # audio.wav
    "audio garbage": ("audio.wav", lambda f: (f / "audio.wav").write_bytes(os.urandom(300))),
    "audio empty": ("audio.wav", lambda f: (f / "audio.wav").write_bytes(b"")),
    "audio half": ("audio.wav", _edit_audio(lambda a, sr: (a[: len(a) // 2], sr))),
    "audio other rate": ("audio.wav", _edit_audio(lambda a, sr: (a, 44100))),
    "audio NaN": ("audio.wav", _edit_audio(lambda a, sr: (np.where(np.arange(len(a))[:, None] == 9, np.nan, a), sr))),
    # tensors.safetensors
    "tensors garbage": ("tensors.safetensors", lambda f: (f / "tensors.safetensors").write_bytes(os.urandom(100))),
    "tensors truncated": ("tensors.safetensors", lambda f: (f / "tensors.safetensors").write_bytes(
        (f / "tensors.safetensors").read_bytes()[:-100])),
    "codes negative": ("tensors.safetensors", _edit_tensors(lambda t: t["codes"].__setitem__((0, 3), -1))),
    "codes huge": ("tensors.safetensors", _edit_tensors(lambda t: t["codes"].__setitem__((1, 3), 10 ** 9))),
    "codes float": ("tensors.safetensors", _edit_tensors(lambda t: t.__setitem__("codes", t["codes"].float()))),
    "codes 1-D": ("tensors.safetensors", _edit_tensors(lambda t: t.__setitem__("codes", t["codes"].flatten()))),
    "codes 3-D": ("tensors.safetensors", _edit_tensors(lambda t: t.__setitem__("codes", t["codes"][None]))),
    "codes half": ("tensors.safetensors", _edit_tensors(lambda t: t.__setitem__("codes", t["codes"][:, :25]))),
    "codes missing": ("tensors.safetensors", _edit_tensors(lambda t: t.pop("codes"))),
    "latents NaN": ("tensors.safetensors", _edit_tensors(lambda t: t["latents"].__setitem__((2, 2), math.nan))),
    "latents short": ("tensors.safetensors", _edit_tensors(lambda t: t.__setitem__("latents", t["latents"][:10]))),
    "latents int": ("tensors.safetensors", _edit_tensors(lambda t: t.__setitem__("latents", t["latents"].long()))),
    "step mask shape": ("tensors.safetensors", _edit_tensors(lambda t: t.__setitem__("step_mask", torch.ones(5, 3)))),
}


@pytest.fixture(scope="module")
def saved_take(tiny_take, tmp_path_factory):
    return take_folder.save_take(tiny_take, tmp_path_factory.mktemp("pristine") / "take")


@pytest.mark.parametrize("case", sorted(TAKE_TAMPER))
def test_damaged_take_gives_one_line_naming_the_file(saved_take, tmp_path, case):
    file, damage = TAKE_TAMPER[case]
    folder = tmp_path / "take"
    shutil.copytree(saved_take, folder)
    damage(folder)
    with pytest.raises(NotATakeError) as info:
        take_folder.load_take(folder)
    msg = one_line(info.value)
    assert str(folder / file) in msg, msg
    assert "generate the take again" in msg or "backup" in msg
    # a damaged AGX take may still be replaced by a new one (unless take.json no longer says AGX)
    if take_folder.is_agx_take(folder):
        assert take_folder.check_out_path(folder) == folder.resolve()


def _edit_doc(change):
    def apply(folder: Path) -> None:
        doc = json.loads((folder / "explanation.json").read_text())
        change(doc)
        (folder / "explanation.json").write_text(json.dumps(doc))
    return apply


def _raw_doc(text: str):
    return lambda folder: (folder / "explanation.json").write_text(text)


def _doc_set(key, value):
    return _edit_doc(lambda d: d.__setitem__(key, value) if value is not _DELETE else d.pop(key))


EXPLANATION_TAMPER = {
    "garbage": _raw_doc("\x00\x01 not json"),
    "brace": _raw_doc("{"),
    "empty": _raw_doc(""),
    "list": _raw_doc("[1, 2]"),
    "string": _raw_doc('"hello"'),
    "method int": _doc_set("method", 5),
    "prompt null": _doc_set("prompt", None),
    "take_id list": _doc_set("take_id", ["x"]),
    "masks NaN": _edit_doc(lambda d: d["step_masks"][0].__setitem__(0, math.nan)),
    "masks inf": _edit_doc(lambda d: d["step_masks"][0].__setitem__(0, math.inf)),
    "masks 1e999": lambda f: (_edit_doc(lambda d: d["step_masks"][0].__setitem__(0, math.inf))(f),
                              (f / "explanation.json").write_text(
                                  (f / "explanation.json").read_text().replace("Infinity", "1e999"))),
    "masks above 1": _edit_doc(lambda d: d["step_masks"][0].__setitem__(0, 1.5)),
    "masks below 0": _edit_doc(lambda d: d["step_masks"][1].__setitem__(1, -0.1)),
    "masks strings": _edit_doc(lambda d: d["step_masks"][1].__setitem__(1, "0.5")),
    "masks null": _edit_doc(lambda d: d["step_masks"][1].__setitem__(1, None)),
    "masks ragged": _edit_doc(lambda d: d["step_masks"][2].pop()),
    "masks 1-D": _doc_set("step_masks", [0.5, 0.5]),
    "masks 3-D": _edit_doc(lambda d: d.__setitem__("step_masks", [d["step_masks"]])),
    "masks columns": _edit_doc(lambda d: d.__setitem__("step_masks", [r + [0.5] for r in d["step_masks"]])),
    "masks empty": _doc_set("step_masks", []),
    "n_frames huge": _doc_set("n_frames", 10 ** 12),
    "n_frames 0": _doc_set("n_frames", 0),
    "n_frames str": _doc_set("n_frames", "50"),
    "n_frames float": _doc_set("n_frames", 50.5),
    "step_frames negative": _edit_doc(lambda d: d["step_frames"][3].append(-1)),
    "step_frames huge": _edit_doc(lambda d: d["step_frames"][3].append(10 ** 9)),
    "step_frames short": _edit_doc(lambda d: d["step_frames"].pop()),
    "step_frames ints": _edit_doc(lambda d: d["step_frames"].__setitem__(0, 0)),
    "frame_rate 0": _doc_set("frame_rate", 0),
    "frame_rate str": _doc_set("frame_rate", "50"),
    "aggregation": _doc_set("word_aggregation", "median"),
    "params list": _doc_set("params", [1]),
    "text missing": _doc_set("text", _DELETE),
    "text words": _edit_doc(lambda d: d["text"].__setitem__("words", ["x"])),
    "text token_word": _edit_doc(lambda d: d["text"].__setitem__("token_word", [None] * 6 + [42])),
    "words differ": _doc_set("words", ["a", "cat"]),
    "seconds neg": _doc_set("seconds", -3),
}


@pytest.fixture(scope="module")
def explained_take(tiny_take, tmp_path_factory):
    folder = take_folder.save_take(tiny_take, tmp_path_factory.mktemp("explained") / "take")
    take_folder.save_explanation(make_explanation(tiny_take), folder)
    return folder


@pytest.mark.parametrize("case", sorted(EXPLANATION_TAMPER))
def test_damaged_explanation_gives_one_line(explained_take, tiny_take, tmp_path, case):
    folder = tmp_path / "take"
    shutil.copytree(explained_take, folder)
    EXPLANATION_TAMPER[case](folder)
    before = (folder / "explanation.json").read_bytes()
    with pytest.raises(ExplanationError) as info:
        take_folder.load_explanation(folder)
    msg = one_line(info.value)
    assert str(folder / "explanation.json") in msg and "agx explain" in msg, msg
    assert (folder / "explanation.json").read_bytes() == before  # nothing is written back
    # the take itself still loads and may be explained again (the damaged file is replaced)
    take_folder.save_explanation(make_explanation(tiny_take, seed=5), folder)
    assert take_folder.load_explanation(folder, take=tiny_take).params == {"seed": 5}


def test_explanation_missing_or_of_another_take(explained_take, tiny_take, tmp_path):
    folder = tmp_path / "take"
    shutil.copytree(explained_take, folder)
    assert take_folder.load_explanation(folder, take=tiny_take).take_id == tiny_take.id
    with pytest.raises(ExplanationError, match="explains another take") as info:
        take_folder.load_explanation(folder, take=other_take(tiny_take))
    one_line(info.value)
    short = other_take(tiny_take, id=tiny_take.id, codes=tiny_take.codes[:, :40])
    with pytest.raises(ExplanationError, match="does not fit its take"):
        take_folder.load_explanation(folder, take=short)
    (folder / "explanation.json").unlink()
    with pytest.raises(ExplanationError, match=r"has no explanation yet: run `agx explain .*` first") as info:
        take_folder.load_explanation(folder)
    one_line(info.value)
    with pytest.raises(ExplanationError, match="not a folder"):
        take_folder.load_explanation(tmp_path / "missing")


def test_text_tokens_from_dict_checks_its_structure(tiny_take):
    good = tiny_take.text.to_dict()
    assert TextTokens.from_dict(json.loads(json.dumps(good))) == tiny_take.text
    bad_cases = [None, [], {**good, "prompt": 3}, {**good, "tokens": "abc"}, {**good, "tokens": [1, 2]},
                 {**good, "token_word": [0] * 3}, {**good, "token_word": [True] + good["token_word"][1:]},
                 {**good, "token_word": [-1] + good["token_word"][1:]}, {**good, "words": ["a"]},
                 {**good, "word_spans": [[0, 1, 2]] * 7}, {**good, "word_spans": "x"}]
    for bad in bad_cases:
        with pytest.raises(ValueError) as info:
            TextTokens.from_dict(bad)
        one_line(info.value)


def test_explanation_from_json_never_raises_anything_else(tiny_take):
    """Property test: any JSON value in any field gives ExplanationError or a valid explanation."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    base = make_explanation(tiny_take).to_json()
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70)
        | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=5),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3),
        max_leaves=12)

    @hypothesis.settings(max_examples=300, deadline=None, database=None)
    @hypothesis.given(key=st.sampled_from(sorted(base)), value=json_values)
    def check(key, value):
        doc = json.loads(json.dumps(base))
        doc[key] = value
        try:
            ex = Explanation.from_json(doc)
        except ExplanationError as exc:
            one_line(exc)
            return
        assert np.isfinite(ex.step_masks).all()
        assert 1 <= ex.n_frames <= ex.n_steps
        ex.per_frame_words()
        json.dumps(ex.to_json(), allow_nan=False)

    check()


# --------------------------------------------------------------------------- full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 320 kB tmpfs at tmp_path/disk (skipped where this process may not mount one)."""
    mount = shutil.which("mount")
    disk = tmp_path / "disk"
    disk.mkdir()
    if mount is None or not sys.platform.startswith("linux"):
        pytest.skip("no mount command on this system: the full-disk case needs a small tmpfs")
    proc = subprocess.run([mount, "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(disk)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip() or proc.returncode}): "
                    "the full-disk case needs root or CAP_SYS_ADMIN")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_full_disk_keeps_the_previous_take_and_leaves_no_temp(tiny_take, small_disk):
    folder = take_folder.save_take(tiny_take, small_disk / "dog")  # about 80 kB: fits
    take_folder.save_explanation(make_explanation(tiny_take), folder)
    before = snapshot(small_disk)
    reps = 8  # 8 s of audio (512 kB): does not fit beside the first take
    big = other_take(tiny_take, audio=np.tile(tiny_take.audio, (1, reps)), codes=tiny_take.codes.repeat(1, reps),
                     latents=torch.zeros(tiny_take.codes.shape[1] * reps + 3, tiny_take.latents.shape[1]))
    with pytest.raises(StorageError, match="disk holding .* is full") as info:
        take_folder.save_take(big, folder)
    msg = one_line(info.value)
    assert "previous take there is unchanged" in msg
    assert snapshot(small_disk) == before  # the old take and its explanation, byte for byte; no temp
    assert take_folder.load_take(folder).id == tiny_take.id
    with pytest.raises(StorageError, match="disk holding .* is full.*nothing was written"):
        take_folder.save_take(big, small_disk / "new")
    assert snapshot(small_disk) == before
    # explanation.json on a full disk: the old one stays
    filler = small_disk / "filler"
    with pytest.raises(OSError):
        with open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    ex = make_explanation(tiny_take, seed=9)
    ex.extras["pad"] = "x" * 200_000
    with pytest.raises(StorageError, match="disk holding .* is full") as info:
        take_folder.save_explanation(ex, folder)
    one_line(info.value)
    filler.unlink()
    assert snapshot(small_disk) == before
    # the same disk read-only: one line, the take still loads
    if subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True).returncode == 0:
        for write in (lambda: take_folder.save_take(other_take(tiny_take), folder),
                      lambda: take_folder.save_explanation(make_explanation(tiny_take), folder)):
            with pytest.raises(StorageError, match="read-only disk; choose a folder you may write to") as info:
                write()
            one_line(info.value)
        assert take_folder.load_take(folder).id == tiny_take.id
        assert snapshot(small_disk) == before


def test_any_agx_error_is_one_line():
    """Sanity: every error raised above derives from AgxError (the CLI's one-line path)."""
    for cls in (OutputPathError, TakeBusyError, ExplanationError, NotATakeError, StorageError, ParameterError):
        assert issubclass(cls, AgxError)


# --------------------------------------------------------------------------- found by the fault probe

def test_a_take_holding_a_users_file_is_not_replaced(tiny_take, saved_take, tmp_path):
    """`--out` over a take folder where the user also keeps notes must not delete the notes."""
    folder = tmp_path / "take"
    shutil.copytree(saved_take, folder)
    (folder / "notes.txt").write_text("keep the second bark")
    before = snapshot(tmp_path)
    with pytest.raises(OutputPathError) as info:
        take_folder.save_take(tiny_take, folder)
    msg = one_line(info.value)
    assert "notes.txt" in msg and "move them out" in msg
    assert snapshot(tmp_path) == before


def test_a_take_whose_duration_disagrees_with_its_codes_is_refused(saved_take, tmp_path):
    folder = tmp_path / "take"
    shutil.copytree(saved_take, folder)
    meta = json.loads((folder / take_folder.META).read_text())
    meta["params"]["duration"] = 1e308
    (folder / take_folder.META).write_text(json.dumps(meta))
    with pytest.raises(NotATakeError) as info:
        take_folder.load_take(folder)
    assert "'params.duration' is 1e+308 s but its codes last" in one_line(info.value)


def test_an_audio_file_with_other_channels_than_recorded_is_refused(saved_take, tmp_path):
    import soundfile as sf
    folder = tmp_path / "take"
    shutil.copytree(saved_take, folder)
    assert json.loads((folder / take_folder.META).read_text())["channels"] == 1
    audio, sr = sf.read(folder / take_folder.AUDIO, dtype="float32", always_2d=True)
    sf.write(folder / take_folder.AUDIO, np.repeat(audio, 2, axis=1), sr, subtype="FLOAT")
    with pytest.raises(NotATakeError) as info:
        take_folder.load_take(folder)
    assert "2 channel(s) but take.json says 1" in one_line(info.value)
