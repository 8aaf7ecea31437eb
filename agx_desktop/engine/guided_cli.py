"""``agx edit``: the importance-guided edit loop from the command line (issue 17 item 3).

    agx edit takes/storm --less ticking --more wind --none bell --region 3 4 --out takes/storm_edit
    agx edit takes/dog --none dog --region 2 5 --candidates 3 --rounds 2 --out takes/dog_quiet

Writes the ranked candidates as take folders ``OUT/01``, ``OUT/02``, ... (best first) and
``OUT/guided_edit.json`` (per candidate: label, score, met, round, weights, seed; rounds used,
seconds), only once the loop has finished: an interrupted run writes nothing.

In cli.py's command table (:func:`add_subparser`, :func:`run_from_args`); the argument types and
helpers come from :mod:`.cli_args`.
"""
from __future__ import annotations

import argparse
import typing as tp

from . import cli_args, limits
from .errors import ParameterError
from .safetext import terminal_safe

SUMMARY = "guided_edit.json"


def add_subparser(subparsers: tp.Any) -> argparse.ArgumentParser:
    """Add ``agx edit`` to ``agx``'s subcommands."""
    from .guided_edit import DEFAULT_METHOD
    p = subparsers.add_parser(
        "edit", help="edit a take toward more / less / none of some words, checking the result",
        description="Importance-guided edit: explain which words drive the region, regenerate a few candidate "
                    "edits of it, score each against what you asked (the bundled model: its event classifier; "
                    "any model: the explanation of the region), and repeat from the best until the intent is "
                    "met or --rounds run out. Writes the candidates ranked best first.")
    p.add_argument("take", help="take folder")
    for intent, what in (("more", "more of WORD"), ("less", "less of WORD"), ("none", "no WORD at all")):
        p.add_argument(f"--{intent}", nargs="+", action="extend", default=[], metavar="WORD",
                       help=f"{what} in the region (a content word of the prompt)")
    p.add_argument("--region", nargs=2, type=cli_args.ARG_SECONDS, default=None, metavar=("START", "END"),
                   help="seconds [START, END) to edit (default: the whole clip)")
    p.add_argument("--candidates", type=cli_args.checked(lambda v: limits.check_int("candidates", v, 1, 16), int),
                   default=4, help="candidates per round (default 4)")
    p.add_argument("--rounds", type=cli_args.checked(lambda v: limits.check_int("rounds", v, 1, 20), int),
                   default=3, help="at most this many rounds (default 3)")
    p.add_argument("--scorer", choices=("auto", "classifier", "explanation"), default="auto",
                   help="how candidates are checked (auto: the event classifier on the bundled model when every "
                        "word names one of its events, else the explanation of the region)")
    p.add_argument("--method", default=DEFAULT_METHOD, help=f"explainer the loop reads (default {DEFAULT_METHOD})")
    p.add_argument("--tail", choices=("splice", "regenerate"), default="splice",
                   help="after the region: the take's own audio (splice, default) or regenerate on")
    p.add_argument("--model", default=None,
                   help="model to use (default: the one that made the take; a model folder needs naming)")
    p.add_argument("--out", required=True, help="folder for the ranked candidates (OUT/01 best, ...)")
    return p


def _out_folders(out: str, count: int) -> list[tp.Any]:
    from pathlib import Path

    from . import take_folder
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ParameterError(f"--out {out} is a file: name a folder for the candidates")
    return [take_folder.check_out_path(root / f"{i + 1:02d}") for i in range(count)]


def run_from_args(args: argparse.Namespace, progress: tp.Any = None) -> int:
    """``agx edit``: run the loop, then write the ranked candidates and the summary."""
    from . import take_folder
    from .fsio import write_json_atomic
    from .guided_edit import check_intents, guided_edit, intents_from, split_words
    from .models import BUNDLED_ID
    from .region import region_frames
    from .safetext import check_prompt_chars
    take = take_folder.load_take(args.take)
    check_prompt_chars(take.prompt)
    intents = intents_from(args.more, args.less, args.none)
    check_intents(take.words, intents)  # before the model loads: a typo costs nothing
    region = None if args.region is None else (float(args.region[0]), float(args.region[1]))
    if region is not None:
        region_frames(take, *region)
    if args.scorer == "classifier" and take.model_id != BUNDLED_ID:
        raise ParameterError("the classifier scorer needs a take of the bundled model: use --scorer explanation")
    model_id = cli_args.model_for_take(take, args.model, "edit")
    folders = _out_folders(args.out, args.candidates * args.rounds)  # checked before the model loads
    content, function = split_words(take.words)
    quiet = getattr(args, "quiet", False)
    say = progress if progress is not None else (None if quiet else _say)
    model = cli_args.load_announced(model_id, args)
    result = guided_edit(model, take, intents, region=region, candidates=args.candidates, max_rounds=args.rounds,
                         scorer=args.scorer, method=args.method, tail=args.tail, progress=say)
    rows = []
    for rank, (cand, folder) in enumerate(zip(result.candidates, folders), start=1):
        path = take_folder.save_take(cand.take, folder)
        rows.append({"rank": rank, "folder": str(path), "label": cand.label, "score": round(cand.score.value, 4),
                     "met": cand.met, "round": cand.round, "seed": cand.edit.seed,
                     "weights": dict(cand.edit.changes), "detail": cand.score.detail, "take_id": cand.take.id})
    from pathlib import Path
    write_json_atomic(Path(args.out) / SUMMARY, {
        "format": "agx-guided-edit/1", "parent": take.id, "intents": [[i.word, i.intent] for i in intents],
        "region": list(region) if region else None, "scorer": result.scorer, "method": args.method,
        "met": result.met, "rounds_used": result.rounds_used, "seconds": round(result.seconds, 2),
        "candidates": rows, "content_words": content, "function_words": function})
    verdict = "intent met" if result.met else "intent not met"
    print(f"{verdict} after {result.rounds_used} round(s), {result.seconds:.1f} s; scorer {result.scorer}; "
          f"function words left as they are: {', '.join(function) or '-'}")
    for row in rows:
        print(f"{row['rank']:>2}. {terminal_safe(row['label'])}  score {row['score']:.2f}"
              f"{'  met' if row['met'] else ''}  -> {terminal_safe(row['folder'])}")
    return 0


def _say(stage: str, done: int, total: int) -> None:
    """One stderr line per finished stage (a candidate's steps would flood the terminal)."""
    import sys
    if done >= total and " · generate" not in stage:
        print(f"  {terminal_safe(stage)}", file=sys.stderr, flush=True)
