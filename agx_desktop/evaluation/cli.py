"""``agx evaluate``: explain many captions with several methods and measure faithfulness (paper Tables 1-2).

For every caption of a caption file (one per line; blank lines skipped and counted):
  1. generate a take (seed = ``--seed`` + caption index, ``--duration`` seconds);
  2. explain it with every method, timing each and sampling its peak memory (CPU: process RSS
     above the level before the call, sampled every 5 ms; CUDA: ``max_memory_allocated``);
  3. regenerate factual/counterfactual samples and the floor, score them with the classifier
     (:func:`.metrics.faithfulness`).
Each finished caption is appended as one JSON line to ``OUT/results.jsonl`` (flushed and
fsync'ed), so a crash or Ctrl-C loses no finished caption; a rerun with the same settings skips
the captions already there (``run.json`` records the settings; different settings are refused).
A line a crash cut short is dropped with a notice and the run resumes; a damaged ``run.json`` or
results line, or an ``--out`` that is a file, is refused with one line before the model loads,
and nothing there is rewritten.
Tables (:mod:`.tables`) are rewritten after every caption: ``table1.md/.csv`` (Fid_F, Fid_CF, KL_F, KL_CF, size:
mean ± standard error over captions, plus the "same prompt, new samples" floor) and
``table2.md/.csv`` (seconds and peak MB per explanation). Until every caption is done they are
titled PARTIAL with the count; the command exits 0 only when the run is complete.
``--workers N`` or ``--ray ADDRESS`` runs the captions on a local process pool or a Ray cluster
(:mod:`agx_desktop.batch.backends`; each worker loads the model once, this process writes every
result); ``--shard K/N`` still splits a caption file by hand between runs.
"""
from __future__ import annotations

import argparse
import sys
import time
import typing as tp
from pathlib import Path

from . import protocol
from .protocol import DEFAULT_METHODS, EvaluationError, parse_methods, read_captions, stale_methods
from .store import (RESULTS, RUN, RunLock, append_result, check_out_folder, load_results, read_results, read_run,
                    replace_results)
from .tables import write_tables
from ..engine.fsio import write_json_atomic
from ..engine.safetext import terminal_safe

if tp.TYPE_CHECKING:
    from ..batch.backends import Backend
    from ..engine.models import LoadedModel
    from .metrics import Classifier


