"""Fault probe for issue 15 ("Nothing lost, nothing run"): ~210 bad inputs and faults against the real CLI.

Every case runs in a fresh folder under a temporary root created here (``/tmp/agx-fault-probe-*``), with
HOME, TMPDIR, AGX_DATA_DIR and the current folder pointed inside it, next to sentinel files (its
parent, the current folder, HOME, an unrelated folder, a file) that are checked byte for byte after
the case. Paths given to ``agx`` are checked to lie inside the case folder before anything runs; the
one case that names ``/`` runs as user ``nobody``, who cannot write there. Mounts (a 16 KiB tmpfs for
a full disk, a read-only bind mount) are made only inside the case folder and only as root.

How a case runs: ``agx`` is forked from a server process that has already imported the engine (the
same ``agx_desktop.engine.cli:main`` the console script calls, with its own cwd, environment,
umask and stdout/stderr files), because importing torch + audiocraft costs ~15 s per process on a
loaded 2-core machine. Cases marked ``@exec`` (and the bundled-model and app cases) run the real
``.venv/bin/agx`` / a fresh interpreter instead, as a cross-check. Each case records exit codes,
stderr lines, tracebacks, lost sentinels, take folders that are missing or do not load
(``takes.load_take`` in this process; after a kill or race that left something behind, again after
one ``agx explain`` of each target: the next access, which must recover an interrupted replace),
stray temporary files (and lock files) after that, and marker files that a malicious pickle's
``__reduce__`` creates if it is ever unpickled. Half of the CLI kills land a few milliseconds after
the command's first temporary file appears (inside the write), the others at random moments.

Verdicts: ok (a clear one-line refusal, or success with everything intact), traceback, data_lost,
half_written, code_ran, stray_temps, accepted_silently (NaN written to JSON, a half-length WAV used,
an escape sequence printed, ...), bad_permissions, unclear (refused, but not in one clear line),
hang, not_run (with the reason).

    .venv/bin/python benchmarks/fault_probe.py [--kills 50] [--quick] [--only CATEGORY ...]
        [--out benchmarks/results] [--code worktree|COMMIT] [--before] [--keep]

``--code COMMIT`` measures that commit from a ``git archive`` copy (the working tree is not touched);
``--before`` stores the run as ``fault_probe_before.json``, the column the next runs compare with.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import typing as tp
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
VENV_PY = ROOT / ".venv" / "bin" / "python"
VENV_AGX = ROOT / ".venv" / "bin" / "agx"
sys.path.insert(0, str(HERE))

import _fault_cases as fc  # noqa: E402

VERDICTS = ["code_ran", "data_lost", "half_written", "traceback", "hang", "stray_temps", "accepted_silently",
            "bad_permissions", "unclear", "ok", "not_run"]
TEMP_RE = re.compile(r"(\.tmp-|\.old-|agx-tmp-|\.explanation\.json\.|\.take\.json\.|\.audio\.wav\.|"
                     r"\.tensors\.safetensors\.|\.partial|\.trash|^tmp[a-z0-9_]{6,}$|\.agx-lock$)")
TRIGGER_RE = re.compile(TEMP_RE.pattern.replace(r"|\.agx-lock$", ""))  # a write has begun (not a lock)
NOISE_RE = re.compile(r"^(loading model.*|\s+\[\d+/\d+\].*|.*%\|.*|.*Loading weights.*|\s*|resuming:.*|\d+ captions.*)$")
COPY_SNIPPET = """
import sys, pathlib
import agx_desktop.engine.bundled.loader as L
want = pathlib.Path(sys.argv.pop(1)).resolve()
if pathlib.Path(L.BUNDLED_DIR).resolve() != want:
    print(f"probe: this code does not read the bundled model from {want} (it reads {L.BUNDLED_DIR})", file=sys.stderr)
    sys.exit(97)
sys.argv[0] = "agx"
from agx_desktop.engine.cli import main
main()
"""


# =========================================================================== the fork server

def _server_main() -> None:
    """Import the engine once, then fork one child per job (requests and answers are JSON lines)."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    t0 = time.perf_counter()
    failed = _preimport()
    import torch
    torch.set_num_threads(1)
    import agx_desktop
    sys.stdout.flush()
    sys.stderr.flush()
    proto.write(json.dumps({"ready": True, "import_s": time.perf_counter() - t0, "failed": failed,
                            "threads": threading.active_count(), "agx": agx_desktop.__file__}) + "\n")
    for line in sys.stdin:
        req = json.loads(line)
        pids, starts = [], []
        for job in req["jobs"]:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(job)
            pids.append(pid)
            starts.append(time.monotonic())
        proto.write(json.dumps({"pids": pids}) + "\n")
        proto.write(json.dumps({"results": _wait_all(pids, starts, [j["timeout"] + j["delay"] for j in req["jobs"]])})
                    + "\n")


def _preimport() -> list[str]:
    """Every engine module (and the store/export side of the UI), so children never import lazily."""
    import importlib
    import pkgutil
    import warnings
    warnings.filterwarnings("ignore")
    failed = []
    import agx_desktop.engine as eng
    names = [m.name for m in pkgutil.walk_packages(eng.__path__, "agx_desktop.engine.")]
    names += ["agx_desktop.ui.store", "agx_desktop.ui.analysis", "agx_desktop.ui.export", "agx_desktop.ui.paths",
              "agx_desktop.ui.settings", "audiocraft.models", "audiocraft.models.builders", "omegaconf",
              "soundfile", "safetensors.torch"]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a module others are editing right now: record, go on
            failed.append(f"{name}: {type(exc).__name__}: {exc}"[:200])
    return failed


def _wait_all(pids: list[int], starts: list[float], timeouts: list[float]) -> list[dict]:
    out: list[dict | None] = [None] * len(pids)
    while any(o is None for o in out):
        for i, pid in enumerate(pids):
            if out[i] is not None:
                continue
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                out[i] = {"rc": os.waitstatus_to_exitcode(status), "wall": time.monotonic() - starts[i],
                          "timed_out": False}
            elif time.monotonic() - starts[i] > timeouts[i]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                out[i] = {"rc": -9, "wall": time.monotonic() - starts[i], "timed_out": True}
        time.sleep(0.01)
    return tp.cast(list, out)


