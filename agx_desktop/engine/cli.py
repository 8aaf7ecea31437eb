"""``agx`` — the engine from the command line: list models, generate a take, explain it, regenerate it.

Every command exits with status 0 on success and 2 with a one-line ``agx: error: ...`` on bad
input (empty prompt, unknown model, folder that is not a take, ...).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import typing as tp
import warnings
from pathlib import Path

EPILOG = """examples:
  agx models
  agx generate "a dog barks then a bell rings" --duration 5 --seed 1 --out takes/dog
  agx explain takes/dog                      # writes takes/dog/explanation.json
  agx explain takes/dog --interval 1.0 2.5   # importance of each word for 1.0-2.5 s
  agx regenerate takes/dog --variant counterfactual --out takes/dog_cf
  agx regenerate takes/dog --weights dog=0 bell=2 --out takes/dog_edit
"""


def _quiet_imports() -> None:
    """Silence import-time warnings that say nothing to a user (xformers without CUDA, see README)."""
    warnings.filterwarnings("ignore", module="xformers")
    warnings.filterwarnings("ignore", message=".*xFormers.*")


class _Bars:
    """tqdm progress bars keyed by stage, for ``progress(stage, done, total)`` callbacks."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars: dict[str, tp.Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm
        bar = self.bars.get(stage)
        if bar is None:
            if stage not in ("generate", "explain"):
                return
            unit = "step" if stage == "generate" else "epoch"
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit=unit, leave=True, file=sys.stderr)
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="agx", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Generate sound effects from text with AudioGen and explain which words made which "
                    "sounds (AudioGenX).")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: CUDA when available, else CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = sub.add_parser("models", help="list models, where each comes from and whether it is usable now")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.add_argument("--offline", action="store_true", help="do not probe the network")

    g = sub.add_parser("generate", help="generate a take folder from a prompt",
                       description="Generate audio from PROMPT and write a take folder (audio.wav, take.json, "
                                   "tensors.safetensors) to --out.")
    g.add_argument("prompt", help='what the sound should be, e.g. "rain on a tin roof with distant thunder"')
    g.add_argument("--model", default="bundled", help="model id (see `agx models`) or a checkpoint folder")
    g.add_argument("--duration", type=float, default=5.0, help="seconds of audio (default 5)")
    g.add_argument("--seed", type=int, default=0, help="random seed: same seed and settings = same audio")
    g.add_argument("--top-k", type=int, default=None,
                   help="sample among the k most likely codes, 0 = all (default: the model's; 250 for AudioGen)")
    g.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold, 0 = off (default)")
    g.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature (default: the model's; 1.0 for AudioGen, 0.8 for bundled)")
    g.add_argument("--cfg", type=float, default=None, help="classifier-free guidance strength (default 3.0)")
    g.add_argument("--weights", nargs="*", metavar="WORD=W", default=None,
                   help="per-word cross-attention weights, e.g. dog=0 (mute) bell=2 (boost)")
    g.add_argument("--out", required=True, help="take folder to write (replaced atomically if it exists)")

    e = sub.add_parser("explain", help="explain a take: word importance per frame -> DIR/explanation.json")
    e.add_argument("take", help="take folder written by `agx generate`")
    e.add_argument("--method", default="audiogenx",
                   help="explanation method: audiogenx (default, the paper's); occlusion (regenerates the take "
                        "without each word with its own sampling noise: explains the sound, slower); or a "
                        "baseline: random, gradcam-e, gradcam-a, atman, chefer, rollout")
    e.add_argument("--model", default=None, help="model to use (default: the one that made the take)")
    e.add_argument("--epochs", type=int, default=50,
                   help="AudioGenX training epochs (default 50, as the paper; the most for --mode quick)")
    e.add_argument("--mode", choices=["quick", "fast", "reference"], default="quick",
                   help="quick (default): the paper's loss, higher decaying lr, stops when the importances "
                        "settle (~8x faster, see benchmarks/results/explainers_ratio.md); fast: the paper's "
                        "optimisation exactly, factual+counterfactual in one batch (~2x faster); reference: "
                        "as the paper's code runs it")
    e.add_argument("--seed", type=int, default=0, help="explainer seed (audiogenx: initialisation, Gumbel noise; "
                                                          "occlusion: the first posterior noise draw; random)")
    e.add_argument("--draws", type=int, default=3,
                   help="occlusion: posterior noise draws averaged (default 3; each regenerates the take once "
                        "per word)")
    e.add_argument("--coalitions", choices=["single", "shapley"], default="single",
                   help="occlusion: mute each word alone (single, default) or estimate Shapley values from "
                        "words switched on one by one in random orders (shapley: words that say the same "
                        "thing share the credit instead of hiding each other)")
    e.add_argument("--permutations", type=int, default=4,
                   help="occlusion --coalitions shapley: orders sampled (default 4; each regenerates the take "
                        "once per word + 1)")
    e.add_argument("--interval", nargs=2, type=float, metavar=("START", "END"),
                   help="report importance for this interval in seconds (re-uses a stored explanation)")
    e.add_argument("--retrain", action="store_true", help="explain again even if explanation.json exists")

    r = sub.add_parser("regenerate", help="regenerate a take with its explanation's mask or word weights")
    r.add_argument("take", help="take folder")
    r.add_argument("--variant", choices=["factual", "counterfactual", "weighted"], default="weighted")
    r.add_argument("--weights", nargs="*", metavar="WORD=W", default=None,
                   help="for --variant weighted: e.g. dog=0 bell=2 (by word or by index: 1=0)")
    r.add_argument("--seed", type=int, default=None, help="default: the take's seed")
    r.add_argument("--out", required=True, help="take folder to write")
    from .evaluate import add_subparser as _add_evaluate; _add_evaluate(sub)  # noqa: E702
    return p


def _parse_weights(words: list[str], specs: list[str]) -> list[float]:
    from .errors import ParameterError
    weights = [1.0] * len(words)
    lowered = [w.lower().strip(".,;:!?") for w in words]
    for spec in specs:
        key, sep, val = spec.rpartition("=")
        if not sep:
            raise ParameterError(f"weight '{spec}' must look like WORD=W, e.g. dog=0")
        try:
            value = float(val)
        except ValueError:
            raise ParameterError(f"weight '{spec}': {val!r} is not a number") from None
        if key.isdigit() and int(key) < len(words):
            idx = [int(key)]
        else:
            idx = [i for i, w in enumerate(lowered) if w == key.lower()]
        if not idx:
            raise ParameterError(f"'{key}' is not a word of the prompt ({' '.join(words)})")
        for i in idx:
            weights[i] = value
    return weights


def _print_models(rows: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], indent=1))
        return
    width = max(len(r.id) for r in rows)
    for r in rows:
        flag = "yes" if r.usable else "no "
        print(f"{r.id:<{width}}  usable: {flag}  {r.status:<42}  {r.source} — {r.description}")


