"""``agx evaluate``: explain many captions with several methods and measure faithfulness (paper Tables 1-2).

For every caption of a caption file (one per line; blank lines skipped and counted):
  1. generate a take (seed = ``--seed`` + caption index, ``--duration`` seconds);
  2. explain it with every method, timing each and sampling its peak memory (CPU: process RSS
     above the level before the call, sampled every 5 ms; CUDA: ``max_memory_allocated``);
  3. regenerate factual/counterfactual samples and the floor, score them with the classifier
     (:func:`..metrics.faithfulness`).
Each finished caption is appended as one JSON line to ``OUT/results.jsonl`` (flushed and
fsync'ed), so a crash or Ctrl-C loses no finished caption; a rerun with the same settings skips
the captions already there (``run.json`` records the settings; different settings are refused).
A line a crash cut short is dropped with a notice and the run resumes; a damaged ``run.json`` or
results line, or an ``--out`` that is a file, is refused with one line before the model loads,
and nothing there is rewritten.
Tables are rewritten after every caption: ``table1.md/.csv`` (Fid_F, Fid_CF, KL_F, KL_CF, size:
mean ± standard error over captions, plus the "same prompt, new samples" floor) and
``table2.md/.csv`` (seconds and peak MB per explanation). Until every caption is done they are
titled PARTIAL with the count; the command exits 0 only when the run is complete.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import threading
import time
import typing as tp
from pathlib import Path

from .errors import AgxError

RESULTS, RUN, TABLE1, TABLE2 = "results.jsonl", "run.json", "table1", "table2"
DEFAULT_METHODS = ["random", "gradcam-e", "gradcam-a", "atman", "chefer", "rollout", "audiogenx"]
LABELS = {"random": "Random mask", "gradcam-e": "Grad-CAM-e", "gradcam-a": "Grad-CAM-a", "atman": "AtMan",
          "chefer": "Chefer et al.", "rollout": "Attention rollout", "audiogenx": "AudioGenX",
          "audiogenx-reference": "AudioGenX (reference mode)"}


class EvaluationError(AgxError, ValueError):
    """Bad input to ``agx evaluate`` (caption file, output folder, settings)."""


# --------------------------------------------------------------------------- inputs

def read_captions(path: str | os.PathLike) -> tuple[list[str], int]:
    """(captions, blank lines skipped); raises :class:`EvaluationError` for a missing/empty file."""
    p = Path(path)
    if not p.is_file():
        raise EvaluationError(f"caption file not found: {p}")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise EvaluationError(f"caption file {p} is not UTF-8 text") from None
    captions = [ln.strip() for ln in lines if ln.strip()]
    blank = len(lines) - len(captions)
    if not captions:
        raise EvaluationError(f"caption file {p} has no captions (one per line)"
                              + (f"; {blank} blank line(s)" if blank else ""))
    return captions, blank


def parse_methods(spec: str | tp.Sequence[str] | None) -> list[str]:
    """Method names (comma-separated or a list); ``audiogenx-reference`` is AudioGenX's reference mode."""
    from .errors import UnknownMethodError
    from .explain import available_methods
    if spec is None:
        return list(DEFAULT_METHODS)
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    known = available_methods() + ["audiogenx-reference"]
    for n in names:
        if n not in known:
            raise UnknownMethodError(f"unknown method '{n}': use one of {', '.join(known)}")
    if not names:
        raise EvaluationError("no methods given")
    return list(dict.fromkeys(names))


def write_heldout_world_captions(path: str | os.PathLike, n: int, first_seed: int = 1_000_000) -> int:
    """Write ``n`` captions of the bundled world that are not among its training captions.

    Training scenes are seeds [0, 8000) (``resources/bundled/config.json``); these come from seeds
    ``first_seed``..., keeping only captions absent from ``train_captions.txt.gz`` and unique.
    Returns the number of seeds drawn.
    """
    import gzip
    from .bundled import world
    from .bundled.loader import BUNDLED_DIR
    with gzip.open(BUNDLED_DIR / "train_captions.txt.gz", "rt", encoding="utf-8") as f:
        train = {ln.strip().lower() for ln in f if ln.strip()}
    out: list[str] = []
    seed = first_seed
    while len(out) < n:
        cap = world.scene_from_seed(seed).caption
        seed += 1
        if cap.lower() not in train and cap not in out:
            out.append(cap)
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")
    return seed - first_seed