def _child(job: dict) -> tp.NoReturn:
    """A forked job: the case's cwd, environment, umask, files and user; then cli.main() or a call."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if job["delay"]:
            time.sleep(job["delay"])
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        os.umask(job["umask"])
        fd_in = os.open(os.devnull, os.O_RDONLY)
        fd_out = os.open(job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        fd_err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd_in, 0)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        if job.get("uid") is not None:
            os.setgroups([])
            os.setgid(job["uid"])
            os.setuid(job["uid"])
            if os.geteuid() != job["uid"]:
                os._exit(98)
        if job.get("crash"):
            _install_crash(job["crash"], job["crash_marker"])
        if job.get("argv") is not None:
            sys.argv = ["agx", *job["argv"]]
            from agx_desktop.engine.cli import main
            main()
        else:
            getattr(fc, job["call"])(**job["args"])
        code = 0
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _install_crash(spec: dict, marker: str) -> None:
    """Die like kill -9 just before/after the n-th rename of a folder (the replace's rename window)."""
    count = [0]

    def wrap(real: tp.Callable) -> tp.Callable:
        def renamer(src: tp.Any, dst: tp.Any, *a: tp.Any, **k: tp.Any) -> tp.Any:
            is_dir = isinstance(src, (str, bytes, os.PathLike)) and os.path.isdir(src) and not os.path.islink(src)
            if is_dir:
                count[0] += 1
                if count[0] == spec["n"] and spec["when"] == "before":
                    Path(marker).write_text(f"before rename {count[0]}: {src} -> {dst}")
                    os._exit(137)
            result = real(src, dst, *a, **k)
            if is_dir and count[0] == spec["n"] and spec["when"] == "after":
                Path(marker).write_text(f"after rename {count[0]}: {src} -> {dst}")
                os._exit(137)
            return result
        return renamer
    os.replace = wrap(os.replace)
    os.rename = wrap(os.rename)


class Server:
    """The probe's handle on the fork server."""

    def __init__(self, env: dict[str, str]) -> None:
        cmd = ["nice", "-n", "5", str(VENV_PY), str(Path(__file__).resolve()), "--server"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=str(env["TMPDIR"]), bufsize=1)
        hello = self.proc.stdout.readline()
        if not hello:
            raise SystemExit("fault probe: the server did not start (see its stderr above)")
        self.info = json.loads(hello)

    def start(self, jobs: list[dict]) -> list[int]:
        self.proc.stdin.write(json.dumps({"jobs": jobs}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["pids"]

    def finish(self) -> list[dict]:
        return json.loads(self.proc.stdout.readline())["results"]

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()


# =========================================================================== running cases

class SafetyError(Exception):
    """A case would touch a path outside its own folder: it is not run."""


@dataclass
class JobResult:
    rc: int | None
    wall: float
    stdout: bytes = b""
    stderr_bytes: bytes = b""
    timed_out: bool = False
    killed: bool = False
    crash_reached: str = ""

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace")

    @property
    def traceback(self) -> bool:
        return b"Traceback (most recent call last)" in self.stdout + self.stderr_bytes

    def lines(self) -> list[str]:
        return [ln for ln in re.split(r"[\r\n]", self.stderr) if ln.strip()]

    def message_lines(self) -> list[str]:
        """stderr without progress bars, model-loading steps and argparse's usage block."""
        lines = [ln for ln in self.lines() if not NOISE_RE.match(ln)]
        if lines and re.match(r"^(usage: |\s)", lines[0]) and re.search(r": error: ", lines[-1]):
            lines = [lines[-1]]
        return lines

    def exception(self) -> str:
        lines = self.lines()
        if not self.traceback:
            return ""
        for ln in reversed(lines):
            if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)?(: |$)", ln) and \
                    not ln.startswith(("agx", "  ")):
                return ln[:200]
        return lines[-1][:200] if lines else ""

    def clear_refusal(self) -> bool:
        msg = self.message_lines()
        return (self.rc not in (0, None) and not self.traceback and len(msg) == 1
                and bool(re.match(r"^(agx[\w -]*: error: |error: )\S", msg[0])))


class Probe:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="agx-fault-probe-")).resolve()
        if not (str(self.root).startswith(tempfile.gettempdir()) and "agx-fault-probe-" in self.root.name):
            raise SystemExit(f"fault probe: unexpected temp root {self.root}")
        os.chmod(self.root, 0o755)  # the `--out /` case runs as nobody and must reach its folder
        self.code = self._code(args.code)
        self.base = self.root / "base"
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.is_root = os.geteuid() == 0
        self.mounts: list[Path] = []
        self.estimates: dict[str, float] = {}  # usual seconds per killed command, updated as runs finish
        (self.root / "srvtmp").mkdir()
        env = self._env(self.root / "srvtmp", self.root / "srvtmp")
        env["TMPDIR"] = str(self.root / "srvtmp")
        self.server = Server(env)
        if self.code != ROOT:
            sys.path.insert(0, str(self.code))
        try:  # the code under test, as the checks' loader (named takes.py before commit 16's rename)
            from agx_desktop.engine import take_folder as takes
        except ImportError:
            from agx_desktop.engine import takes  # type: ignore[no-redef]
        self.takes = takes
        # load_explanation imports every explainer (~15 s here): do it while the base takes are made
        self.importer = threading.Thread(target=lambda: __import__("agx_desktop.engine.explain"), daemon=True)
        self.importer.start()

    # ----------------------------------------------------------------- setup
    def _code(self, spec: str) -> Path:
        if spec == "worktree":
            return ROOT
        dest = self.root / "code"
        dest.mkdir()
        files = ["agx_desktop"] + [f"resources/bundled/{n}" for n in
                                   ("config.json", "lm.safetensors", "codec.safetensors", "classifier.safetensors")]
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", spec, *files], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
        return dest

    def _env(self, case: Path, home: Path | None = None) -> dict[str, str]:
        home = home or case / "home"
        env = {"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
               "TMPDIR": str(case / "tmp"), "AGX_DATA_DIR": str(case / "data"), "AGX_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_DATA_HOME": str(home / ".local" / "share")}
        if self.code != ROOT:
            env["PYTHONPATH"] = str(self.code)
        return env

    def build_base(self) -> dict:
        """Takes A and B (explained) and a tiny audiocraft checkpoint, made once and copied per case."""
        for sub in ("tmp", "data"):
            (self.base / sub).mkdir(parents=True)
        t0 = time.perf_counter()
        steps = [[fc.Job(argv=[*fc.GEN, "--out", "A"], cwd="."), fc.Job(argv=[*fc.GEN[:-1], "2", "--out", "B"], cwd=".")],
                 [fc.Job(argv=["explain", "A", *fc.EXPLAIN_EPOCHS], cwd="."),
                  fc.Job(argv=["explain", "B", *fc.EXPLAIN_EPOCHS], cwd="."),
                  fc.Job(call="make_base_checkpoint", args={"folder": "@ckpt"}, cwd=".")]]
        for jobs in steps:
            res = self.run_jobs(self.base, jobs, "base", home=self.root / "srvtmp")
            for j, r in zip(jobs, res):
                if r.rc != 0:
                    raise SystemExit(f"fault probe: base setup failed: {j.argv or j.call}: rc {r.rc}\n{r.stderr[-2000:]}")
        return {"base_s": time.perf_counter() - t0}

    def calibrate(self) -> dict[str, float]:
        """How long each killed command usually takes here (the kill delays are spread over it)."""
        out = {}
        self.importer.join()  # its CPU use would make every command look slower than it is
        for kind, argv in fc.kill_calibration().items():
            walls = []
            for attempt in range(2):
                case = self.root / "calibrate" / f"{kind}-{attempt}"
                fc.standard_layout(case)
                ctx = fc.Ctx(case, self.base, self.code)
                ctx.copy_take("A", "work/sub/takes/t")
                ctx.copy_take("B", "work/sub/takes/r")
                walls.append(self.run_jobs(case, [fc.Job(argv=argv)], f"calibrate-{kind}-{attempt}")[0].wall)
            out[kind] = round(min(walls), 2)
        shutil.rmtree(self.root / "calibrate", ignore_errors=True)
        self.estimates = dict(out)
        return out

    # ----------------------------------------------------------------- jobs
    def _sub(self, value: tp.Any, case: Path) -> tp.Any:
        if isinstance(value, str) and value.startswith("@"):
            if value == "@python":
                return str(VENV_PY)
            if value.startswith("@base/"):
                return str(self.base / value[6:])
            return str(case / value[1:])
        if isinstance(value, list):
            return [self._sub(v, case) for v in value]
        if isinstance(value, dict):
            return {k: self._sub(v, case) for k, v in value.items()}
        return value

    def _inside(self, path: Path, allowed: Path) -> bool:
        try:
            path.resolve().relative_to(allowed.resolve())
            return True
        except ValueError:
            return False

    def _safe(self, job: fc.Job, case: Path, cwd: Path, env: dict[str, str], argv: list[str], args: dict) -> None:
        """Refuse to run anything that names a path outside the case folder (``/`` only as nobody)."""
        for what, path in (("cwd", cwd), ("HOME", Path(env["HOME"])), ("TMPDIR", Path(env["TMPDIR"])),
                           ("AGX_DATA_DIR", Path(env["AGX_DATA_DIR"]))):
            if not self._inside(path, self.root):
                raise SafetyError(f"{what} {path} is outside the probe's folder")
        for tok in argv:
            if not (tok in ("", ".", "..") or tok.startswith(("~", "/", ".")) or "/" in tok):
                continue
            expanded = Path(env["HOME"] + tok[1:]) if tok.startswith("~") else Path(tok)
            path = expanded if expanded.is_absolute() else cwd / expanded
            if tok == "/" and job.uid == fc.NOBODY:
                continue
            if not self._inside(path, case) and not self._inside(path, self.base):
                raise SafetyError(f"argument {tok!r} resolves to {path.resolve()}, outside the case folder")
        for v in _strings(args):
            if v.startswith("/") and not self._inside(Path(v), self.root):
                raise SafetyError(f"call argument {v} is outside the probe's folder")

    def run_jobs(self, case: Path, jobs: list[fc.Job], tag: str, home: Path | None = None) -> list[JobResult]:
        specs, execs = [], []
        for i, job in enumerate(jobs):
            cwd = case / job.cwd
            env = self._env(case, home)
            env.update({k: self._sub(v, case) for k, v in job.env.items()})
            argv = self._sub(job.argv, case) if job.argv is not None else None
            args = self._sub(job.args, case)
            self._safe(job, case, cwd, env, argv or [], args)
            out, err = self.logs / f"{tag}.{i}.out", self.logs / f"{tag}.{i}.err"
            spec = {"cwd": str(cwd), "env": env, "umask": job.umask, "stdout": str(out), "stderr": str(err),
                    "delay": job.delay, "timeout": job.timeout, "uid": job.uid, "argv": argv, "call": job.call,
                    "args": args, "crash": job.crash, "crash_marker": str(self.logs / f"{tag}.{i}.crash")}
            if job.mode == "fork":
                specs.append((i, spec))
            else:
                if job.mode == "copy":
                    env["PYTHONPATH"] = str(case / "code")
                    cmd = [str(VENV_PY), "-c", COPY_SNIPPET, str(case / "code" / "resources" / "bundled"), *argv]
                elif job.exec_cmd:
                    cmd = self._sub(job.exec_cmd, case)
                else:
                    cmd = [str(VENV_AGX), *argv]
                execs.append((i, spec, cmd))
        results: list[JobResult | None] = [None] * len(jobs)
        t_start = time.monotonic()
        pids: dict[int, int] = {}
        if specs:
            for (i, _), pid in zip(specs, self.server.start([s for _, s in specs])):
                pids[i] = pid
        procs = {}
        for i, spec, cmd in execs:
            fout, ferr = open(spec["stdout"], "wb"), open(spec["stderr"], "wb")
            procs[i] = (subprocess.Popen(["nice", "-n", "5", *cmd], cwd=spec["cwd"], env=spec["env"], stdout=fout,
                                         stderr=ferr, stdin=subprocess.DEVNULL,
                                         preexec_fn=lambda m=spec["umask"]: os.umask(m)), fout, ferr, time.monotonic())
            pids[i] = procs[i][0].pid
        killed = self._kill_schedule(case, jobs, pids, t_start)
        if specs:
            for (i, _), r in zip(specs, self.server.finish()):
                results[i] = JobResult(rc=r["rc"], wall=r["wall"], timed_out=r["timed_out"])
        for i, (proc, fout, ferr, t0) in procs.items():
            try:
                rc = proc.wait(timeout=jobs[i].timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                proc.kill()
                rc, timed_out = proc.wait(), True
            fout.close()
            ferr.close()
            results[i] = JobResult(rc=rc, wall=time.monotonic() - t0, timed_out=timed_out)
        for i, r in enumerate(results):
            assert r is not None
            out, err = self.logs / f"{tag}.{i}.out", self.logs / f"{tag}.{i}.err"
            r.stdout = out.read_bytes() if out.is_file() else b""  # killed before it opened its files
            r.stderr_bytes = err.read_bytes() if err.is_file() else b""
            r.killed = i in killed
            crash = self.logs / f"{tag}.{i}.crash"
            r.crash_reached = crash.read_text() if crash.is_file() else ""
        return tp.cast(list, results)

    def _kill_schedule(self, case: Path, jobs: list[fc.Job], pids: dict[int, int], t_start: float) -> set[int]:
        """SIGKILL the jobs that ask for it, at their time (after their start file appears, if any)."""
        pending = {i: j for i, j in enumerate(jobs) if j.kill_after is not None or j.kill_frac is not None}
        killed: set[int] = set()
        armed: dict[int, float] = {}
        deadline = time.monotonic() + max((j.timeout for j in jobs), default=60)
        while pending and time.monotonic() < deadline:
            now = time.monotonic()
            for i, job in list(pending.items()):
                if i not in armed:
                    if job.kill_frac is not None:
                        armed[i] = t_start + job.delay + job.kill_frac * self.estimates[job.kill_kind]
                    elif job.kill_when is None:
                        armed[i] = t_start + job.delay + job.kill_after
                    elif job.kill_when.startswith("temp:"):
                        try:
                            names = os.listdir(case / job.kill_when[5:])
                        except OSError:
                            names = []
                        if any(TRIGGER_RE.search(n) for n in names):
                            armed[i] = now + job.kill_after
                    elif (case / job.kill_when).exists():
                        armed[i] = now + job.kill_after
                    if i not in armed and not _alive(pids[i]):  # it finished before its moment came
                        pending.pop(i)
                        continue
                if i in armed and now >= armed[i]:
                    try:
                        os.kill(pids[i], signal.SIGKILL)
                        killed.add(i)
                    except ProcessLookupError:
                        pass
                    pending.pop(i)
            time.sleep(0.002)
        return killed

    # ----------------------------------------------------------------- mounts
    def mount(self, case: fc.Case, folder: Path) -> str | None:
        """Mounts a case asks for; returns a reason when they cannot be made here."""
        kind = _mount_kind(case.id)
        if kind is None:
            return None
        if not self.is_root:
            return "needs root (mount)"
        try:
            if kind.startswith("tmpfs"):
                target = folder / "full"
                target.mkdir(exist_ok=True)
                size = "16k" if kind == "tmpfs" else "1m"  # 16 KiB: not even audio.wav (32 KiB) fits
                self._run_mount(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(target)], target)
                if kind == "tmpfs-fill":
                    fc.Ctx(folder, self.base, self.code).copy_take("A", "full/takes/kept")
                    fd = os.open(target / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
                    try:
                        while os.write(fd, b"\0" * 4096):
                            pass
                    except OSError:  # ENOSPC: the disk is full to the last page
                        pass
                    finally:
                        os.close(fd)
            elif kind == "ro":
                src, target = folder / "ro_src", folder / "ro"
                src.mkdir(exist_ok=True)
                target.mkdir(exist_ok=True)
                self._run_mount(["mount", "--bind", str(src), str(target)], target)
                subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True, capture_output=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            self.unmount_all()
            return f"mount failed: {exc}"
        return None

    def _run_mount(self, cmd: list[str], target: Path) -> None:
        if not self._inside(target, self.root):
            raise SafetyError(f"mount point {target} outside the probe's folder")
        subprocess.run(cmd, check=True, capture_output=True)
        self.mounts.append(target)

    def unmount_all(self) -> None:
        while self.mounts:
            target = self.mounts.pop()
            if subprocess.run(["umount", str(target)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)

    # ----------------------------------------------------------------- checks
    def take_state(self, folder: Path) -> dict:
        if not folder.exists() and not folder.is_symlink():
            return {"state": "absent"}
        st: dict = {}
        try:
            take = self.takes.load_take(folder)
            st = {"state": "ok", "id": take.id}
        except Exception as exc:
            st = {"state": "corrupt", "error": f"{type(exc).__name__}: {str(exc)[:160]}"}
        js, _ = fc._json_state(folder / "take.json")
        if st["state"] == "ok" and js != "ok":
            st = {"state": "corrupt", "error": f"take.json is {js}"}
        expl = folder / "explanation.json"
        if expl.is_file():
            st["expl_hash"] = hashlib.sha256(expl.read_bytes()).hexdigest()
            try:
                e = self.takes.load_explanation(folder)
                st["expl"], st["expl_take"] = "ok", e.take_id
            except Exception as exc:
                st["expl"], st["expl_error"] = "corrupt", f"{type(exc).__name__}: {str(exc)[:120]}"
            st["expl_json"] = fc._json_state(expl)[0]
        return st

    def snapshot(self, case: Path, skip: list[str]) -> dict[str, str]:
        out = {}
        for path in sorted(case.rglob("*")):
            rel = path.relative_to(case).as_posix()
            if any(rel == s or rel.startswith(s.rstrip("/") + "/") for s in skip):
                continue
            if path.is_file() and not path.is_symlink():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out

    def strays(self, case: Path) -> list[str]:
        found = []
        for dirpath, dirnames, filenames in os.walk(case):
            rel_dir = Path(dirpath).relative_to(case).as_posix()
            if rel_dir.split("/")[0] in ("tmp", "code") or rel_dir.startswith("home/.cache"):
                dirnames[:] = []
                continue
            for name in dirnames + filenames:
                if TEMP_RE.search(name):
                    found.append(f"{rel_dir}/{name}" if rel_dir != "." else name)
        return sorted(found)

    # ----------------------------------------------------------------- one case
    def run_case(self, n: int, case: fc.Case) -> dict:
        folder = self.root / "cases" / f"{n:03d}-{re.sub(r'[^A-Za-z0-9_.=@-]+', '_', case.id)}"
        rec: dict = {"id": case.id, "category": case.category, "item": case.item, "title": case.title,
                     "jobs": [_describe(j) for j in case.jobs]}
        if case.note:
            rec["note"] = case.note
        t0 = time.perf_counter()
        try:
            fc.standard_layout(folder)
            ctx = fc.Ctx(folder, self.base, self.code)
            if case.setup:
                case.setup(ctx)
            if case.needs == "root" and not self.is_root:
                return self._not_run(rec, "needs root (setuid / mounts)", t0)
            reason = self.mount(case, folder)
            if reason:
                return self._not_run(rec, reason, t0)
            before = {t: self.take_state(folder / t) for t in case.targets}
            skip = ["tmp", "code", "home/.cache", "ro", "full", "result.json", *case.targets, *case.mutable]
            sentinels = self.snapshot(folder, skip)
            sentinels.update({k: v for k, v in self.snapshot(folder, []).items() if k in case.keep})
            results = self.run_jobs(folder, case.jobs, f"{n:03d}")
            rec["run_s"] = round(sum(r.wall for r in results), 2)
            for r, job in zip(results, case.jobs):  # a command that finished before its kill: learn its time
                if job.kill_kind and r.rc == 0:
                    self.estimates[job.kill_kind] = 0.6 * self.estimates[job.kill_kind] + 0.4 * r.wall
            if any(r.rc == 97 for r, j in zip(results, case.jobs) if j.mode == "copy"):
                return self._not_run(rec, results[0].stderr.strip().splitlines()[-1], t0)
            flags = self.judge(case, folder, results, before, sentinels, rec, n)
        except SafetyError as exc:
            return self._not_run(rec, f"refused by the probe's path check: {exc}", t0)
        except Exception as exc:
            rec.update(verdict="probe_error", flags=[["probe_error", f"{type(exc).__name__}: {exc}"]],
                       probe_traceback=traceback.format_exc()[-1500:])
            return rec
        finally:
            self.unmount_all()
            if not self.args.keep:
                shutil.rmtree(folder, ignore_errors=True)
        rec["flags"] = [list(f) for f in flags]
        _shorten(rec, {str(folder): "<case>", str(self.base): "<base>", str(self.root): "<probe>"})
        verdicts = [f[0] for f in flags]
        rec["verdict"] = next((v for v in VERDICTS if v in verdicts), "ok")
        rec["case_s"] = round(time.perf_counter() - t0, 2)
        return rec

    def _not_run(self, rec: dict, reason: str, t0: float) -> dict:
        rec.update(verdict="not_run", flags=[["not_run", reason]], case_s=round(time.perf_counter() - t0, 2))
        return rec

    def judge(self, case: fc.Case, folder: Path, results: list[JobResult], before: dict, sentinels: dict,
              rec: dict, n: int) -> list[fc.Flag]:
        flags: list[fc.Flag] = []
        if case.category == "kills":
            rec["kill_landed"] = any(r.rc == -9 and r.killed for r in results)
        rec["runs"] = [{"rc": r.rc, "wall": round(r.wall, 2), "killed": r.killed, "timed_out": r.timed_out,
                        "stderr_lines": len(r.lines()),
                        "message": r.exception() if r.traceback else " | ".join(r.message_lines())[:300],
                        "traceback": r.traceback, "exception": r.exception(),
                        "esc_in_output": b"\x1b" in r.stdout + r.stderr_bytes,
                        **({"crash": r.crash_reached} if r.crash_reached else {})} for r in results]
        # code run: a marker anywhere in the case folder
        markers = [p.relative_to(folder).as_posix() for p in folder.rglob(fc.MARKER + "*")]
        if markers:
            flags.append(("code_ran", f"a pickle's __reduce__ ran: {', '.join(markers)}"))
        # the take folders: old, new complete, or absent if they never existed. First as this process's
        # load_take finds them; after a kill or a race with leftovers, once more after one `agx explain` of
        # each target (the "next access" that must recover an interrupted replace and clean its temporaries).
        after = {t: self.take_state(folder / t) for t in case.targets}
        strays = self.strays(folder)
        settled = dict(after)
        damaged = any(before[t]["state"] != "absent" and after[t]["state"] != "ok" for t in case.targets)
        if case.category in ("kills", "races") and case.targets and (strays or damaged):
            for i, t in enumerate(case.targets):
                rel = os.path.relpath(folder / t, folder / "work" / "sub")
                self.run_jobs(folder, [fc.Job(argv=["explain", rel, "--epochs", "1", "--interval", "0", "0.2"])],
                              f"{n:03d}-settle{i}")
            rec["before_access"] = {"targets": {t: _brief(a) for t, a in after.items()}, "strays": strays}
            settled = {t: self.take_state(folder / t) for t in case.targets}
            strays = self.strays(folder)
        rec["targets"] = {t: {"before": _brief(before[t]), "after": _brief(settled[t])} for t in case.targets}
        for t in case.targets:
            b, a = before[t], settled[t]
            if b["state"] != "absent" and a["state"] == "absent":
                flags.append(("data_lost", f"take folder {t} ({b.get('id', b['state'])}) is gone"))
            elif b["state"] == "ok" and a["state"] == "corrupt":
                flags.append(("half_written", f"{t} no longer loads: {a['error']}"))
            elif b["state"] == "absent" and a["state"] == "corrupt":
                flags.append(("half_written", f"{t} was written but does not load: {a['error']}"))
            a = after[t]  # the explanation as the command left it (the access above rewrites it)
            if a["state"] == "ok" and "expl_hash" in a:
                changed = a.get("expl_hash") != b.get("expl_hash") or a.get("id") != b.get("id")
                if changed and a.get("expl") != "ok":
                    flags.append(("half_written", f"{t}/explanation.json does not load: {a.get('expl_error')}"))
                elif changed and a.get("expl_take") != a["id"]:
                    flags.append(("half_written", f"{t}/explanation.json belongs to take {a.get('expl_take')}, "
                                                  f"the folder holds {a['id']}"))
                if changed and a.get("expl_json") == "nonfinite":
                    flags.append(("accepted_silently", f"{t}/explanation.json was written with NaN/Infinity"))
            if b["state"] == "ok" and b.get("expl") == "ok" and a.get("id") == b.get("id") and "expl_hash" not in a:
                flags.append(("data_lost", f"{t}/explanation.json is gone (the take is unchanged)"))
        # sentinels byte for byte
        now = self.snapshot(folder, [])
        lost = [rel for rel, h in sentinels.items() if now.get(rel) != h]
        if lost:
            flags.append(("data_lost", f"{len(lost)} sentinel file(s) gone or changed: {', '.join(lost[:4])}"
                                       + (" ..." if len(lost) > 4 else "")))
        rec["tmpdir_left"] = sorted(p.name for p in (folder / "tmp").iterdir()) if (folder / "tmp").is_dir() else []
        if strays:
            flags.append(("stray_temps", f"{len(strays)} left: {', '.join(strays[:3])}" + (" ..." if len(strays) > 3 else "")))
        # output: tracebacks, hangs, the refusal line
        for r, job in zip(results, case.jobs):
            if r.traceback:
                flags.append(("traceback", r.exception() or "Traceback"))
            if r.timed_out:
                flags.append(("hang", f"still running after {job.timeout:.0f} s: killed"))
        live = [(r, j) for r, j in zip(results, case.jobs) if not r.killed and not r.timed_out
                and not r.crash_reached and not r.traceback]
        lost = any(f[0] in ("data_lost", "half_written") for f in flags)
        for r, job in live:
            if case.expect == "refuse" and r.rc == 0 and lost:
                pass  # the same finding as the loss itself
            elif case.expect == "refuse" and r.rc == 0:
                flags.append(("accepted_silently", "exit 0: " + (r.stdout.decode("utf-8", "replace").strip()
                                                                  .splitlines() or ["(no output)"])[-1][:160]))
            elif case.expect == "succeed" and r.rc != 0:
                flags.append(("unclear", f"expected success, exit {r.rc}: " + " | ".join(r.message_lines())[:200]))
            elif r.rc != 0 and not r.clear_refusal():
                flags.append(("unclear", f"exit {r.rc} without one clear line: "
                                         + (" | ".join(r.message_lines())[:200] or "(no message)")))
        if case.check:
            flags += case.check(fc.Ctx(folder, self.base, self.code), results)
        return flags

    def close(self) -> None:
        self.unmount_all()
        self.server.close()
        mounted = [ln.split()[1] for ln in Path("/proc/mounts").read_text().splitlines()
                   if ln.split()[1].startswith(str(self.root))]
        for m in mounted:
            subprocess.run(["umount", "-l", m], capture_output=True)
        if self.args.keep:
            print(f"kept {self.root}", file=sys.stderr)
        elif not mounted or all(subprocess.run(["mountpoint", "-q", m]).returncode for m in mounted):
            shutil.rmtree(self.root, ignore_errors=True)


def _shorten(obj: tp.Any, paths: dict[str, str]) -> tp.Any:
    """Replace the temporary folders' long paths by <case>/<base>/<probe> in a record, in place."""
    def fix(v: tp.Any) -> tp.Any:
        if isinstance(v, str):
            for long, short in paths.items():
                v = v.replace(long, short)
            return v
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        return v
    for key in list(obj):
        obj[key] = fix(obj[key])
    return obj


def _mount_kind(case_id: str) -> str | None:
    return {"store/full-disk-take": "tmpfs", "elsewhere/generate-full-disk": "tmpfs",
            "store/full-disk-explanation": "tmpfs-fill", "store/read-only-save": "ro", "store/read-only-load": "ro",
            "store/read-only-app": "ro", "store/read-only-app-empty": "ro",
            "elsewhere/generate-read-only": "ro"}.get(case_id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped yet by the server) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _strings(obj: tp.Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _describe(job: fc.Job) -> str:
    if job.argv is not None:
        head = "agx" if job.mode == "fork" else ".venv/bin/agx" if job.mode == "exec" else "agx (code copy)"
        cmd = " ".join([head, *[json.dumps(a) if (not a or " " in a or "\x1b" in a) else a for a in job.argv]])
    elif job.exec_cmd:
        cmd = " ".join(job.exec_cmd)
    else:
        cmd = f"{job.call}({', '.join(f'{k}={v}' for k, v in job.args.items())})"
    extra = [f"{k}={v}" for k, v in job.env.items()]
    if job.uid is not None:
        extra.append(f"uid {job.uid}")
    if job.umask != 0o022:
        extra.append(f"umask {job.umask:03o}")
    if job.kill_frac is not None:
        extra.append(f"kill -9 at {job.kill_frac:.0%} of its usual time")
    elif job.kill_after is not None:
        extra.append(f"kill -9 {job.kill_after:.3f} s after " + (f"{job.kill_when} appears" if job.kill_when
                                                               else "the start"))
    if job.crash:
        extra.append(f"crash {job.crash['when']} folder rename {job.crash['n']}")
    if job.delay:
        extra.append(f"starts {job.delay:g} s later")
    return cmd + (f"  [{'; '.join(extra)}]" if extra else "")


def _brief(state: dict) -> str:
    s = state["state"]
    if s == "ok":
        s = f"take {state['id']}" + (f" + explanation of {state.get('expl_take')}" if state.get("expl") == "ok" else
                                     " + bad explanation" if "expl_hash" in state else "")
    elif s == "corrupt":
        s = f"corrupt ({state['error'][:80]})"
    return s


# =========================================================================== reports

COLUMNS = [("cases", "cases"), ("ok", "ok"), ("traceback", "tracebacks"), ("lost", "data lost / half-written"),
           ("code_ran", "code ran"), ("stray_temps", "stray temps"), ("accepted_silently", "accepted silently"),
           ("other", "unclear / hang / perms"), ("not_run", "not run")]


def tally(cases: list[dict]) -> dict:
    """Counts of cases per flag (a case can count in several columns) and per final verdict."""
    def has(c: dict, *names: str) -> bool:
        return any(f[0] in names for f in c.get("flags", []))
    return {"cases": len(cases), "ok": sum(c["verdict"] == "ok" for c in cases),
            "traceback": sum(has(c, "traceback") for c in cases),
            "lost": sum(has(c, "data_lost", "half_written") for c in cases),
            "data_lost": sum(has(c, "data_lost") for c in cases),
            "half_written": sum(has(c, "half_written") for c in cases),
            "code_ran": sum(has(c, "code_ran") for c in cases),
            "stray_temps": sum(has(c, "stray_temps") for c in cases),
            "accepted_silently": sum(has(c, "accepted_silently") for c in cases),
            "other": sum(has(c, "unclear", "hang", "bad_permissions", "probe_error") for c in cases),
            "not_run": sum(c["verdict"] == "not_run" for c in cases),
            "verdicts": {v: sum(c["verdict"] == v for c in cases) for v in [*VERDICTS, "probe_error"]
                         if any(c["verdict"] == v for c in cases)}}


def write_reports(out: Path, doc: dict, before: dict | None) -> None:
    from agx_desktop.engine import fsio
    out.mkdir(parents=True, exist_ok=True)
    fsio.write_json_atomic(out / "fault_probe.json", doc)
    if doc["meta"]["before"]:
        fsio.write_json_atomic(out / "fault_probe_before.json", doc)
        before = None
    fsio.write_text_atomic(out / "fault_probe.md", markdown(doc, before))


def markdown(doc: dict, before: dict | None) -> str:
    meta = doc["meta"]
    cats = list(fc.CATEGORIES)
    head = [name for _, name in COLUMNS]
    bhead = []
    if before:
        bm = before["meta"]
        bhead = [f"before (commit {bm['commit']}): cases / tracebacks / lost / code ran"]
    lines = [
        "# Fault probe (issue 15: nothing lost, nothing run)", "",
        f"Measured {meta['finished']} on {meta['machine']}; code: {meta['code_label']}; "
        f"command `{meta['command']}` (under `nice`); {meta['runtime_s'] / 60:.1f} min "
        f"(server import {meta['server']['import_s']:.0f} s, base takes {meta['base_s']:.0f} s); seed {meta['seed']}"
        + ("; **quick subset**" if meta["quick"] else "") + ".", "",
        "Each case ran in its own temporary folder (HOME, TMPDIR, cwd and data folder inside it) with sentinel "
        "files around it; `agx` ran forked from a server that had imported the engine (`@exec` cases and the "
        "bundled-model / app cases: the real `.venv/bin/agx` or a fresh interpreter). Take folders are "
        "judged after one more access (`load_take` here; after a kill or race that left something, one "
        "`agx explain` of each target, which must recover an interrupted replace). Columns count cases "
        "with that finding (a case can count twice).", "",
        "| " + " | ".join(["category (issue item)", *head, *bhead]) + " |",
        "|" + "---|" * (1 + len(head) + len(bhead)),
    ]

    def row(label: str, t: dict, b: dict | None) -> str:
        cells = [str(t[k]) for k, _ in COLUMNS]
        if before:
            cells.append("–" if b is None else f"{b['cases']} / {b['traceback']} / {b['lost']} / {b['code_ran']}")
        return "| " + " | ".join([label, *cells]) + " |"
    for cat in cats:
        if cat in doc["categories"]:
            b = before["categories"].get(cat) if before else None
            lines.append(row(f"{cat} ({fc.CATEGORIES[cat][0]}: {fc.CATEGORIES[cat][1]})", doc["categories"][cat], b))
    lines.append(row("**total**", doc["totals"], before["totals"] if before else None))
    t = doc["totals"]
    lines += ["", f"**Totals: {t['cases']} cases, {t['traceback']} tracebacks, {t['lost']} lost or half-written "
                  f"takes/files, {t['code_ran']} code run** (targets: 0 / 0 / 0). Final verdicts: "
                  + ", ".join(f"{k} {v}" for k, v in t["verdicts"].items()) + ".", ""]
    if meta.get("timings"):
        kills = [c for c in doc["cases"] if c["category"] == "kills"]
        landed = sum(bool(c.get("kill_landed")) for c in kills)
        window = sum(bool(c.get("kill_landed")) and "temporary file" in c["title"] for c in kills)
        lines.append(f"Kills: {landed} of {len(kills)} landed while the process ran ({window} of them inside a "
                     "write, a few ms after its first temporary file appeared); the others had finished and still "
                     "count as cases. Random-moment kills were spread over these usual durations (s, calibrated, "
                     "then updated as runs finished): "
                     + ", ".join(f"{k} {v}" for k, v in meta["timings"].items()) + ".")
        lines.append("")
    bad = [c for c in doc["cases"] if c["verdict"] != "ok"]
    lines += [f"## Cases not ok ({len(bad)})", "", "| case | verdict | finding |", "|---|---|---|"]
    for c in bad:
        finding = "; ".join(f"{v}: {d}" for v, d in c["flags"])[:300].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{c['id']}` | {c['verdict']} | {_md_safe(finding)} |")
    lines += ["", "Every case with its command, exit codes, messages and take states: `fault_probe.json`.", ""]
    return "\n".join(lines)


def _md_safe(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


# =========================================================================== main

def machine() -> str:
    try:
        from agx_desktop.engine.machine import cpu_name
        cpu = cpu_name()
    except ImportError:
        cpu = platform.processor() or platform.machine()
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=50, help="kill -9 cases (default 50; --quick: 8)")
    p.add_argument("--quick", action="store_true", help="a subset of every category (~3 min)")
    p.add_argument("--only", nargs="+", choices=list(fc.CATEGORIES), metavar="CATEGORY",
                   help=f"only these categories: {', '.join(fc.CATEGORIES)}")
    p.add_argument("--case", nargs="+", default=None, help="only cases whose id contains one of these strings")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for fault_probe.json/.md")
    p.add_argument("--code", default="worktree", help="worktree (default) or a commit to measure from a git "
                                                      "archive copy")
    p.add_argument("--before", action="store_true", help="store this run as fault_probe_before.json too")
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--keep", action="store_true", help="keep the temporary folders")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--render", action="store_true", help="only rewrite fault_probe.md from the JSON files in --out")
    p.add_argument("--server", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.server:
        _server_main()
        return
    if args.render:
        out = Path(args.out)
        doc = json.loads((out / "fault_probe.json").read_text())
        before_path = out / "fault_probe_before.json"
        before = json.loads(before_path.read_text()) if before_path.is_file() and not doc["meta"]["before"] else None
        from agx_desktop.engine import fsio
        fsio.write_text_atomic(out / "fault_probe.md", markdown(doc, before))
        return
    kills = args.kills if not args.quick or "--kills" in " ".join(sys.argv) else 8
    started = time.time()
    commit = _git("rev-parse", "--short", "HEAD") if args.code == "worktree" else _git("rev-parse", "--short", args.code)
    dirty = [ln[3:] for ln in _git("status", "--porcelain", "--", "agx_desktop").splitlines()]
    label = (f"working tree at {commit}" + (f" + {len(dirty)} uncommitted file(s) in agx_desktop" if dirty else "")
             if args.code == "worktree" else f"commit {commit} (git archive copy)")
    selected = _select(fc.catalogue(kills, args.seed, {}), args)
    if args.list:
        for c in selected:
            print(f"{c.id:55s} {c.title}")
        print(f"{len(selected)} cases")
        return
    os.nice(5)
    # a background `&` job ignores SIGINT: let SIGTERM unwind too, so mounts and temp folders are cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    probe = Probe(args)
    results: list[dict] = []
    try:
        print(f"fault probe: {label}; temp root {probe.root}; server imported in {probe.server.info['import_s']:.0f} s",
              file=sys.stderr, flush=True)
        if probe.server.info["failed"]:
            print("  modules that failed to import: " + "; ".join(probe.server.info["failed"]), file=sys.stderr)
        base = probe.build_base()
        timings = probe.calibrate() if any(c.category == "kills" for c in selected) else {}
        selected = _select(fc.catalogue(kills, args.seed, timings), args)
        for n, case in enumerate(selected):
            rec = probe.run_case(n, case)
            results.append(rec)
            print(f"[{n + 1:3d}/{len(selected)}] {rec['verdict']:17s} {case.id}  "
                  f"{'; '.join(d for _, d in rec.get('flags', []))[:110]}", file=sys.stderr, flush=True)
    finally:
        probe.close()
    by_cat: dict[str, list[dict]] = {}
    for r in results:
        by_cat.setdefault(r["category"], []).append(r)
    doc = {"meta": {"issue": 15, "commit": commit, "code": args.code, "code_label": label, "dirty_files": dirty,
                    "machine": machine(), "command": " ".join([".venv/bin/python", "benchmarks/fault_probe.py",
                                                               *sys.argv[1:]]),
                    "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
                    "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "runtime_s": round(time.time() - started, 1), "quick": args.quick, "kills": kills,
                    "seed": args.seed, "only": args.only, "before": args.before, "root_user": os.geteuid() == 0,
                    "server": probe.server.info, **base, "timings": timings,
                    "load_average_at_start": os.getloadavg()[0]},
           "totals": tally(results), "categories": {k: tally(v) for k, v in by_cat.items()}, "cases": results}
    out = Path(args.out)
    before_path = out / "fault_probe_before.json"
    before = json.loads(before_path.read_text()) if before_path.is_file() and not args.before else None
    write_reports(out, doc, before)
    t = doc["totals"]
    print(f"\n{t['cases']} cases: {t['traceback']} tracebacks, {t['lost']} lost or half-written, {t['code_ran']} "
          f"code run, {t['stray_temps']} stray temps, {t['accepted_silently']} accepted silently, {t['other']} "
          f"unclear/hang/perms, {t['not_run']} not run; {doc['meta']['runtime_s'] / 60:.1f} min -> "
          f"{out / 'fault_probe.md'}", file=sys.stderr)


def _select(cases: list[fc.Case], args: argparse.Namespace) -> list[fc.Case]:
    if args.only:
        cases = [c for c in cases if c.category in args.only]
    if args.case:
        cases = [c for c in cases if any(s in c.id for s in args.case)]
    if args.quick:
        cases = [c for c in cases if c.quick or c.category == "kills"]
    return cases


if __name__ == "__main__":
    main()
