"""The fault probe's cases (issue 15) and the small engine-side jobs some of them run.

``fault_probe.py`` runs each :class:`Case` in a fresh temporary folder created by the probe; this
module only describes them (setup, the commands, what counts as ok) and holds the ``call`` jobs
(store, save loops, forced race, export modes) that run inside a forked child of the probe's
server. Nothing here touches a path outside the case folder it is given.
"""
from __future__ import annotations

import io
import json
import os
import random
import shutil
import typing as tp
from dataclasses import dataclass, field
from pathlib import Path

PROMPT = "a dog barks then a bell rings"
DUR = "0.5"
GEN = ["generate", PROMPT, "--duration", DUR, "--seed", "1"]
EXPLAIN_EPOCHS = ["--epochs", "3"]
NOBODY = 65534
MARKER = "PWNED_MARKER"

CATEGORIES = {
    "out_paths": (1, "--out targets"),
    "races": (2, "races and the rename window"),
    "kills": (2, "kill -9 at random moments"),
    "numbers": (3, "non-finite and out-of-range numbers"),
    "tamper": (4, "tampered take and explanation files"),
    "checkpoints": (5, "checkpoints and pickles"),
    "store": (6, "the app's autosave store"),
    "elsewhere": (7, "evaluate, devices, threads, file modes"),
}


# --------------------------------------------------------------------------- case description

@dataclass
class Job:
    """One process of a case: an ``agx`` command line (``argv``) or a ``call`` into this module."""

    argv: list[str] | None = None
    call: str | None = None
    args: dict = field(default_factory=dict)
    cwd: str = "work/sub"              # relative to the case folder
    env: dict = field(default_factory=dict)
    mode: str = "fork"                 # fork (the probe's pre-imported server) | exec (.venv/bin/agx) | copy
    exec_cmd: list[str] | None = None  # mode exec/copy: command instead of the console script
    delay: float = 0.0                 # seconds before the job starts
    kill_after: float | None = None    # SIGKILL this many seconds after it started
    kill_when: str | None = None       # ... counted from when this file (relative) appears, or with
                                       # "temp:DIR", from when a temporary file appears in DIR (the write window)
    kill_frac: float | None = None     # SIGKILL at this fraction of the command's usual duration (kill_kind's)
    kill_kind: str | None = None
    crash: dict | None = None          # {"when": "before"|"after", "n": 1}: _exit(137) at a folder rename
    uid: int | None = None
    umask: int = 0o022
    timeout: float = 240.0


Flag = tp.Tuple[str, str]  # (verdict, detail)


@dataclass
class Case:
    id: str
    category: str
    title: str
    jobs: list[Job]
    setup: tp.Callable[["Ctx"], None] | None = None
    expect: str = "refuse"             # refuse | succeed | either | state (only the files decide: kills)
    targets: list[str] = field(default_factory=list)  # take folders that must end old, new or (if new) absent
    check: tp.Callable[["Ctx", list], list[Flag]] | None = None
    mutable: list[str] = field(default_factory=list)  # paths whose bytes may change (outputs)
    keep: list[str] = field(default_factory=list)  # user files inside a target that must survive byte for byte
    needs: str | None = None           # "root": mounts / setuid
    quick: bool = False
    note: str = ""

    @property
    def item(self) -> int:
        return CATEGORIES[self.category][0]