# --------------------------------------------------------------------------- measurement

class _MallInfo2(__import__("ctypes").Structure):
    _fields_ = [(n, __import__("ctypes").c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _heap_in_use() -> tp.Callable[[], int] | None:
    """glibc's bytes in use (``mallinfo2``: uordblks + hblkhd), or None where unavailable."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        fn = libc.mallinfo2
        fn.restype = _MallInfo2
    except (OSError, AttributeError):
        return None

    def in_use() -> int:
        m = fn()
        return int(m.uordblks + m.hblkhd)
    return in_use


class PeakMemory:
    """Peak memory a block allocates above the level at its start, in MB.

    CUDA: ``max_memory_allocated``. CPU: the C heap's bytes *in use* (glibc ``mallinfo2``, where
    torch's CPU tensors live), sampled every 5 ms — unlike RSS it falls when tensors are freed, so
    a method is not credited with memory an earlier one left cached. Elsewhere: RSS.
    """

    def __init__(self, device: tp.Any = None, interval: float = 0.005) -> None:
        self.cuda = device is not None and getattr(device, "type", str(device)).startswith("cuda")
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._probe = _heap_in_use() or self.rss_bytes
        self.kind = "cuda" if self.cuda else ("heap" if self._probe is not self.rss_bytes else "rss")

    @staticmethod
    def rss_bytes() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            import resource
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def __enter__(self) -> "PeakMemory":
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            self._base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            return self
        self._base = self._probe()
        self._peak = self._base

        def poll() -> None:
            while not self._stop.wait(self.interval):
                self._peak = max(self._peak, self._probe())
        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._base) / 2 ** 20
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._probe())
        self.peak_mb = max(0.0, (self._peak - self._base) / 2 ** 20)


def method_call(name: str, params: dict) -> tuple[str, dict]:
    """(registered method, its params) for an evaluation method name."""
    if name == "audiogenx-reference":
        return "audiogenx", {**params.get("audiogenx", {}), "mode": "reference"}
    return name, dict(params.get(name, {}))


def method_settings(name: str, method_params: dict, model: tp.Any = None) -> dict:
    """What a method's results depend on, recorded with them: AudioGenX's full resolved settings
    (so a change of the default mode's stop rule is seen) and, given the model, whether its passes
    ran in bf16; the given params for the others."""
    registered, params = method_call(name, method_params)
    if registered == "audiogenx":
        from .explain.audiogenx import resolve_params, uses_bf16
        cfg = json.loads(json.dumps(resolve_params(params)))
        if model is not None:
            cfg["bf16"] = uses_bf16(model, cfg)
        return cfg
    return json.loads(json.dumps(params))


def evaluate_caption(model: tp.Any, caption: str, index: int, methods: list[str], classifier: tp.Any, *,
                     duration: float, seed: int, samples: int, method_params: dict, sample_seed: int,
                     cancel: tp.Any = None, floor: bool = True) -> dict:
    """One caption's record: take generation, every method's explanation, metrics and costs.

    ``floor=False`` skips the unmasked samples (when only some methods are recomputed)."""
    from .explain import explain
    from .generation import generate
    from .metrics import faithfulness
    from .take import GenerationParams

    take_seed = seed + index
    t0 = time.perf_counter()
    # The protocol's sampling is fixed (AudioGen's: top-k 250, temperature 1.0, guidance 3.0), not the
    # model's recommended defaults, so results stay comparable across models and runs.
    take = generate(model, caption, GenerationParams(duration=duration, seed=take_seed), cancel=cancel)
    explanations, costs = {}, {}
    for name in methods:
        registered, params = method_call(name, method_params)
        with PeakMemory(model.device) as mem:
            start = time.perf_counter()
            ex = explain(model, take, method=registered, cancel=cancel, **params)
            seconds = time.perf_counter() - start
        explanations[name] = ex
        costs[name] = {"seconds": seconds, "peak_mb": mem.peak_mb}
    scores = faithfulness(model, take, explanations, classifier, n_samples=samples,
                          sample_seed=sample_seed + index, cancel=cancel, floor=floor)
    for name in methods:
        scores["methods"][name].update(costs[name])
        scores["methods"][name]["settings"] = method_settings(name, method_params, model)
        scores["methods"][name]["words"] = [float(v) for v in explanations[name].word_importance()]
        if "epochs_run" in explanations[name].extras:
            scores["methods"][name]["epochs_run"] = int(explanations[name].extras["epochs_run"])
    return {"index": index, "caption": caption, "take_seed": take_seed, "words": take.words,
            "top1": scores["top1"], "methods": scores["methods"], "floor": scores["floor"],
            "seconds": time.perf_counter() - t0}


# --------------------------------------------------------------------------- results files

_METRIC_KEYS = ("fid_f", "fid_cf", "kl_f", "kl_cf", "size", "seconds", "peak_mb")
_RECORD_START = b'{"index": '  # how json.dumps of a record begins: a line starting so and not parsing is torn


def _is_number(value: tp.Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def record_problem(record: tp.Any) -> str | None:
    """Why ``record`` is not a caption record the tables can use (None when it is one)."""
    if not isinstance(record, dict):
        return "not a JSON object"
    index = record.get("index")
    if "index" not in record:
        return "no 'index'"
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return f"'index' is {index!r}, not a whole number >= 0"
    if not isinstance(record.get("caption"), str):
        return "no 'caption' text"
    methods = record.get("methods")
    if not isinstance(methods, dict):
        return "no 'methods' object"
    for name, m in methods.items():
        if not isinstance(m, dict):
            return f"method {name!r} is not an object"
        missing = [k for k in _METRIC_KEYS if not _is_number(m.get(k))]
        if missing:
            return f"method {name!r} lacks numbers for {', '.join(missing)}"
    floor = record.get("floor")
    if floor is not None and not (isinstance(floor, dict) and _is_number(floor.get("fid"))
                                  and _is_number(floor.get("kl"))):
        return "'floor' is not an object with 'fid' and 'kl' numbers"
    return None


def read_results(out: Path) -> tuple[list[dict], int]:
    """(finished caption records, incomplete lines dropped) of OUT/results.jsonl.

    A line a crash cut short (the last line, or any line that starts like a record and does not
    parse) is an interrupted write: it is left out and counted. Any other line that is not a
    record (edited, damaged) raises :class:`EvaluationError` naming the file and the line: the
    results are never silently dropped or rewritten without it.
    """
    path = out / RESULTS
    if not path.exists():
        return [], 0
    if not path.is_file():
        raise EvaluationError(f"{path} is not a file: move it away or use another --out")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvaluationError(f"cannot read {path} ({exc.strerror or exc}): check its permissions") from None
    lines = raw.split(b"\n")
    last = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
    records, torn = [], 0
    fix = "fix or delete that line (the other results are kept), or rerun with --restart to discard them all"
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            if i == last or line.startswith(_RECORD_START):
                torn += 1
                continue
            raise EvaluationError(f"{path} line {i + 1} is not JSON (edited or damaged): {fix}") from None
        problem = record_problem(record)
        if problem:
            raise EvaluationError(f"{path} line {i + 1} is not a result record ({problem}): {fix}")
        records.append(record)
    return records, torn


def load_results(out: Path) -> list[dict]:
    """Finished caption records; a torn line (crash mid-write) is ignored, a damaged one refused."""
    return read_results(out)[0]


def read_run(out: Path) -> dict | None:
    """The settings OUT/run.json records (None when there is none); :class:`EvaluationError` if damaged."""
    path = out / RUN
    if not path.exists():
        return None
    fix = (f"it records the settings of the results in {out}: restore it, use another --out, or rerun with "
           "--restart to discard those results")
    if not path.is_file():
        raise EvaluationError(f"{path} is not a file: {fix}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvaluationError(f"cannot read {path} ({exc.strerror or exc}): check its permissions") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise EvaluationError(f"{path} is damaged ({type(exc).__name__}): {fix}") from None
    if not isinstance(doc, dict):
        raise EvaluationError(f"{path} is damaged (not a JSON object): {fix}")
    return doc


def check_out_folder(out: Path) -> None:
    """Refuse an --out that cannot hold results (a file, under a file, not writable) before any work."""
    if out.exists() and not out.is_dir():
        raise EvaluationError(f"--out {out} is a file, not a results folder: give a folder (created if missing)")
    ancestor = out
    while not ancestor.exists() and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EvaluationError(f"--out {out} cannot be created: {ancestor} is a file; give another folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise EvaluationError(f"--out {out}: {ancestor} is not writable for you; give another folder")


class _Lock:
    """An exclusive ``flock`` on OUT/.lock, so shards of one run can share results.jsonl and the tables."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".lock"

    def __enter__(self) -> "_Lock":
        self.f = open(self.path, "a")
        try:
            import fcntl
            fcntl.flock(self.f.fileno(), fcntl.LOCK_EX)
        except ImportError:  # not POSIX: single process only
            pass
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        self.f.close()  # releases the lock


def stale_methods(record: dict, methods: list[str], method_params: dict, model: tp.Any = None) -> list[str]:
    """Methods of ``record`` whose results were made with other settings than now (or unrecorded ones)."""
    return [m for m in methods if m in record.get("methods", {})
            and record["methods"][m].get("settings") != method_settings(m, method_params, model)]


def replace_results(out: Path, records: list[dict]) -> None:
    """Rewrite results.jsonl atomically with ``records``."""
    from .takes import write_text_atomic  # lazy: takes imports torch, `agx --help` should not
    write_text_atomic(out / RESULTS, "".join(json.dumps(r) + "\n" for r in records))


def append_result(out: Path, record: dict) -> None:
    path = out / RESULTS
    # a torn last line from a crash would swallow the next record: start on a fresh line
    needs_newline = path.is_file() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if needs_newline else "") + json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _fmt(mean: float, se: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def tables(records: list[dict], methods: list[str], total: int, settings: dict) -> dict[str, tp.Any]:
    """Markdown and CSV rows of Table 1 (faithfulness) and Table 2 (cost)."""
    from .metrics import mean_se

    n = len(records)
    complete = n >= total
    status = (f"complete: {n} of {total} captions" if complete
              else f"PARTIAL: {n} of {total} captions finished — not a complete result")
    desc = (f"model `{settings['model']}`, classifier `{settings['classifier']}`, {settings['duration']:g} s takes, "
            f"{settings['samples']} samples per mask, mean ± standard error over captions; {status}")
    t1_rows: list[list[str]] = []
    t1_csv = [["method", "n", "fid_f", "fid_f_se", "fid_cf", "fid_cf_se", "kl_f", "kl_f_se", "kl_cf", "kl_cf_se",
               "size", "size_se"]]
    floors = [r["floor"] for r in records if r.get("floor")]
    if floors:
        (ff, ffs), (kf, kfs) = mean_se([f["fid"] for f in floors]), mean_se([f["kl"] for f in floors])
        t1_rows.append([f"same prompt, {settings['samples']} new samples (floor)", _fmt(ff, ffs), "–", _fmt(kf, kfs),
                        "–", "–"])
        t1_csv.append(["floor", str(len(floors)), f"{ff:.6f}", f"{ffs:.6f}", "", "", f"{kf:.6f}", f"{kfs:.6f}",
                       "", "", "", ""])
    t2_rows: list[list[str]] = []
    t2_csv = [["method", "n", "seconds", "seconds_se", "peak_mb", "peak_mb_se", "peak_mb_max"]]
    for m in methods:
        vals = [r["methods"][m] for r in records if m in r.get("methods", {})]
        stats = {k: mean_se([v[k] for v in vals]) for k in ("fid_f", "fid_cf", "kl_f", "kl_cf", "size", "seconds",
                                                           "peak_mb")}
        label = LABELS.get(m, m)
        t1_rows.append([label] + [_fmt(*stats[k]) for k in ("fid_f", "fid_cf", "kl_f", "kl_cf", "size")])
        t1_csv.append([m, str(len(vals))] + [f"{x:.6f}" for k in ("fid_f", "fid_cf", "kl_f", "kl_cf", "size")
                                            for x in stats[k]])
        peak_max = max([v["peak_mb"] for v in vals], default=float("nan"))
        t2_rows.append([label, _fmt(*stats["seconds"], digits=2), _fmt(*stats["peak_mb"], digits=0),
                        "–" if math.isnan(peak_max) else f"{peak_max:.0f}"])
        t2_csv.append([m, str(len(vals)), f"{stats['seconds'][0]:.4f}", f"{stats['seconds'][1]:.4f}",
                       f"{stats['peak_mb'][0]:.1f}", f"{stats['peak_mb'][1]:.1f}", f"{peak_max:.1f}"])

    def md(title: str, header: list[str], rows: list[list[str]]) -> str:
        lines = [f"# {title}", "", desc, "", "| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] * len(header)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n"

    h1 = ["method", "Fid_F ↓", "Fid_CF ↑", "KL_F ↓", "KL_CF ↑", "size ↓"]
    h2 = ["method", "seconds per explanation ↓", "peak MB ↓ (mean)", "peak MB (max)"]
    paired = _paired_md(records, methods)
    mem_note = "CUDA max_memory_allocated" if settings.get("device", "cpu").startswith("cuda") else \
        "peak C-heap bytes in use (glibc mallinfo2) above the level before the call, sampled every 5 ms"
    return {"complete": complete,
            "table1_md": md("Table 1 — faithfulness" + ("" if complete else " (PARTIAL)"), h1, t1_rows) + paired,
            "table1_csv": t1_csv,
            "table2_md": md("Table 2 — cost per explanation" + ("" if complete else " (PARTIAL)"), h2, t2_rows)
            + f"\nMemory: {mem_note}. Device: {settings.get('device', 'cpu')}, "
              f"threads: {settings.get('threads', '?')}.\n",
            "table2_csv": t2_csv}


def _paired_md(records: list[dict], methods: list[str], ref: str = "audiogenx") -> str:
    """AudioGenX minus each other method, caption by caption (mean ± SE of the paired differences).

    Every method explains the same takes, so paired differences remove the take-to-take spread
    that dominates the per-method standard errors above."""
    from .metrics import mean_se
    others = [m for m in methods if m != ref]
    if ref not in methods or not others:
        return ""
    keys = ("fid_f", "fid_cf", "kl_f", "kl_cf")
    lines = ["", f"## {LABELS.get(ref, ref)} minus each method, paired per caption", "",
             "Negative is better for Fid_F/KL_F, positive for Fid_CF/KL_CF; |mean| > 2 SE marked *.", "",
             "| method | ΔFid_F | ΔFid_CF | ΔKL_F | ΔKL_CF |", "|---|---|---|---|---|"]
    for m in others:
        cells = []
        for k in keys:
            d = [r["methods"][ref][k] - r["methods"][m][k] for r in records
                 if ref in r.get("methods", {}) and m in r["methods"]]
            mean, se = mean_se(d)
            star = len(d) >= 2 and abs(mean) > 2 * se
            cells.append("–" if math.isnan(mean) else f"{mean:+.3f} ± {se:.3f}" + ("*" if star else ""))
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(out: Path, records: list[dict], methods: list[str], total: int, settings: dict) -> dict:
    """Rewrite the tables from the records, each file atomically (a reader never sees half a table)."""
    from .takes import write_text_atomic  # lazy, as in save_results
    t = tables(records, methods, total, settings)
    for key in ("table1", "table2"):
        write_text_atomic(out / f"{key}.md", t[f"{key}_md"])
        buf = io.StringIO(newline="")
        csv.writer(buf).writerows(t[f"{key}_csv"])
        write_text_atomic(out / f"{key}.csv", buf.getvalue())
    return t


# --------------------------------------------------------------------------- command

def add_subparser(subparsers: tp.Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate", help="faithfulness of explanation methods over a caption file (paper Tables 1-2)",
        description="For each caption: generate a take, explain it with every method, regenerate factual "
                    "(M) and counterfactual (1-M) samples and score them with an audio classifier. Resumable: "
                    "finished captions are kept in OUT/results.jsonl and skipped on rerun.")
    p.add_argument("captions", help="text file, one caption per line (blank lines are skipped)")
    p.add_argument("--model", default="bundled", help="model id (default bundled)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help="comma-separated methods (default: all); audiogenx-reference = AudioGenX reference mode")
    p.add_argument("--classifier", default="bundled",
                   help="bundled (offline event classifier), passt (needs hear21passt + weights) or module:factory")
    p.add_argument("--out", required=True, help="results folder (results.jsonl, run.json, table1/2 .md/.csv)")
    from .cli import ARG_DURATION, ARG_EPOCHS, ARG_LIMIT, ARG_SAMPLES, ARG_SEED
    p.add_argument("--duration", type=ARG_DURATION, default=5.0, help="seconds per take (default 5, as the paper)")
    p.add_argument("--seed", type=ARG_SEED, default=0, help="take seed of caption i is SEED + i")
    p.add_argument("--samples", type=ARG_SAMPLES, default=5, help="samples per factual/counterfactual mask (default 5)")
    p.add_argument("--epochs", type=ARG_EPOCHS, default=50, help="AudioGenX epochs (default 50)")
    p.add_argument("--limit", type=ARG_LIMIT, default=None, help="evaluate only the first N captions")
    p.add_argument("--restart", action="store_true", help="discard existing results in --out")
    p.add_argument("--redo", default=None, metavar="METHODS",
                   help="comma-separated methods to recompute in finished captions whose results were made with "
                        "other settings (e.g. after a change of AudioGenX's defaults); other methods are kept")
    p.add_argument("--shard", default=None, metavar="K/N",
                   help="run only captions with index %% N == K; N processes (K = 0..N-1) with the same --out "
                        "share results.jsonl and the tables (use one thread each on a multi-core CPU)")
    return p


def _parse_shard(spec: str | None) -> tuple[int, int]:
    if spec is None:
        return 0, 1
    try:
        k, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise EvaluationError(f"--shard must look like K/N (e.g. 0/2), got {spec!r}") from None
    if not (n >= 1 and 0 <= k < n):
        raise EvaluationError(f"--shard {spec}: need 0 <= K < N")
    return k, n


def run_from_args(args: argparse.Namespace) -> int:
    captions, blank = read_captions(args.captions)
    if args.limit is not None:
        if args.limit < 1:
            raise EvaluationError("--limit must be >= 1")
        captions = captions[:args.limit]
    methods = parse_methods(args.methods)
    shard, n_shards = _parse_shard(getattr(args, "shard", None))
    if args.samples < 1:
        raise EvaluationError("--samples must be >= 1")
    from .limits import MAX_SEED
    if args.seed + 1000 + len(captions) > MAX_SEED:
        raise EvaluationError(f"--seed {args.seed} is too large: the seeds SEED + caption index and SEED + 1000 + "
                              f"index must stay within 2**63-1")
    out = Path(args.out)
    settings = {"captions_file": str(args.captions), "n_captions": len(captions), "model": args.model,
                "methods": methods, "classifier": args.classifier, "duration": args.duration, "seed": args.seed,
                "samples": args.samples, "epochs": args.epochs, "sample_seed": 1000 + args.seed}
    quiet = getattr(args, "quiet", False)
    from .safetext import terminal_safe

    def say(msg: str) -> None:
        if not quiet:
            print(terminal_safe(msg), file=sys.stderr, flush=True)

    # everything a rerun depends on is checked before the (slow) model load: the folder, run.json
    # and every results line; nothing is written until all of it is fine
    check_out_folder(out)
    if not args.restart:
        old = read_run(out)
        existing, _ = read_results(out)
        if old is None and existing:
            raise EvaluationError(f"{out / RESULTS} holds {len(existing)} result(s) but {out / RUN} (the settings they "
                                  "were made with) is missing: use another --out, or rerun with --restart to discard "
                                  "them")
    say(f"{len(captions)} captions" + (f" ({blank} blank line(s) skipped)" if blank else ""))
    from .metrics import load_classifier
    classifier = load_classifier(args.classifier)  # fails here, before any work or table
    from .models import load_model
    from .generation import validate_duration
    model = load_model(args.model, getattr(args, "device", None))
    validate_duration(model, args.duration)  # above the model's maximum: one line, before anything is written
    settings["device"] = str(model.device)
    settings["threads"] = model.num_threads
    settings["weights"] = model.fingerprint  # a retrained model under the same name must not resume a run
    check_out_folder(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvaluationError(f"cannot create the results folder {out} ({exc.strerror or exc}): "
                              "give another --out") from None
    run_path = out / RUN
    with _Lock(out):
        if args.restart:
            for name in (RESULTS, RUN):
                (out / name).unlink(missing_ok=True)
        old = read_run(out)
        if old is not None:
            keys = [k for k in settings if k not in ("captions_file", "n_captions", "device", "threads")]
            diff = [k for k in keys if old.get(k) != settings[k]]
            if diff == ["weights"]:
                raise EvaluationError(f"{out} holds results made with other weights of model {args.model!r} "
                                      f"(retrained or replaced since; fingerprint {old.get('weights') or 'not recorded'}, "
                                      f"now {settings['weights']}): use another --out or --restart")
            if diff:
                raise EvaluationError(f"{out} holds results made with other settings ({', '.join(diff)}): "
                                      f"use another --out or --restart")
        records, torn = read_results(out)
        if old is None and records:
            raise EvaluationError(f"{out / RESULTS} holds {len(records)} result(s) but {run_path} is missing: use "
                                  "another --out, or rerun with --restart to discard them")
        if torn:
            replace_results(out, records)  # the finished records, without the cut-off line(s)
            print(f"agx: note: dropped {torn} incomplete line(s) of {terminal_safe(out / RESULTS)} (a run was "
                  f"interrupted while writing); {len(records)} finished caption(s) kept, resuming", file=sys.stderr)
        from .takes import write_json_atomic
        write_json_atomic(run_path, settings)  # a torn run.json would refuse every resume
        done = {(r["index"], r["caption"]) for r in records}
    redo_methods = parse_methods(args.redo) if getattr(args, "redo", None) else []
    for m in redo_methods:
        if m not in methods:
            raise EvaluationError(f"--redo {m}: not among --methods")
    todo = [(i, c) for i, c in enumerate(captions) if (i, c) not in done and i % n_shards == shard]
    mine = sum(1 for i in range(len(captions)) if i % n_shards == shard)
    if len(todo) < mine:
        say(f"resuming: {mine - len(todo)} caption(s) already done in {out / RESULTS}")

    def finished() -> list[dict]:
        keep: dict[int, dict] = {}
        for r in load_results(out):
            if r["index"] < len(captions) and captions[r["index"]] == r["caption"]:
                keep.setdefault(r["index"], r)
        return [keep[i] for i in sorted(keep)]

    params = {"audiogenx": {"epochs": args.epochs}}
    stale = []
    if redo_methods:
        for r in load_results(out):
            i = r["index"]
            if i < len(captions) and captions[i] == r["caption"] and i % n_shards == shard:
                names = stale_methods(r, redo_methods, params, model)
                if names:
                    stale.append((i, r["caption"], names))
        say(f"--redo: {len(stale)} finished caption(s) of this shard need {', '.join(redo_methods)} recomputed")
    interrupted = False
    try:
        for i, cap, names in stale:
            t0 = time.perf_counter()
            part = evaluate_caption(model, cap, i, names, classifier, duration=args.duration, seed=args.seed,
                                    samples=args.samples, method_params=params,
                                    sample_seed=settings["sample_seed"], floor=False)
            with _Lock(out):
                records = load_results(out)
                for r in records:
                    if r["index"] == i and r["caption"] == cap:
                        if r.get("top1") != part["top1"]:
                            raise EvaluationError(f"caption {i}: the regenerated take differs from the recorded "
                                                  "one (top-1 class changed); rerun with --restart")
                        r["methods"].update(part["methods"])
                replace_results(out, records)
                write_tables(out, finished(), methods, len(captions), settings)
            say(f"[redo {i}] {time.perf_counter() - t0:5.1f} s  {cap}")
        for i, cap in todo:
            t0 = time.perf_counter()
            rec = evaluate_caption(model, cap, i, methods, classifier, duration=args.duration, seed=args.seed,
                                   samples=args.samples, method_params=params,
                                   sample_seed=settings["sample_seed"])
            with _Lock(out):
                append_result(out, rec)
                records = finished()
                write_tables(out, records, methods, len(captions), settings)
            say(f"[{len(records)}/{len(captions)}] {time.perf_counter() - t0:5.1f} s  {cap}")
    except KeyboardInterrupt:
        interrupted = True
    with _Lock(out):
        records = finished()
        t = write_tables(out, records, methods, len(captions), settings)
    if interrupted:
        saved_in = terminal_safe(out / RESULTS)
        print(f"agx: interrupted; {len(records)} of {len(captions)} captions are saved in {saved_in} "
              f"(rerun the same command to resume); tables are marked PARTIAL", file=sys.stderr)
        return 130
    print(t["table1_md"])
    print(t["table2_md"])
    print(terminal_safe(f"wrote {out / 'table1.md'}, {out / 'table2.md'} (+ .csv)"))
    return 0 if t["complete"] else 1