def add_subparser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add ``evaluate`` to ``agx``'s subcommands (``agx_desktop.engine.cli`` finds this module through the
    ``agx_desktop.commands`` entry point in pyproject.toml; the engine never imports it)."""
    p = subparsers.add_parser(
        "evaluate", help="faithfulness of explanation methods over a caption file (paper Tables 1-2)",
        description="For each caption: generate a take, explain it with every method, regenerate factual "
                    "(M) and counterfactual (1-M) samples and score them with an audio classifier. Resumable: "
                    "finished captions are kept in OUT/results.jsonl and skipped on rerun.")
    p.add_argument("captions", help="text file, one caption per line (blank lines are skipped)")
    p.add_argument("--model", default="bundled", help="model id (default bundled)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help=f"comma-separated methods (default: the paper's Table 1: {', '.join(DEFAULT_METHODS)}); "
                        "audiogenx-paper / audiogenx-reference-code = AudioGenX in that mode (audiogenx-reference: "
                        "the paper mode's old name, accepted); every method and its options are listed below")
    p.add_argument("--classifier", default="bundled",
                   help="bundled (offline event classifier), passt (needs hear21passt + weights) or module:factory")
    p.add_argument("--out", required=True, help="results folder (results.jsonl, run.json, table1/2 .md/.csv)")
    from ..engine.cli import add_explainer_options
    from ..engine.cli_args import ARG_DURATION, ARG_LIMIT, ARG_SAMPLES, ARG_SEED
    p.add_argument("--duration", type=ARG_DURATION, default=5.0, help="seconds per take (default 5, as the paper)")
    p.add_argument("--seed", type=ARG_SEED, default=0, help="take seed of caption i is SEED + i")
    p.add_argument("--samples", type=ARG_SAMPLES, default=5, help="samples per factual/counterfactual mask (default 5)")
    p.add_argument("--kl-direction", choices=KL_DIRECTIONS, default=KL_DIRECTIONS[0],
                   help="KL(orig ‖ sample) (orig_to_sample, default) or KL(sample ‖ orig) (sample_to_orig, the "
                        "AudioGenX reference code's); docs/FAITHFULNESS.md")
    p.add_argument("--limit", type=ARG_LIMIT, default=None, help="evaluate only the first N captions")
    p.add_argument("--restart", action="store_true", help="discard existing results in --out")
    p.add_argument("--redo", default=None, metavar="METHODS",
                   help="comma-separated methods to recompute in finished captions whose results were made with "
                        "other settings (e.g. after a change of AudioGenX's defaults); other methods are kept")
    p.add_argument("--shard", default=None, metavar="K/N",
                   help="run only captions with index %% N == K; N processes (K = 0..N-1) with the same --out "
                        "share results.jsonl and the tables (use one thread each on a multi-core CPU)")
    from ..batch.cli import add_backend_options
    add_backend_options(p)  # --workers N / --ray ADDRESS: captions run on a pool or a Ray cluster
    add_explainer_options(p, per_method=True, aliases={("audiogenx", "epochs"): ["--epochs"]})
    return p


#: metrics.KL_DIRECTIONS, spelled here so building the parser imports no torch (a test keeps them equal)
KL_DIRECTIONS = ("orig_to_sample", "sample_to_orig")

#: run.json keys a run made before they existed lacks, with the value that meant
ABSENT_SETTINGS: dict[str, tp.Any] = {"method_params": {}, "kl_direction": "orig_to_sample"}


def _method_params(args: argparse.Namespace) -> tuple[dict[str, dict], int]:
    """({method: settings given}, AudioGenX's epochs): every method's ``--METHOD-NAME`` options,
    checked against its declaration before anything loads. AudioGenX always gets its epochs
    (recorded in run.json as ``epochs``, as before the other options existed)."""
    from ..engine.cli import explainer_overrides
    from ..engine.explain import METHODS
    params: dict[str, dict] = {}
    for name, explainer in METHODS.items():
        given = explainer_overrides(args, name)
        explainer.Settings.from_values(given, method=name)
        if given:
            params[name] = given
    epochs = params.get("audiogenx", {}).get("epochs", METHODS["audiogenx"].Settings().epochs)
    params.setdefault("audiogenx", {})["epochs"] = epochs
    return params, epochs


def _recorded(params: dict[str, dict]) -> dict[str, dict]:
    """The method settings run.json records beside ``epochs``."""
    rest = {m: {k: v for k, v in given.items() if (m, k) != ("audiogenx", "epochs")} for m, given in params.items()}
    return {m: given for m, given in rest.items() if given}


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


def _captions(args: argparse.Namespace) -> tuple[list[str], int]:
    """(the captions to evaluate, blank lines skipped), with --limit, --samples and --seed checked."""
    captions, blank = read_captions(args.captions)
    if args.limit is not None:
        if args.limit < 1:
            raise EvaluationError("--limit must be >= 1")
        captions = captions[:args.limit]
    return captions, blank


def _check_numbers(args: argparse.Namespace, n_captions: int) -> None:
    if args.samples < 1:
        raise EvaluationError("--samples must be >= 1")
    from ..engine.limits import MAX_SEED
    if args.seed + 1000 + n_captions > MAX_SEED:
        raise EvaluationError(f"--seed {args.seed} is too large: the seeds SEED + caption index and SEED + 1000 + "
                              f"index must stay within 2**63-1")


def _check_resumable(out: Path) -> None:
    """Before the (slow) model load: results without the run.json that says how they were made."""
    old = read_run(out)
    existing, _ = read_results(out)
    if old is None and existing:
        raise EvaluationError(f"{out / RESULTS} holds {len(existing)} result(s) but {out / RUN} (the settings they "
                              "were made with) is missing: use another --out, or rerun with --restart to discard "
                              "them")


def _check_same_settings(out: Path, old: dict, settings: dict, model_name: str) -> None:
    """Refuse to resume results made with other settings (or other weights under the same model name)."""
    keys = [k for k in settings if k not in ("captions_file", "n_captions", "device", "threads")]
    diff = [k for k in keys if old.get(k, ABSENT_SETTINGS.get(k)) != settings[k]]
    if diff == ["weights"]:
        raise EvaluationError(f"{out} holds results made with other weights of model {model_name!r} "
                              f"(retrained or replaced since; fingerprint {old.get('weights') or 'not recorded'}, "
                              f"now {settings['weights']}): use another --out or --restart")
    if diff:
        raise EvaluationError(f"{out} holds results made with other settings ({', '.join(diff)}): "
                              f"use another --out or --restart")


class _Evaluation:
    """One ``agx evaluate`` run: its captions, methods and settings, the results folder, the model."""

    def __init__(self, args: argparse.Namespace, captions: list[str], methods: list[str]) -> None:
        self.args, self.captions, self.methods = args, captions, methods
        self.shard, self.n_shards = _parse_shard(getattr(args, "shard", None))
        self.out = Path(args.out)
        self.params, epochs = _method_params(args)
        self.settings = {"captions_file": str(args.captions), "n_captions": len(captions), "model": args.model,
                         "methods": methods, "classifier": args.classifier, "duration": args.duration,
                         "seed": args.seed, "samples": args.samples, "epochs": epochs, "sample_seed": 1000 + args.seed,
                         "method_params": _recorded(self.params),
                         "kl_direction": getattr(args, "kl_direction", "orig_to_sample")}
        self.quiet = getattr(args, "quiet", False)
        self.model: LoadedModel | None = None
        self.classifier: Classifier | None = None

    def say(self, msg: str) -> None:
        if not self.quiet:
            print(terminal_safe(msg), file=sys.stderr, flush=True)

    def load(self) -> None:
        """The classifier, then the model (each fails with one line before any work or table)."""
        from .metrics import load_classifier
        self.classifier = load_classifier(self.args.classifier)
        from ..engine.models import load_model
        from ..engine.generation import validate_duration
        self.model = load_model(self.args.model, getattr(self.args, "device", None))
        validate_duration(self.model, self.args.duration)  # above the model's maximum: before anything is written
        self.settings["device"] = str(self.model.device)
        self.settings["threads"] = self.model.num_threads
        self.settings["weights"] = self.model.fingerprint  # a retrained model under the same name must not resume

    def open(self) -> set[tuple[int, str]]:
        """Create the folder, check or start run.json, drop torn lines; the (index, caption) pairs done."""
        out = self.out
        check_out_folder(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvaluationError(f"cannot create the results folder {out} ({exc.strerror or exc}): "
                                  "give another --out") from None
        with RunLock(out):
            if self.args.restart:
                for name in (RESULTS, RUN):
                    (out / name).unlink(missing_ok=True)
            old = read_run(out)
            if old is not None:
                _check_same_settings(out, old, self.settings, self.args.model)
            records, torn = read_results(out)
            if old is None and records:
                raise EvaluationError(f"{out / RESULTS} holds {len(records)} result(s) but {out / RUN} is missing: use "
                                      "another --out, or rerun with --restart to discard them")
            if torn:
                replace_results(out, records)  # the finished records, without the cut-off line(s)
                print(f"agx: note: dropped {torn} incomplete line(s) of {terminal_safe(out / RESULTS)} (a run was "
                      f"interrupted while writing); {len(records)} finished caption(s) kept, resuming",
                      file=sys.stderr)
            write_json_atomic(out / RUN, self.settings)  # a torn run.json would refuse every resume
        return {(r["index"], r["caption"]) for r in records}

    def mine(self, index: int) -> bool:
        return index % self.n_shards == self.shard

    def finished(self) -> list[dict]:
        """This caption file's finished records, one per caption, in caption order."""
        keep: dict[int, dict] = {}
        for r in load_results(self.out):
            if r["index"] < len(self.captions) and self.captions[r["index"]] == r["caption"]:
                keep.setdefault(r["index"], r)
        return [keep[i] for i in sorted(keep)]

    def stale(self, redo_methods: list[str]) -> list[tuple[int, str, list[str]]]:
        """(index, caption, methods) of this shard's finished captions whose ``redo_methods`` were made
        with other settings."""
        stale = []
        for r in load_results(self.out):
            i = r["index"]
            if i < len(self.captions) and self.captions[i] == r["caption"] and self.mine(i):
                names = stale_methods(r, redo_methods, self.params, self.model)
                if names:
                    stale.append((i, r["caption"], names))
        self.say(f"--redo: {len(stale)} finished caption(s) of this shard need {', '.join(redo_methods)} recomputed")
        return stale

    def _caption(self, index: int, caption: str, methods: list[str], floor: bool = True) -> dict:
        a = self.args
        return protocol.evaluate_caption(self.model, caption, index, methods, self.classifier, duration=a.duration,
                                         seed=a.seed, samples=a.samples, method_params=self.params,
                                         sample_seed=self.settings["sample_seed"], floor=floor,
                                         kl_direction=self.settings["kl_direction"])

    def redo(self, index: int, caption: str, names: list[str]) -> None:
        """Recompute ``names`` of a finished caption and put them in its record."""
        t0 = time.perf_counter()
        part = self._caption(index, caption, names, floor=False)
        with RunLock(self.out):
            records = load_results(self.out)
            for r in records:
                if r["index"] == index and r["caption"] == caption:
                    if r.get("top1") != part["top1"]:
                        raise EvaluationError(f"caption {index}: the regenerated take differs from the recorded "
                                              "one (top-1 class changed); rerun with --restart")
                    r["methods"].update(part["methods"])
            replace_results(self.out, records)
            write_tables(self.out, self.finished(), self.methods, len(self.captions), self.settings)
        self.say(f"[redo {index}] {time.perf_counter() - t0:5.1f} s  {caption}")

    def evaluate(self, index: int, caption: str) -> None:
        """Evaluate one caption and append its record (then the tables are rewritten)."""
        t0 = time.perf_counter()
        record = self._caption(index, caption, self.methods)
        with RunLock(self.out):
            append_result(self.out, record)
            records = self.finished()
            write_tables(self.out, records, self.methods, len(self.captions), self.settings)
        self.say(f"[{len(records)}/{len(self.captions)}] {time.perf_counter() - t0:5.1f} s  {caption}")

    def evaluate_on(self, backend: "Backend", todo: list[tuple[int, str]]) -> None:
        """Evaluate ``todo`` on ``backend``'s workers (each loads the model and classifier once); records
        are appended here as they come back, in the order they finish. A caption that fails is reported
        and left for a rerun; the others go on."""
        a = self.args
        tasks = [(str(i), protocol.CaptionTask(i, c, self.methods, a.model, getattr(a, "device", None), a.classifier,
                                               a.duration, a.seed, a.samples, self.params, self.settings["sample_seed"],
                                               self.settings["kl_direction"]))
                 for i, c in todo]
        self.say(f"{len(tasks)} caption(s) on {backend.workers} {backend.name} worker(s)")
        outcomes = backend.run(protocol.run_caption_task, tasks)
        try:
            for outcome in outcomes:
                if not outcome.ok:
                    print(f"agx: caption {outcome.key} failed: {terminal_safe(outcome.error)} (rerun to retry it)",
                          file=sys.stderr)
                    continue
                record = outcome.value
                with RunLock(self.out):
                    append_result(self.out, record)
                    records = self.finished()
                    write_tables(self.out, records, self.methods, len(self.captions), self.settings)
                self.say(f"[{len(records)}/{len(self.captions)}] {record['seconds']:5.1f} s  {record['caption']} "
                         f"({outcome.worker})")
        finally:
            outcomes.close()  # Ctrl+C: stops the workers

    def report(self, interrupted: bool) -> int:
        """The final tables (PARTIAL until every caption is done) and the exit status."""
        with RunLock(self.out):
            records = self.finished()
            t = write_tables(self.out, records, self.methods, len(self.captions), self.settings)
        if interrupted:
            saved_in = terminal_safe(self.out / RESULTS)
            print(f"agx: interrupted; {len(records)} of {len(self.captions)} captions are saved in {saved_in} "
                  f"(rerun the same command to resume); tables are marked PARTIAL", file=sys.stderr)
            return 130
        print(t["table1_md"])
        print(t["table2_md"])
        print(terminal_safe(f"wrote {self.out / 'table1.md'}, {self.out / 'table2.md'} (+ .csv)"))
        return 0 if t["complete"] else 1


def _redo_methods(args: argparse.Namespace, methods: list[str]) -> list[str]:
    redo = parse_methods(args.redo) if getattr(args, "redo", None) else []
    for m in redo:
        if m not in methods:
            raise EvaluationError(f"--redo {m}: not among --methods")
    return redo


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``agx evaluate`` (resumable; see the module docstring); the exit status."""
    captions, blank = _captions(args)
    methods = parse_methods(args.methods)
    ev = _Evaluation(args, captions, methods)
    _check_numbers(args, len(captions))
    # everything a rerun depends on is checked before the (slow) model load: the folder, run.json
    # and every results line; nothing is written until all of it is fine
    check_out_folder(ev.out)
    if not args.restart:
        _check_resumable(ev.out)
    ev.say(f"{len(captions)} captions" + (f" ({blank} blank line(s) skipped)" if blank else ""))
    ev.load()
    done = ev.open()
    redo_methods = _redo_methods(args, methods)
    todo = [(i, c) for i, c in enumerate(captions) if (i, c) not in done and ev.mine(i)]
    mine = sum(1 for i in range(len(captions)) if ev.mine(i))
    if len(todo) < mine:
        ev.say(f"resuming: {mine - len(todo)} caption(s) already done in {ev.out / RESULTS}")
    stale = ev.stale(redo_methods) if redo_methods else []
    try:
        for i, cap, names in stale:
            ev.redo(i, cap, names)
        if args.workers or args.ray:
            from ..batch.cli import backend_from_args
            with backend_from_args(args) as backend:
                ev.evaluate_on(backend, todo)
        else:
            for i, cap in todo:
                ev.evaluate(i, cap)
    except KeyboardInterrupt:
        return ev.report(interrupted=True)
    return ev.report(interrupted=False)