def run(argv: list[str] | None = None) -> int:
    _quiet_imports()
    args = _parser().parse_args(argv)
    from .errors import AgxError
    bars = _Bars(enabled=not args.quiet)
    try:
        return _dispatch(args, bars)
    except AgxError as exc:
        bars.close()
        print(f"agx: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bars.close()
        print("agx: interrupted; nothing was written", file=sys.stderr)
        return 130
    finally:
        bars.close()


def _load(model_id: str, args: argparse.Namespace) -> tp.Any:
    """Load a model, saying so first (a hub model can take a while to load or download)."""
    from .models import load_model
    if args.quiet:
        return load_model(model_id, args.device)
    print(f"loading model '{model_id}'...", file=sys.stderr, flush=True)

    def say(what: str, done: int, total: int) -> None:
        if done < total:
            print(f"  [{done + 1}/{total}] {what}", file=sys.stderr, flush=True)
    return load_model(model_id, args.device, progress=say)


def _dispatch(args: argparse.Namespace, bars: _Bars) -> int:
    from .models import list_models
    from . import takes

    if args.command == "models":
        _print_models(list_models(check_network=not args.offline), args.json)
        return 0
    if args.command == "generate":
        from .generation import generate
        model = _load(args.model, args)
        weights = None
        if args.weights:
            weights = _parse_weights(model.text_tokens(args.prompt).words, args.weights)
        params = model.default_params(duration=args.duration, seed=args.seed, top_k=args.top_k, top_p=args.top_p,
                                      temperature=args.temperature, cfg_coef=args.cfg)
        take = generate(model, args.prompt, params, word_weights=weights, progress=bars)
        bars.close()
        out = takes.save_take(take, args.out)
        untrained = "" if model.trained else " (untrained model: expect noise)"
        print(f"wrote {out} ({take.duration:.2f} s, {take.sample_rate} Hz, seed {take.params.seed}, "
              f"{take.seconds:.1f} s){untrained}")
        return 0
    if args.command == "explain":
        from .explain import explain, available_methods
        from .errors import UnknownMethodError
        if args.method not in available_methods():
            raise UnknownMethodError(f"unknown method '{args.method}': use one of {', '.join(available_methods())}")
        take = takes.load_take(args.take)
        if args.model and args.model != take.model_id:
            from .errors import ModelMismatchError
            raise ModelMismatchError(f"this take was made by model '{take.model_id}', not '{args.model}': "
                                     f"explain it with --model {take.model_id}")
        interval = tuple(args.interval) if args.interval else None
        if interval is not None:
            from .explain.base import check_interval
            check_interval(interval, take.duration, take.frame_rate)
        existing = None
        if not args.retrain and (Path(args.take) / takes.EXPLANATION).is_file():
            try:
                existing = takes.load_explanation(args.take)
            except AgxError:
                existing = None
            if existing is not None and (existing.take_id != take.id or existing.method != args.method):
                existing = None
        if existing is None:
            model = _load(args.model or take.model_id, args)
            kwargs = {"progress": bars}
            if args.method == "audiogenx":
                kwargs.update(epochs=args.epochs, mode=args.mode, seed=args.seed)
            elif args.method == "occlusion":
                kwargs.update(draws=args.draws, seed=args.seed, coalitions=args.coalitions,
                              permutations=args.permutations)
            elif args.method == "random":
                kwargs.update(seed=args.seed)
            existing = explain(model, take, method=args.method, **kwargs)
            bars.close()
        path = takes.save_explanation(existing, args.take, interval)
        imp = existing.word_importance(interval)
        span = "whole clip" if interval is None else f"{interval[0]:g}-{interval[1]:g} s"
        print(f"wrote {path} ({existing.method}, {existing.seconds:.1f} s); importance over {span}:")
        for word, value in sorted(zip(existing.words, imp), key=lambda x: -x[1]):
            print(f"  {value:5.3f}  {'#' * int(round(value * 30)):<30}  {word}")
        return 0
    if args.command == "regenerate":
        from .generation import regenerate
        take = takes.load_take(args.take)
        model = _load(take.model_id, args)
        explanation = None
        weights = None
        if args.variant in ("factual", "counterfactual"):
            explanation = takes.load_explanation(args.take)
        else:
            weights = _parse_weights(take.words, args.weights or [])
        new = regenerate(model, take, args.variant, explanation=explanation, word_weights=weights,
                         seed=args.seed, progress=bars)
        bars.close()
        out = takes.save_take(new, args.out)
        print(f"wrote {out} ({args.variant} of {take.id}, seed {new.params.seed})")
        return 0
    if args.command == "evaluate":
        from .evaluate import run_from_args; return run_from_args(args)  # noqa: E702
    raise AssertionError(args.command)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