class Ctx:
    """A case's folder and the base takes it copies from."""

    def __init__(self, root: Path, base: Path, code: Path) -> None:
        self.root, self.base, self.code = root, base, code

    def p(self, rel: str) -> Path:
        return self.root / rel

    def copy_take(self, name: str, rel: str, explanation: bool = True) -> Path:
        dst = self.p(rel)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.base / name, dst, symlinks=True)
        if not explanation:
            (dst / "explanation.json").unlink(missing_ok=True)
        return dst

    def write(self, rel: str, data: bytes | str) -> Path:
        path = self.p(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def edit_json(self, rel: str, fn: tp.Callable[[tp.Any], tp.Any]) -> None:
        path = self.p(rel)
        d = json.loads(path.read_text(encoding="utf-8"))
        fn(d)  # edits in place (its return value is ignored: lambdas return tuples)
        path.write_text(json.dumps(d, indent=1, ensure_ascii=False, allow_nan=True), encoding="utf-8")

    def take_id(self, rel: str) -> str:
        return json.loads((self.p(rel) / "take.json").read_text(encoding="utf-8"))["id"]


def standard_layout(root: Path) -> None:
    """Sentinel files where a case could destroy them: HOME, the cwd, its parent, an unrelated folder, a file."""
    files = {
        "home/home_sentinel.txt": "the user's home\n",
        "home/Documents/thesis.txt": "three years of work\n" * 50,
        "work/parent_sentinel.txt": "the parent of the current folder\n",
        "work/sub/cwd_sentinel.txt": "the current folder\n",
        "work/sub/notatake/a.txt": "an unrelated folder\n",
        "work/sub/notatake/deeper/b.bin": bytes(range(256)) * 8,
        "work/sub/afile.txt": "a file that is not a take folder\n",
        "work/sub/caps.txt": PROMPT + "\n",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    for rel in ("tmp", "data", "work/sub/takes", "work/sub/emptydir"):
        (root / rel).mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------- file tampering

def strict_loads(text: str) -> tp.Any:
    """json.loads that refuses NaN/Infinity (what a strict reader does)."""
    def bad(const: str) -> tp.Any:
        raise ValueError(f"non-finite number {const}")
    return json.loads(text, parse_constant=bad)


def _respan(text: dict) -> None:
    import re
    spans = [[m.start(), m.end()] for m in re.finditer(r"\S+", text["prompt"])]
    text["words"] = [text["prompt"][a:b] for a, b in spans]
    text["word_spans"] = spans


ESC_WORD = "\x1b]0;pwned\x07dog\x1b[2J\x1b[31m"


def _esc_text(text: dict) -> None:
    text["prompt"] = text["prompt"].replace("dog", ESC_WORD, 1)
    text["tokens"] = [ESC_WORD if t == "dog" else t for t in text["tokens"]]
    _respan(text)


def wav_edit(path: Path, how: str) -> None:
    import numpy as np
    import soundfile as sf
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    if how == "half":
        sf.write(path, audio[: len(audio) // 2], sr, subtype="FLOAT")
    elif how == "rate":
        sf.write(path, audio, 8000, subtype="FLOAT")
    elif how == "empty":
        sf.write(path, audio[:0], sr, subtype="FLOAT")
    elif how == "stereo":
        sf.write(path, np.concatenate([audio, audio], axis=1), sr, subtype="FLOAT")
    elif how == "nan":
        audio[::7] = np.nan
        sf.write(path, audio, sr, subtype="FLOAT")
    else:
        raise ValueError(how)


def tensors_edit(path: Path, how: str) -> None:
    import torch
    from safetensors.torch import load_file, save_file
    t = dict(load_file(str(path)))
    if how == "codes_range":
        t["codes"] = torch.full_like(t["codes"], 10 ** 6)
    elif how == "codes_negative":
        t["codes"] = torch.full_like(t["codes"], -5)
    elif how == "codes_shape":
        t["codes"] = t["codes"].reshape(-1).contiguous()
    elif how == "codes_float":
        t["codes"] = t["codes"].float()
    elif how == "codes_missing":
        del t["codes"]
    elif how == "latents_nan":
        t["latents"] = torch.full_like(t["latents"], float("nan"))
    elif how == "codes_short":
        t["codes"] = t["codes"][:, :2].contiguous()
    else:
        raise ValueError(how)
    save_file(t, str(path))


def evil_pickle(path: Path, marker: Path, extra: dict | None = None) -> None:
    """A torch checkpoint whose unpickling creates ``marker`` (a harmless stand-in for running code)."""
    import torch

    class Evil:
        def __reduce__(self) -> tuple:
            return (io.open, (str(marker), "w"))

    torch.save({"xp.cfg": {}, "best_state": {}, "x": Evil(), **(extra or {})}, str(path))


# --------------------------------------------------------------------------- jobs run inside the server's children

def _err_exit(exc: BaseException) -> tp.NoReturn:
    print(f"error: {exc}".splitlines()[0], flush=True, file=__import__("sys").stderr)
    os._exit(2)


def make_base_checkpoint(folder: str, seed: int = 0) -> None:
    """A tiny but real audiocraft checkpoint folder (state_dict.bin + compression_state_dict.bin)."""
    import torch
    from omegaconf import OmegaConf
    from audiocraft.models import builders

    torch.manual_seed(seed)
    lm_cfg = {
        "lm_model": "transformer_lm", "device": "cpu", "dtype": "float32", "solver": "audiogen",
        "dataset": {"segment_duration": 2.0},
        "transformer_lm": {"n_q": 4, "card": 32, "dim": 32, "num_heads": 2, "num_layers": 1,
                           "hidden_scale": 2, "norm": "layer_norm", "norm_first": True, "bias_proj": False,
                           "bias_ff": False, "bias_attn": False, "causal": True, "custom": False,
                           "memory_efficient": False, "cross_attention": True, "past_context": None},
        "codebooks_pattern": {"modeling": "delay", "delay": {"delays": [0, 1, 2, 3]}},
        "classifier_free_guidance": {"training_dropout": 0.1, "inference_coef": 3.0},
        "attribute_dropout": {},
        "fuser": {"cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1,
                  "sum": [], "prepend": [], "cross": ["description"], "input_interpolate": []},
        "conditioners": {"description": {"model": "lut", "lut": {"n_bins": 64, "dim": 16, "tokenizer": "noop"}}},
    }
    codec_cfg = {
        "compression_model": "encodec", "device": "cpu",
        "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": 16000, "channels": 1,
                    "causal": False, "renormalize": False},
        "seanet": {"dimension": 16, "channels": 1, "n_filters": 2, "n_residual_layers": 1,
                   "ratios": [8, 5, 4, 2], "lstm": 0, "encoder": {}, "decoder": {}},
        "rvq": {"n_q": 4, "bins": 32},
    }
    lm = builders.get_lm_model(OmegaConf.create(lm_cfg))
    codec = builders.get_compression_model(OmegaConf.create(codec_cfg))
    os.makedirs(folder, exist_ok=True)
    torch.save({"xp.cfg": lm_cfg, "best_state": lm.state_dict()}, os.path.join(folder, "state_dict.bin"))
    torch.save({"xp.cfg": codec_cfg, "best_state": codec.state_dict()},
               os.path.join(folder, "compression_state_dict.bin"))


def _take_io(*names: str) -> tuple:
    """The take-folder functions of the code under test (``takes.py`` before it was renamed ``take_folder.py``)."""
    try:
        from agx_desktop.engine import take_folder as mod
    except ImportError:
        from agx_desktop.engine import takes as mod  # type: ignore[no-redef]
    return tuple(getattr(mod, n) for n in names)


def save_loop(takes: list[str], target: str, started: str, rounds: int = 100000) -> None:
    """Save two takes alternately over ``target`` until killed (kill -9 lands inside a write)."""
    load_take, save_take = _take_io("load_take", "save_take")
    loaded = [load_take(t) for t in takes]
    Path(started).write_text("started")
    for i in range(rounds):
        save_take(loaded[i % 2], target)


def explanation_loop(take: str, started: str, rounds: int = 100000) -> None:
    """Write a take's explanation over and over (whole clip / first half) until killed."""
    load_explanation, save_explanation = _take_io("load_explanation", "save_explanation")
    expl = load_explanation(take)
    half = expl.n_frames / expl.frame_rate / 2
    Path(started).write_text("started")
    for i in range(rounds):
        save_explanation(expl, take, None if i % 2 == 0 else (0.0, half))


def forced_race(takes: list[str], target: str, rounds: int = 40) -> None:
    """Two processes save different takes to one folder at once, ``rounds`` times each.

    A writer that is refused with an AgxError (busy) prints one line; anything else prints its traceback.
    Each folder rename is followed by a 20 ms pause, which widens the rename window so the two writers
    interleave there (a forced race) instead of only by luck.
    """
    import sys
    import time
    import traceback
    from agx_desktop.engine.errors import AgxError
    load_take, save_take = _take_io("load_take", "save_take")
    loaded = [load_take(t) for t in takes]

    def slow(real: tp.Callable) -> tp.Callable:
        def renamer(src: tp.Any, dst: tp.Any, *a: tp.Any, **k: tp.Any) -> tp.Any:
            is_dir = isinstance(src, (str, os.PathLike)) and os.path.isdir(src)
            out = real(src, dst, *a, **k)
            if is_dir:
                time.sleep(0.02)
            return out
        return renamer
    os.replace, os.rename = slow(os.replace), slow(os.rename)
    pids = []
    for k in range(2):
        pid = os.fork()
        if pid == 0:
            code = 0
            for _ in range(rounds):
                try:
                    save_take(loaded[k], target)
                except AgxError as exc:
                    print(f"agx: error: {exc}", file=sys.stderr, flush=True)
                except BaseException:
                    traceback.print_exc()
                    sys.stderr.flush()
                    code = 1
            os._exit(code)
        pids.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
    if any(codes):
        os._exit(1)


def store_load_all(root: str, result: str) -> None:
    """``TakeStore(root).load_all()`` and then what showing each item needs (importances, heatmap)."""
    import numpy as np
    from agx_desktop.ui.store import TakeStore
    items, notices = TakeStore(root).load_all()
    shown = []
    for it in items:
        row = {"take": it.take.id, "explanation": None}
        if it.explanation is not None:
            imp = np.asarray(it.explanation.word_importance(), dtype=float)
            heat = np.asarray(it.explanation.per_frame_words(), dtype=float)
            row["explanation"] = {"take_id": it.explanation.take_id,
                                  "finite": bool(np.isfinite(imp).all() and np.isfinite(heat).all())}
        shown.append(row)
    Path(result).write_text(json.dumps({"items": shown, "notices": [str(n) for n in notices]}))


def store_save(root: str, take: str, result: str, explanation_only: bool = False) -> None:
    """Autosave a take (or only its explanation) into ``root``; an AgxError is the app's notice."""
    from agx_desktop.engine.errors import AgxError
    load_explanation, load_take = _take_io("load_explanation", "load_take")
    from agx_desktop.ui.analysis import analyse
    from agx_desktop.ui.store import TakeStore
    item = analyse(load_take(take), load_explanation(take))
    store = TakeStore(root)
    out: dict = {}
    try:
        if explanation_only:
            item.folder = Path(root) / "kept"
            store.save(item, explanation_only=True)  # as the app's retry of an unsaved explanation
        else:
            out["folder"] = str(store.save(item))
    except AgxError as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        Path(result).write_text(json.dumps(out))
        _err_exit(exc)
    Path(result).write_text(json.dumps(out))


def export_modes(take: str, folder: str, result: str) -> None:
    """Modes of an exported WAV (export dialog and drag-out both use ``export_take``)."""
    (load_take,) = _take_io("load_take")
    from agx_desktop.ui.export import export_take
    from agx_desktop.ui.settings import ExportSettings
    path, _ = export_take(load_take(take), folder, ExportSettings())
    Path(result).write_text(json.dumps({"path": str(path), "mode": os.stat(path).st_mode & 0o777}))


# --------------------------------------------------------------------------- checks used by several cases

def _json_state(path: Path) -> tuple[str, tp.Any]:
    """('absent'|'nonfinite'|'invalid'|'ok', document)."""
    if not path.is_file():
        return "absent", None
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return "ok", strict_loads(text)
    except ValueError as exc:
        if "non-finite" in str(exc):
            return "nonfinite", None
        return "invalid", None


def check_no_nonfinite(*rels: str) -> tp.Callable[[Ctx, list], list[Flag]]:
    """Flag JSON files written with NaN/Infinity (only when a job exited 0: a refusal writes nothing)."""
    def check(ctx: Ctx, results: list) -> list[Flag]:
        flags = []
        for rel in rels:
            state, _ = _json_state(ctx.p(rel))
            if state == "nonfinite" and any(r.rc == 0 for r in results):
                flags.append(("accepted_silently", f"{rel} holds NaN/Infinity (not JSON)"))
        return flags
    return check


def check_message_not(pattern: str, why: str) -> tp.Callable[[Ctx, list], list[Flag]]:
    """Flag a refusal whose one line says something misleading (``pattern``)."""
    import re

    def check(ctx: Ctx, results: list) -> list[Flag]:
        return [("unclear", f"{why}: {r.message_lines()[-1][:120]}") for r in results
                if r.rc not in (0, None) and r.message_lines() and re.search(pattern, r.message_lines()[-1])]
    return check


def check_stdout_clean(ctx: Ctx, results: list) -> list[Flag]:
    flags = []
    for r in results:
        if b"\x1b" in r.stdout or b"\x1b" in r.stderr_bytes:
            flags.append(("accepted_silently", "raw ESC (terminal escape sequence) printed"))
        if r.rc == 0 and any(tok in r.stdout.lower() for tok in (b" nan ", b"  nan", b" inf ")):
            flags.append(("accepted_silently", "printed NaN/inf importances"))
    return flags


def both(*checks: tp.Callable[[Ctx, list], list[Flag]]) -> tp.Callable[[Ctx, list], list[Flag]]:
    def check(ctx: Ctx, results: list) -> list[Flag]:
        return [f for c in checks for f in c(ctx, results)]
    return check


def check_audio_finite(rel: str) -> tp.Callable[[Ctx, list], list[Flag]]:
    def check(ctx: Ctx, results: list) -> list[Flag]:
        import numpy as np
        import soundfile as sf
        wav = ctx.p(rel) / "audio.wav"
        if wav.is_file() and any(r.rc == 0 for r in results):
            audio, _ = sf.read(wav, dtype="float32")
            if not np.isfinite(audio).all():
                return [("accepted_silently", f"{rel}/audio.wav holds NaN/inf samples")]
        return []
    return check


def check_modes(rel: str, umask: int) -> tp.Callable[[Ctx, list], list[Flag]]:
    """Every file/folder of a written take gets 0666/0777 less the umask (not a temp file's 0600)."""
    def check(ctx: Ctx, results: list) -> list[Flag]:
        folder = ctx.p(rel)
        if not folder.is_dir():
            return []
        bad = []
        want_dir, want_file = 0o777 & ~umask, 0o666 & ~umask
        if folder.stat().st_mode & 0o777 != want_dir:
            bad.append(f"{rel}/ {oct(folder.stat().st_mode & 0o777)}")
        for f in sorted(folder.iterdir()):
            mode = f.stat().st_mode & 0o777
            if mode != (want_dir if f.is_dir() else want_file):
                bad.append(f"{f.name} {oct(mode)}")
        if bad:
            return [("bad_permissions", f"umask {oct(umask)}: " + ", ".join(bad)
                     + f" (want {oct(want_file)}/{oct(want_dir)})")]
        return []
    return check


def check_result(rel: str, fn: tp.Callable[[dict], list[Flag]]) -> tp.Callable[[Ctx, list], list[Flag]]:
    def check(ctx: Ctx, results: list) -> list[Flag]:
        path = ctx.p(rel)
        if not path.is_file():
            return []
        return fn(json.loads(path.read_text()))
    return check


# --------------------------------------------------------------------------- the catalogue

def cli(*argv: str, **kw: tp.Any) -> Job:
    return Job(argv=list(argv), **kw)


def catalogue(kills: int, seed: int, timings: dict[str, float]) -> list[Case]:
    """Every case of the probe, in run order (kills use ``timings`` of their commands)."""
    cases: list[Case] = []
    cases += _out_paths()
    cases += _races()
    cases += _numbers()
    cases += _tamper()
    cases += _checkpoints()
    cases += _store()
    cases += _elsewhere()
    cases += _kills(kills, seed, timings)
    return cases


def _take(rel: str, name: str = "A", explanation: bool = True) -> tp.Callable[[Ctx], None]:
    return lambda ctx: ctx.copy_take(name, rel, explanation)


def _out_paths() -> list[Case]:
    c = []

    def out(cid: str, out_arg: str, title: str, expect: str = "refuse", quick: bool = False, **kw: tp.Any) -> None:
        c.append(Case(f"out_paths/{cid}", "out_paths", title, [cli(*GEN, "--out", out_arg, **kw)],
                      expect=expect, quick=quick))

    out("dotdot", "..", "generate --out .. (the parent holds the cwd and other files)", quick=True)
    out("empty", "", 'generate --out "" (the current folder)', quick=True)
    out("dot", ".", "generate --out . (the current folder)")
    out("dot-slash", "./", "generate --out ./")
    out("home", "~", "generate --out ~ (HOME is a probe folder with files)", quick=True)
    out("home-slash", "~/", "generate --out ~/")
    out("not-a-take", "notatake", "generate --out an unrelated non-empty folder", quick=True)
    out("not-a-take-slash", "notatake/", "generate --out notatake/")
    out("a-file", "afile.txt", "generate --out an existing file", quick=True)
    out("file-in-take", "takes/t/audio.wav", "generate --out a file inside a take folder")
    c[-1].setup = _take("work/sub/takes/t")
    c[-1].targets = ["work/sub/takes/t"]
    out("abs-parent", "../..", "generate --out ../.. (the case folder itself, two levels up)")
    c.append(Case("out_paths/root", "out_paths", "generate --out / (run as user nobody: cannot write /)",
                  [cli(*GEN, "--out", "/", uid=NOBODY)], needs="root",
                  note="run as uid 65534, which cannot create, rename or delete anything in /"))

    def symlink(ctx: Ctx) -> None:
        ctx.p("work/sub/link").symlink_to("notatake")
    c.append(Case("out_paths/symlink", "out_paths", "generate --out a symlink to a non-take folder",
                  [cli(*GEN, "--out", "link")], setup=symlink))
    c.append(Case("out_paths/empty-dir", "out_paths", "generate --out an existing empty folder",
                  [cli(*GEN, "--out", "emptydir")], expect="either", mutable=["work/sub/emptydir"]))

    def take_with_notes(ctx: Ctx) -> None:
        ctx.copy_take("A", "work/sub/takes/t")
        ctx.write("work/sub/takes/t/notes.txt", "the user's notes kept beside the take\n")
    c.append(Case("out_paths/take-with-user-file", "out_paths",
                  "generate --out an existing take folder that also holds a user's notes.txt",
                  [cli(*GEN, "--out", "takes/t")], setup=take_with_notes, expect="either",
                  targets=["work/sub/takes/t"], keep=["work/sub/takes/t/notes.txt"], note="beyond the issue: the user's file inside the take folder "
                  "is a sentinel"))
    c.append(Case("out_paths/replace-take", "out_paths", "control: generate --out an existing take replaces it",
                  [cli(*GEN, "--out", "takes/t")], setup=_take("work/sub/takes/t"), expect="succeed",
                  targets=["work/sub/takes/t"], quick=True))
    c.append(Case("out_paths/new-nested", "out_paths", "control: generate --out a new nested path",
                  [cli(*GEN, "--out", "new/deep/t")], expect="succeed", targets=["work/sub/new/deep/t"]))
    c.append(Case("out_paths/regenerate-dotdot", "out_paths", "regenerate --out ..",
                  [cli("regenerate", "takes/t", "--weights", "dog=0", "--out", "..")],
                  setup=_take("work/sub/takes/t"), targets=["work/sub/takes/t"]))
    c.append(Case("out_paths/regenerate-self", "out_paths", "control: regenerate a take over itself",
                  [cli("regenerate", "takes/t", "--weights", "dog=0", "--out", "takes/t")],
                  setup=_take("work/sub/takes/t"), expect="either", targets=["work/sub/takes/t"]))
    # the same dangerous cases through the real console script (a fresh interpreter, nothing pre-imported)
    for cid, arg in (("dotdot@exec", ".."), ("home@exec", "~")):
        c.append(Case(f"out_paths/{cid}", "out_paths", f"generate --out {arg} via .venv/bin/agx",
                      [cli(*GEN, "--out", arg, mode="exec")]))
    return c


def _race_check_one_winner(target: str) -> tp.Callable[[Ctx, list], list[Flag]]:
    def check(ctx: Ctx, results: list) -> list[Flag]:
        ok = [r for r in results if r.rc == 0]
        if len(ok) == len(results) and len(results) > 1:
            return [("data_lost", f"all {len(results)} writers exited 0: {len(results) - 1} take(s) silently "
                                  "replaced (one should be refused)")]
        return []
    return check


def _races() -> list[Case]:
    c = []
    t = "work/sub/takes/t"
    c.append(Case("races/two-generate-new", "races", "two generate to one new --out at once",
                  [cli(*GEN, "--out", "takes/t"), cli(*GEN[:-1], "2", "--out", "takes/t")],
                  expect="state", targets=[t], check=_race_check_one_winner(t), quick=True))
    c.append(Case("races/two-generate-existing", "races", "two generate to one existing take at once",
                  [cli(*GEN, "--out", "takes/t"), cli(*GEN[:-1], "2", "--out", "takes/t")],
                  setup=_take(t), expect="state", targets=[t], check=_race_check_one_winner(t)))
    c.append(Case("races/generate-and-regenerate", "races", "generate and regenerate to one --out at once",
                  [cli(*GEN, "--out", "takes/t"), cli("regenerate", "takes/src", "--weights", "dog=0",
                                                      "--out", "takes/t")],
                  setup=lambda ctx: (ctx.copy_take("A", t), ctx.copy_take("B", "work/sub/takes/src")),
                  expect="state", targets=[t, "work/sub/takes/src"], check=_race_check_one_winner(t)))
    c.append(Case("races/forced-save", "races", "engine: two processes save_take to one folder, 40 times each, 20 ms pause after each folder rename",
                  [Job(call="forced_race", args={"takes": ["@base/A", "@base/B"], "target": "@" + t})],
                  setup=_take(t, explanation=False), expect="state", targets=[t], quick=True))
    c.append(Case("races/explain-while-generate", "races",
                  "explain (retrain) running while generate replaces the take folder",
                  [cli("explain", "takes/t", "--retrain", "--epochs", "40", "--mode", "reference"),
                   cli(*GEN[:-1], "2", "--out", "takes/t", delay=1.0)],
                  setup=_take(t), expect="state", targets=[t], quick=True))
    for when, n, title in (("before", 1, "a crash just before the first folder rename"),
                           ("after", 1, "a crash between the two renames (old moved aside, new not in place)"),
                           ("after", 2, "a crash after both renames, before the old copy is deleted")):
        c.append(Case(f"races/crash-{when}-rename{n}", "races", f"generate over a take: {title}",
                      [cli(*GEN[:-1], "2", "--out", "takes/t", crash={"when": when, "n": n})],
                      setup=_take(t), expect="state", targets=[t], quick=(when, n) == ("after", 1)))
    return c


def _numbers() -> list[Case]:
    c = []

    def gen(cid: str, *extra: str, expect: str = "refuse", quick: bool = False) -> None:
        argv = list(GEN)
        for flag in extra[::2]:
            if flag in argv:  # replace the default --duration/--seed
                i = argv.index(flag)
                del argv[i:i + 2]
        c.append(Case(f"numbers/{cid}", "numbers", "generate " + " ".join(extra),
                      [cli(*argv, *extra, "--out", "takes/n")], expect=expect, targets=["work/sub/takes/n"],
                      check=both(check_no_nonfinite("work/sub/takes/n/take.json"),
                                 check_audio_finite("work/sub/takes/n")), quick=quick))

    for v in ("nan", "inf", "-inf", "-1", "1e308"):
        gen(f"cfg={v}", "--cfg", v, quick=v == "nan", expect="either" if v == "1e308" else "refuse")
    for v in ("inf", "nan", "1e300", "-1", "-inf"):
        gen(f"weights=dog={v}", "--weights", f"dog={v}", quick=v == "inf",
            expect="either" if v == "-1" else "refuse")
    for v in ("nan", "inf", "-1"):
        gen(f"temperature={v}", "--temperature", v, quick=v == "nan")
    gen("seed=2**70", "--seed", str(2 ** 70), quick=True)
    c[-1].check = both(c[-1].check, check_message_not(r"non-negative", "a positive seed refused as 'not non-negative'"))
    gen("seed=-1", "--seed", "-1")
    for v in ("nan", "inf", "-1", "0", "1e308", "1e-9", "11"):
        gen(f"duration={v}", "--duration", v, quick=v == "nan")
    for v in ("2", "nan", "-0.5"):
        gen(f"top-p={v}", "--top-p", v)
    gen("top-k=-1", "--top-k", "-1")
    gen("top-k=10**30", "--top-k", str(10 ** 30), expect="either")
    t = "work/sub/takes/t"
    ex = [
        ("explain-interval-nan", ["explain", "takes/t", "--interval", "nan", "0.4"]),
        ("explain-interval-inf", ["explain", "takes/t", "--interval", "0", "inf"]),
        ("explain-epochs=-1", ["explain", "takes/t", "--retrain", "--epochs", "-1"]),
        ("explain-epochs=0", ["explain", "takes/t", "--retrain", "--epochs", "0"]),
        ("explain-seed=2**70", ["explain", "takes/t", "--retrain", "--epochs", "2", "--seed", str(2 ** 70)]),
        ("explain-draws=0", ["explain", "takes/t", "--method", "occlusion", "--draws", "0"]),
        ("explain-permutations=-1", ["explain", "takes/t", "--method", "occlusion", "--coalitions", "shapley",
                                     "--permutations", "-1"]),
        ("regenerate-weights=nan", ["regenerate", "takes/t", "--weights", "dog=nan", "--out", "takes/n"]),
        ("regenerate-weights=inf", ["regenerate", "takes/t", "--weights", "dog=inf", "--out", "takes/n"]),
        ("regenerate-seed=2**70", ["regenerate", "takes/t", "--weights", "dog=0", "--seed", str(2 ** 70),
                                   "--out", "takes/n"]),
        ("regenerate-seed=-5", ["regenerate", "takes/t", "--weights", "dog=0", "--seed", "-5", "--out", "takes/n"]),
    ]
    for cid, argv in ex:
        c.append(Case(f"numbers/{cid}", "numbers", " ".join(argv), [cli(*argv)], setup=_take(t),
                      targets=[t, "work/sub/takes/n"],
                      check=both(check_no_nonfinite(f"{t}/explanation.json", "work/sub/takes/n/take.json"),
                                 check_stdout_clean), quick=cid == "explain-interval-nan"))
    c.append(Case("numbers/temperature=nan@exec", "numbers", "generate --temperature nan via .venv/bin/agx",
                  [cli(*GEN, "--temperature", "nan", "--out", "takes/n", mode="exec")],
                  targets=["work/sub/takes/n"], check=check_no_nonfinite("work/sub/takes/n/take.json")))
    return c


def _tamper() -> list[Case]:
    c = []
    t = "work/sub/takes/t"
    explain = ["explain", "takes/t", *EXPLAIN_EPOCHS]

    def case(cid: str, title: str, fn: tp.Callable[[Ctx], None], argv: list[str] | None = None,
             expect: str = "refuse", quick: bool = False, explanation: bool = True,
             check: tp.Callable | None = None, mode: str = "fork") -> None:
        def setup(ctx: Ctx) -> None:
            ctx.copy_take("A", t, explanation)
            fn(ctx)
        c.append(Case(f"tamper/{cid}", "tamper", title, [cli(*(argv or explain), mode=mode)], setup=setup,
                      expect=expect, targets=[t, "work/sub/takes/n"],
                      check=both(check_no_nonfinite(f"{t}/explanation.json", f"{t}/take.json"), check_stdout_clean,
                                 *([check] if check else [])), quick=quick))

    E = f"{t}/explanation.json"
    expl_variants: list[tuple[str, str, tp.Callable[[Ctx], None]]] = [
        ("garbage", "binary garbage", lambda ctx: ctx.write(E, b"\x00\xff\xfegarbage\x00")),
        ("brace", "a lone '{'", lambda ctx: ctx.write(E, "{")),
        ("list", "a JSON list", lambda ctx: ctx.write(E, "[]")),
        ("empty", "an empty file", lambda ctx: ctx.write(E, "")),
        ("types", "wrong types (method 5, step_masks a string)",
         lambda ctx: ctx.edit_json(E, lambda d: d.update(method=5, step_masks="x"))),
        ("nan", "NaN in step_masks",
         lambda ctx: ctx.edit_json(E, lambda d: d["step_masks"][0].__setitem__(1, float("nan")))),
        ("shape", "ragged step_masks",
         lambda ctx: ctx.edit_json(E, lambda d: d["step_masks"][0].append(0.5))),
        ("huge-n-frames", "n_frames 10**12",
         lambda ctx: ctx.edit_json(E, lambda d: d.update(n_frames=10 ** 12))),
        ("negative-n-frames", "n_frames -3", lambda ctx: ctx.edit_json(E, lambda d: d.update(n_frames=-3))),
        ("step-frames", "step_frames out of range",
         lambda ctx: ctx.edit_json(E, lambda d: d.update(step_frames=[[10 ** 9]] * len(d["step_frames"])))),
        ("frame-rate-zero", "frame_rate 0", lambda ctx: ctx.edit_json(E, lambda d: d.update(frame_rate=0))),
        ("other-take", "another take's explanation",
         lambda ctx: shutil.copy2(ctx.base / "B" / "explanation.json", ctx.p(E))),
    ]
    for cid, what, fn in expl_variants:
        case(f"explanation-{cid}/explain", f"explanation.json: {what}; agx explain", fn, expect="either",
             quick=cid in ("brace", "nan"))
    for cid, what, fn in expl_variants:
        if cid in ("brace", "nan", "huge-n-frames", "shape", "types", "step-frames"):
            case(f"explanation-{cid}/interval", f"explanation.json: {what}; agx explain --interval 0 0.2", fn,
                 argv=["explain", "takes/t", "--interval", "0", "0.2", *EXPLAIN_EPOCHS], expect="either")
    for cid, what, fn in expl_variants:
        if cid in ("brace", "nan", "shape", "huge-n-frames"):
            case(f"explanation-{cid}/regenerate-factual", f"explanation.json: {what}; regenerate --variant factual",
                 fn, argv=["regenerate", "takes/t", "--variant", "factual", "--out", "takes/n"],
                 quick=cid == "brace")
    case("explanation-brace/explain@exec", "explanation.json: a lone '{'; agx explain via .venv/bin/agx",
         lambda ctx: ctx.write(E, "{"), expect="either", mode="exec")

    def esc_expl(ctx: Ctx) -> None:
        ctx.edit_json(E, lambda d: (_esc_text(d["text"]), d.update(prompt=d["text"]["prompt"])))
    case("explanation-escape-words", "explanation.json words carry terminal escapes; explain --interval",
         esc_expl, argv=["explain", "takes/t", "--interval", "0", "0.2", *EXPLAIN_EPOCHS], expect="either",
         quick=True)

    M = f"{t}/take.json"

    def meta(fn: tp.Callable[[dict], tp.Any]) -> tp.Callable[[Ctx], None]:
        return lambda ctx: ctx.edit_json(M, fn)

    take_variants: list[tuple[str, str, tp.Callable[[Ctx], None], str]] = [
        ("garbage", "binary garbage", lambda ctx: ctx.write(M, b"\x00\xffgarbage"), "refuse"),
        ("brace", "a lone '{'", lambda ctx: ctx.write(M, "{"), "refuse"),
        ("types", "params.duration is a string", meta(lambda d: d["params"].update(duration="x")), "refuse"),
        ("nan-param", "params.temperature NaN", meta(lambda d: d["params"].update(temperature=float("nan"))),
         "refuse"),
        ("inf-param", "params.cfg_coef Infinity", meta(lambda d: d["params"].update(cfg_coef=float("inf"))),
         "refuse"),
        ("missing-text", "no 'text'", meta(lambda d: d.pop("text")), "refuse"),
        ("created-int", '"created": 12345', meta(lambda d: d.update(created=12345)), "either"),
        ("prompt-mismatch", "top-level prompt differs from text.prompt",
         meta(lambda d: d.update(prompt="a cat meows")), "refuse"),
        ("tokens-mismatch", "text.tokens are not the prompt's tokens",
         meta(lambda d: d["text"].update(tokens=[f"x{i}" for i in range(len(d["text"]["tokens"]))])), "refuse"),
        ("frame-rate-zero", "frame_rate 0", meta(lambda d: d.update(frame_rate=0)), "refuse"),
        ("seed-huge", "params.seed 2**70", meta(lambda d: d["params"].update(seed=2 ** 70)), "refuse"),
        ("duration-huge", "params.duration 1e308", meta(lambda d: d["params"].update(duration=1e308)), "refuse"),
    ]
    for cid, what, fn, expect in take_variants:
        case(f"take-{cid}", f"take.json: {what}; agx explain (no stored explanation)", fn, expect=expect,
             explanation=False, quick=cid in ("brace", "nan-param"))

    def esc_take(ctx: Ctx) -> None:
        ctx.edit_json(M, lambda d: (_esc_text(d["text"]), d.update(prompt=d["text"]["prompt"])))
    case("take-escape-words", "take.json words carry terminal escapes (consistent); agx explain", esc_take,
         expect="either", explanation=False, quick=True)

    S = f"{t}/tensors.safetensors"
    for how in ("codes_range", "codes_negative", "codes_shape", "codes_float", "codes_missing", "latents_nan",
                "codes_short"):
        case(f"tensors-{how}", f"tensors.safetensors: {how.replace('_', ' ')}; agx explain",
             lambda ctx, how=how: tensors_edit(ctx.p(S), how), explanation=False, quick=how == "codes_range")
    case("tensors-garbage", "tensors.safetensors: garbage; agx explain", lambda ctx: ctx.write(S, b"\x00" * 64),
         explanation=False)
    case("tensors-truncated", "tensors.safetensors: truncated to half; agx explain",
         lambda ctx: ctx.write(S, ctx.p(S).read_bytes()[: ctx.p(S).stat().st_size // 2]), explanation=False)
    case("tensors-codes_range/regenerate", "tensors.safetensors: codes out of range; regenerate",
         lambda ctx: tensors_edit(ctx.p(S), "codes_range"),
         argv=["regenerate", "takes/t", "--weights", "dog=0", "--out", "takes/n"])

    W = f"{t}/audio.wav"
    for how, what in (("half", "half-length WAV"), ("rate", "8 kHz WAV (the take says 16 kHz)"),
                      ("empty", "WAV with no samples"), ("stereo", "stereo WAV"), ("nan", "NaN samples")):
        case(f"wav-{how}", f"audio.wav: {what}; agx explain (stored explanation)",
             lambda ctx, how=how: wav_edit(ctx.p(W), how), quick=how == "half")
    case("wav-garbage", "audio.wav: garbage; agx explain", lambda ctx: ctx.write(W, b"RIFF\x00\x00garbage"))

    case("regenerate-factual-unexplained", "regenerate --variant factual before explaining",
         lambda ctx: None, argv=["regenerate", "takes/t", "--variant", "factual", "--out", "takes/n"],
         explanation=False, quick=True)
    case("regenerate-counterfactual-unexplained", "regenerate --variant counterfactual before explaining",
         lambda ctx: None, argv=["regenerate", "takes/t", "--variant", "counterfactual", "--out", "takes/n"],
         explanation=False)
    case("not-a-take-explain", "agx explain an unrelated folder", lambda ctx: None,
         argv=["explain", "notatake", *EXPLAIN_EPOCHS])
    return c


def _checkpoints() -> list[Case]:
    c = []
    t = "work/sub/takes/t"
    env_on = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}

    def evil_folder(ctx: Ctx, rel: str = "work/sub/ck") -> None:
        folder = ctx.p(rel)
        folder.mkdir(parents=True, exist_ok=True)
        evil_pickle(folder / "state_dict.bin", ctx.p(MARKER))
        shutil.copy2(ctx.base / "ckpt" / "compression_state_dict.bin", folder / "compression_state_dict.bin")

    def redirect_folder(ctx: Ctx, rel: str = "work/sub/ck", target: str | None = None) -> None:
        import torch
        folder = ctx.p(rel)
        shutil.copytree(ctx.base / "ckpt", folder)
        evil_pickle(ctx.p("work/sub/evil.bin"), ctx.p(MARKER))
        torch.save({"pretrained": target or str(ctx.p("work/sub/evil.bin"))}, str(folder / "compression_state_dict.bin"))

    gen_ck = [*GEN, "--model", "ck", "--out", "takes/n"]
    for sfx, env in (("", {}), ("+env", env_on)):
        c.append(Case(f"checkpoints/evil-pickle{sfx}", "checkpoints",
                      "folder checkpoint whose state_dict.bin runs code when unpickled"
                      + (" (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1)" if env else ""),
                      [cli(*gen_ck, env=env)], setup=evil_folder, targets=["work/sub/takes/n"], quick=bool(env)))
        c.append(Case(f"checkpoints/pretrained-redirect{sfx}", "checkpoints",
                      "compression_state_dict.bin = {'pretrained': evil.bin} (passes weights_only)"
                      + (" (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1)" if env else ""),
                      [cli(*gen_ck, env=env)], setup=redirect_folder, targets=["work/sub/takes/n"], quick=True))
        c.append(Case(f"checkpoints/take-model-redirect{sfx}", "checkpoints",
                      "a shared take whose take.json 'model' is a folder with a pretrained redirect; agx explain"
                      + (" (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1)" if env else ""),
                      [cli("explain", "takes/t", *EXPLAIN_EPOCHS, env=env)],
                      setup=lambda ctx: (ctx.copy_take("A", t, False), redirect_folder(ctx),
                                         ctx.edit_json(f"{t}/take.json",
                                                       lambda d: d.update(model=str(ctx.p("work/sub/ck"))))),
                      targets=[t], quick=bool(env)))
    c.append(Case("checkpoints/take-model-notatake", "checkpoints",
                  "take.json 'model' points at an unrelated folder; agx explain",
                  [cli("explain", "takes/t", *EXPLAIN_EPOCHS)],
                  setup=lambda ctx: (ctx.copy_take("A", t, False),
                                     ctx.edit_json(f"{t}/take.json",
                                                   lambda d: d.update(model=str(ctx.p("work/sub/notatake"))))),
                  targets=[t]))
    def lm_redirect(ctx: Ctx) -> None:
        import torch
        shutil.copytree(ctx.base / "ckpt", ctx.p("work/sub/ck"))
        evil_pickle(ctx.p("work/sub/evil.bin"), ctx.p(MARKER))
        torch.save({"pretrained": str(ctx.p("work/sub/evil.bin"))}, str(ctx.p("work/sub/ck/state_dict.bin")))
    c.append(Case("checkpoints/lm-redirect+env", "checkpoints",
                  "state_dict.bin = {'pretrained': evil.bin} (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1)",
                  [cli(*gen_ck, env=env_on)], setup=lm_redirect, targets=["work/sub/takes/n"]))

    def flipped(ctx: Ctx) -> None:
        shutil.copytree(ctx.base / "ckpt", ctx.p("work/sub/ck"))
        path = ctx.p("work/sub/ck/state_dict.bin")
        data = bytearray(path.read_bytes())
        rng = random.Random(7)
        for _ in range(64):
            i = rng.randrange(len(data) // 4, len(data) * 3 // 4)
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
    c.append(Case("checkpoints/bit-flipped", "checkpoints", "folder checkpoint with 64 flipped bytes",
                  [cli(*gen_ck)], setup=flipped, expect="refuse", targets=["work/sub/takes/n"],
                  check=check_audio_finite("work/sub/takes/n")))

    def odd_config(edit: tp.Callable[[dict], None]) -> tp.Callable[[Ctx], None]:
        def setup(ctx: Ctx) -> None:
            import torch
            shutil.copytree(ctx.base / "ckpt", ctx.p("work/sub/ck"))
            path = ctx.p("work/sub/ck/state_dict.bin")
            pkg = torch.load(str(path), weights_only=True)
            edit(pkg)
            torch.save(pkg, str(path))
        return setup
    c.append(Case("checkpoints/odd-config-heads", "checkpoints", "folder checkpoint: num_heads 3 for dim 32",
                  [cli(*gen_ck)], setup=odd_config(lambda p: p["xp.cfg"]["transformer_lm"].update(num_heads=3)),
                  targets=["work/sub/takes/n"]))
    c.append(Case("checkpoints/odd-config-string", "checkpoints", "folder checkpoint: xp.cfg is a string",
                  [cli(*gen_ck)], setup=odd_config(lambda p: p.update({"xp.cfg": "not a config"})),
                  targets=["work/sub/takes/n"]))
    c.append(Case("checkpoints/odd-config-nq", "checkpoints", "folder checkpoint: n_q 0",
                  [cli(*gen_ck)], setup=odd_config(lambda p: p["xp.cfg"]["transformer_lm"].update(n_q=0)),
                  targets=["work/sub/takes/n"]))

    # the bundled model, from a copy of the code and of resources/bundled (the repo's files are never touched)
    def bundled_copy(edit: tp.Callable[[Path], None]) -> tp.Callable[[Ctx], None]:
        def setup(ctx: Ctx) -> None:
            dst = ctx.p("code")
            shutil.copytree(ctx.code / "agx_desktop", dst / "agx_desktop",
                            ignore=shutil.ignore_patterns("__pycache__"))
            bundled = dst / "resources" / "bundled"
            bundled.mkdir(parents=True)
            for name in ("config.json", "lm.safetensors", "codec.safetensors", "classifier.safetensors"):
                shutil.copy2(ctx.code / "resources" / "bundled" / name, bundled / name)
            edit(bundled)
        return setup

    def nan_weights(bundled: Path) -> None:
        import torch
        from safetensors.torch import load_file, save_file
        state = dict(load_file(str(bundled / "lm.safetensors")))
        name = next(k for k, v in state.items() if v.dtype == torch.float32 and v.numel() > 1000)
        state[name] = state[name].clone()
        state[name].view(-1)[::3] = float("nan")
        save_file(state, str(bundled / "lm.safetensors"))

    def odd_bundled_config(bundled: Path) -> None:
        cfg = json.loads((bundled / "config.json").read_text())
        cfg.setdefault("lm", {})["num_heads"] = "four"
        (bundled / "config.json").write_text(json.dumps(cfg))

    for cid, title, edit, expect in (
            ("bundled-lm-missing", "bundled lm.safetensors missing (a copy of the code + resources)",
             lambda b: (b / "lm.safetensors").unlink(), "refuse"),
            ("bundled-lm-nan", "bundled lm.safetensors with NaN weights", nan_weights, "either"),
            ("bundled-lm-truncated", "bundled lm.safetensors truncated",
             lambda b: (b / "lm.safetensors").write_bytes((b / "lm.safetensors").read_bytes()[:4096]), "refuse"),
            ("bundled-config-odd", "bundled config.json: num_heads 'four'", odd_bundled_config, "refuse")):
        c.append(Case(f"checkpoints/{cid}", "checkpoints", title,
                      [cli(*GEN, "--out", "takes/n", mode="copy")], setup=bundled_copy(edit), expect=expect,
                      targets=["work/sub/takes/n"], check=check_audio_finite("work/sub/takes/n"),
                      quick=cid == "bundled-lm-missing"))
    return c


def _store() -> list[Case]:
    c = []

    def nine_takes(edit: tp.Callable[[Ctx, Path], None] | None) -> tp.Callable[[Ctx], None]:
        def setup(ctx: Ctx) -> None:
            root = ctx.p("data/takes")
            for i in range(9):
                folder = ctx.copy_take("AB"[i % 2], f"data/takes/2026010{i}_take{i}")
                meta = json.loads((folder / "take.json").read_text())
                meta["id"] = f"take{i:08d}"
                meta["created"] = f"2026-01-0{i + 1}T00:00:00+00:00"
                (folder / "take.json").write_text(json.dumps(meta, indent=1))
                expl = folder / "explanation.json"
                if expl.is_file():
                    e = json.loads(expl.read_text())
                    e["take_id"] = meta["id"]
                    expl.write_text(json.dumps(e))
            if edit:
                edit(ctx, root / "20260104_take4")
        return setup

    def load_all_check(want_items: int, bad_expl: bool = False) -> tp.Callable[[Ctx, list], list[Flag]]:
        def fn(res: dict) -> list[Flag]:
            n, notes = len(res["items"]), res["notices"]
            flags = []
            if n < want_items:
                flags.append(("data_lost", f"load_all showed {n} of the {want_items} good takes"))
            if bad_expl:
                for row in res["items"]:
                    e = row["explanation"]
                    if e and (e["take_id"] != row["take"] or not e["finite"]) and not notes:
                        flags.append(("accepted_silently", f"take {row['take']} shows a bad explanation "
                                      f"(take_id {e['take_id']}, finite {e['finite']}) with no notice"))
            elif n == want_items and not notes:
                flags.append(("accepted_silently", "a damaged take was skipped without a notice"))
            return flags
        return check_result("result.json", fn)

    def job() -> Job:
        return Job(call="store_load_all", args={"root": "@data/takes", "result": "@result.json"})

    def set_meta(key: str, value: tp.Any) -> tp.Callable[[Ctx, Path], None]:
        def edit(ctx: Ctx, folder: Path) -> None:
            meta = json.loads((folder / "take.json").read_text())
            meta[key] = value
            (folder / "take.json").write_text(json.dumps(meta))
        return edit

    c.append(Case("store/created-int", "store", 'load_all: 9 takes, one with "created": 12345', [job()],
                  setup=nine_takes(set_meta("created", 12345)), expect="succeed", check=load_all_check(8),
                  mutable=["data"], quick=True))
    c.append(Case("store/created-null", "store", 'load_all: 9 takes, one with "created": null', [job()],
                  setup=nine_takes(set_meta("created", None)), expect="succeed", check=load_all_check(8),
                  mutable=["data"]))
    c.append(Case("store/corrupt-take", "store", "load_all: 9 takes, one take.json '{'", [job()],
                  setup=nine_takes(lambda ctx, f: (f / "take.json").write_text("{")), expect="succeed",
                  check=load_all_check(8), mutable=["data"]))

    def other_expl(ctx: Ctx, folder: Path) -> None:
        shutil.copy2(ctx.base / "B" / "explanation.json", folder / "explanation.json")
    c.append(Case("store/other-take-explanation", "store", "load_all: a take folder holds another take's explanation",
                  [job()], setup=nine_takes(other_expl), expect="succeed", check=load_all_check(9, True),
                  mutable=["data"], quick=True))

    def expl_edit(fn: tp.Callable[[dict], None]) -> tp.Callable[[Ctx, Path], None]:
        def edit(ctx: Ctx, folder: Path) -> None:
            e = json.loads((folder / "explanation.json").read_text())
            fn(e)
            (folder / "explanation.json").write_text(json.dumps(e, allow_nan=True))
        return edit
    c.append(Case("store/nan-explanation", "store", "load_all + show: an explanation with NaN masks", [job()],
                  setup=nine_takes(expl_edit(lambda e: e["step_masks"][0].__setitem__(0, float("nan")))),
                  expect="succeed", check=load_all_check(9, True), mutable=["data"]))
    c.append(Case("store/ragged-explanation", "store", "load_all + show: an explanation with ragged masks", [job()],
                  setup=nine_takes(expl_edit(lambda e: e["step_masks"][0].append(0.5))),
                  expect="succeed", check=load_all_check(9, True), mutable=["data"]))
    c.append(Case("store/huge-explanation", "store", "load_all + show: an explanation with n_frames 10**12",
                  [job()], setup=nine_takes(expl_edit(lambda e: e.update(n_frames=10 ** 12))),
                  expect="succeed", check=load_all_check(9, True), mutable=["data"]))

    def saved_ok(res: dict) -> list[Flag]:
        return [] if "error" in res or "folder" in res else [("unclear", "no result")]
    c.append(Case("store/full-disk-take", "store", "autosave a take onto a full disk (16 KiB tmpfs)",
                  [Job(call="store_save", args={"root": "@full/takes", "take": "@base/A", "result": "@result.json"})],
                  setup=lambda ctx: ctx.p("full").mkdir(), expect="refuse", needs="root", mutable=["full"],
                  note="tmpfs size=64k", targets=[], quick=True))
    c.append(Case("store/full-disk-explanation", "store",
                  "autosave an explanation onto a full disk (the take is already there)",
                  [Job(call="store_save", args={"root": "@full/takes", "take": "@base/A", "result": "@result.json",
                                                "explanation_only": True})],
                  setup=lambda ctx: ctx.p("full").mkdir(), expect="refuse", needs="root", mutable=["full"],
                  targets=["full/takes/kept"], note="tmpfs filled to the last byte after the take was saved"))
    c.append(Case("store/read-only-save", "store", "autosave into a read-only data folder (ro bind mount)",
                  [Job(call="store_save", args={"root": "@ro/takes", "take": "@base/A", "result": "@result.json"})],
                  setup=lambda ctx: ctx.copy_take("B", "ro_src/takes/old"), expect="refuse", needs="root",
                  targets=["ro/takes/old"]))
    c.append(Case("store/read-only-load", "store", "load_all from a read-only data folder",
                  [Job(call="store_load_all", args={"root": "@ro/takes", "result": "@result.json"})],
                  setup=lambda ctx: ctx.copy_take("B", "ro_src/takes/old"), expect="succeed", needs="root",
                  targets=["ro/takes/old"]))
    c.append(Case("store/read-only-app", "store", "the app starts (smoke) with a read-only data folder",
                  [Job(mode="exec", exec_cmd=["@python", "-m", "agx_desktop.ui.app"],
                       env={"AGX_DATA_DIR": "@ro", "QT_QPA_PLATFORM": "offscreen", "AGX_DESKTOP_SMOKE": "1",
                            "AGX_DESKTOP_SMOKE_MS": "300"}, timeout=180)],
                  setup=lambda ctx: ctx.copy_take("B", "ro_src/takes/old"), expect="succeed", needs="root",
                  targets=["ro/takes/old"]))
    c.append(Case("store/read-only-app-empty", "store",
                  "the app starts (smoke) with an empty read-only data folder (no takes/ yet)",
                  [Job(mode="exec", exec_cmd=["@python", "-m", "agx_desktop.ui.app"],
                       env={"AGX_DATA_DIR": "@ro", "QT_QPA_PLATFORM": "offscreen", "AGX_DESKTOP_SMOKE": "1",
                            "AGX_DESKTOP_SMOKE_MS": "300"}, timeout=180)],
                  expect="succeed", needs="root"))
    return c


def _elsewhere() -> list[Case]:
    c = []
    ev = ["evaluate", "caps.txt", "--out", "ev", "--limit", "1", "--duration", DUR, "--samples", "1",
          "--epochs", "1", "--methods", "random"]
    c.append(Case("elsewhere/evaluate-run-json-corrupt", "elsewhere", "evaluate: run.json is '{'", [cli(*ev)],
                  setup=lambda ctx: ctx.write("work/sub/ev/run.json", "{"), expect="either", mutable=["work/sub/ev"],
                  quick=True))
    c.append(Case("elsewhere/evaluate-run-json-list", "elsewhere", "evaluate: run.json is a list", [cli(*ev)],
                  setup=lambda ctx: ctx.write("work/sub/ev/run.json", "[]"), expect="either", mutable=["work/sub/ev"]))
    c.append(Case("elsewhere/evaluate-results-no-index", "elsewhere", "evaluate: a results line without index",
                  [cli(*ev)], setup=lambda ctx: ctx.write("work/sub/ev/results.jsonl", '{"caption": "x"}\n'),
                  expect="either", mutable=["work/sub/ev"]))
    c.append(Case("elsewhere/evaluate-out-file", "elsewhere", "evaluate --out an existing file",
                  [cli(*ev[:3], "afile.txt", *ev[4:])], quick=True))
    gen = [*GEN, "--out", "takes/n"]
    for dev, quick in (("foo", True), ("cuda", False), ("cuda:99", False), ("mps", False)):
        # CUDA cannot be initialised in a forked child at all: those two run the real console script
        mode = "exec" if dev.startswith("cuda") else "fork"
        c.append(Case(f"elsewhere/device={dev}", "elsewhere", f"agx --device {dev} generate (no GPU here)",
                      [cli("--device", dev, *gen, mode=mode)], targets=["work/sub/takes/n"], quick=quick))
    c.append(Case("elsewhere/AGX_DEVICE=foo", "elsewhere", "AGX_DEVICE=foo agx generate",
                  [cli(*gen, env={"AGX_DEVICE": "foo"})], targets=["work/sub/takes/n"]))
    for val, expect in (("abc", "refuse"), ("0", "either"), ("-4", "either"), ("1e9", "refuse")):
        c.append(Case(f"elsewhere/AGX_THREADS={val}", "elsewhere", f"AGX_THREADS={val} agx generate",
                      [cli(*gen, env={"AGX_THREADS": val})], expect=expect, targets=["work/sub/takes/n"],
                      quick=val == "abc"))
    for umask in (0o022, 0o077):
        c.append(Case(f"elsewhere/modes-umask-{umask:03o}", "elsewhere",
                      f"file modes of a generated take under umask {umask:03o}",
                      [cli(*gen, umask=umask)], expect="succeed", targets=["work/sub/takes/n"],
                      check=check_modes("work/sub/takes/n", umask), quick=umask == 0o022))
    c.append(Case("elsewhere/modes-explanation", "elsewhere", "file mode of explanation.json under umask 022",
                  [cli("explain", "takes/t", "--retrain", *EXPLAIN_EPOCHS)], setup=_take("work/sub/takes/t"),
                  expect="succeed", targets=["work/sub/takes/t"], check=check_modes("work/sub/takes/t", 0o022)))

    def export_mode(res: dict) -> list[Flag]:
        want = 0o644
        if res["mode"] != want:
            return [("bad_permissions", f"exported WAV is {oct(res['mode'])} under umask 022 (want {oct(want)})")]
        return []
    c.append(Case("elsewhere/modes-export", "elsewhere", "file mode of an exported / dragged WAV under umask 022",
                  [Job(call="export_modes", args={"take": "@base/A", "folder": "@work/sub/exports",
                                                  "result": "@result.json"})],
                  setup=lambda ctx: ctx.p("work/sub/exports").mkdir(), expect="succeed",
                  check=check_result("result.json", export_mode), mutable=["work/sub/exports"]))

    def ro_out(ctx: Ctx) -> None:
        ctx.copy_take("A", "ro_src/t")
    c.append(Case("elsewhere/generate-read-only", "elsewhere", "generate --out a take inside a read-only folder",
                  [cli(*GEN, "--out", "@ro/t")], setup=ro_out, needs="root", targets=["ro/t"]))
    c.append(Case("elsewhere/generate-full-disk", "elsewhere", "generate --out onto a full disk (16 KiB tmpfs)",
                  [cli(*GEN, "--out", "@full/t")], setup=lambda ctx: ctx.p("full").mkdir(), needs="root",
                  targets=["full/t"], mutable=["full"], quick=True))
    return c


def _kills(n: int, seed: int, timings: dict[str, float]) -> list[Case]:
    """``n`` kill -9 cases spread over generate, explain, regenerate and the engine's save paths."""
    rng = random.Random(seed)
    t = "work/sub/takes/t"
    plan = [("generate-replace", 0.24), ("generate-new", 0.08), ("explain", 0.2), ("regenerate", 0.16),
            ("save-take", 0.2), ("save-explanation", 0.12)]
    counts = [max(1, round(n * share)) if n else 0 for _, share in plan]
    while sum(counts) > n and n:
        counts[counts.index(max(counts))] -= 1
    while sum(counts) < n:
        counts[0] += 1
    cases = []
    for (kind, _), k in zip(plan, counts):
        for i in range(k):
            u = rng.uniform(0.05, 1.0) if i % 2 == 0 else rng.uniform(0.6, 0.98)  # half near the end: the writes
            if kind in ("save-take", "save-explanation"):
                delay = rng.uniform(0.0, 1.5)
                job = Job(call="save_loop" if kind == "save-take" else "explanation_loop",
                          args=({"takes": ["@base/A", "@base/B"], "target": "@" + t, "started": "@started"}
                                if kind == "save-take" else {"take": "@" + t, "started": "@started"}),
                          kill_when="started", kill_after=delay)
                title = f"kill -9 {delay:.2f} s into a {kind.replace('-', '_')} loop (engine, no CLI)"
            else:
                argv = kill_calibration()[kind]
                if i % 2 == 0:  # at a random moment of the whole command (most land before any write)
                    job = cli(*argv, kill_frac=u, kill_kind=kind)
                    title = f"kill -9 at {u:.0%} of `agx {argv[0]}`'s usual time"
                else:  # inside the write: a few ms after its first temporary file appears
                    delay = rng.uniform(0.0, 0.006)  # a save takes ~10-20 ms here
                    where = "work/sub/takes/t" if kind == "explain" else "work/sub/takes"
                    job = cli(*argv, kill_when=f"temp:{where}", kill_after=delay)
                    title = f"kill -9 {delay * 1000:.0f} ms after `agx {argv[0]}` writes its first temporary file"

            def setup(ctx: Ctx, kind: str = kind) -> None:
                # a save loop alternates two takes: the explanation legitimately goes with the first swap
                ctx.copy_take("A", t, explanation=kind != "save-take")
                if kind == "regenerate":
                    ctx.copy_take("B", "work/sub/takes/r")
            targets = [t] + (["work/sub/takes/r"] if kind == "regenerate" else []) \
                + (["work/sub/takes/new"] if kind == "generate-new" else [])
            cases.append(Case(f"kills/{kind}-{i + 1:02d}", "kills", title, [job], setup=setup, expect="state",
                              targets=targets, quick=i < 2 and kind in ("generate-replace", "save-take", "explain",
                                                                         "save-explanation")))
    return cases


def kill_calibration() -> dict[str, list[str]]:
    """Commands timed once before the kills (argv as in :func:`_kills`)."""
    return {"generate-replace": [*GEN[:-1], "2", "--out", "takes/t"],
            "generate-new": [*GEN[:-1], "2", "--out", "takes/new"],
            "explain": ["explain", "takes/t", "--retrain", "--epochs", "20"],
            "regenerate": ["regenerate", "takes/t", "--weights", "dog=0", "--out", "takes/r"]}

