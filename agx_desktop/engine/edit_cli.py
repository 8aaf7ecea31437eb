"""``agx region`` and ``agx timeline``: edit where you point, from the command line (issue 17 items 1-2).

    agx region takes/dog --from 2.0 --to 3.5 --weights bell=0 --out takes/dog_nobell
    agx region takes/dog --from 2.0 --replace bell=whistle --tail splice --crossfade 0.05 --out takes/dog_whistle
    agx timeline "0-2.5: a dog barks" "2.5-5: a church bell rings" --seed 1 --out takes/line
    agx timeline --file line.tsv --out takes/line        # START<TAB>END<TAB>WORDS per line

In cli.py's command table (``Command(add_region_parser, run_region)``, ``Command(add_timeline_parser,
run_timeline)``); :func:`add_region_arguments` + :func:`run_region` let ``agx regenerate TAKE --from S``
run the same code. The argument types and helpers come from :mod:`.cli_args` (below cli.py, so the
table imports this module without a cycle). Errors are :class:`~agx_desktop.engine.errors.AgxError`
(one line, exit 2 through ``cli.run``).
"""
from __future__ import annotations

import argparse
import typing as tp

from . import cli_args, limits
from .errors import ParameterError
from .safetext import check_prompt_chars, terminal_safe

COMMANDS = ("region", "timeline")


def _replace_spec(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old.strip() or not new.strip():
        raise ParameterError(f"replacement '{text}' must look like WORD=NEW, e.g. bell=whistle")
    return old.strip(), new.strip()


def _crossfade(value: tp.Any) -> float:
    from .region import MAX_CROSSFADE
    return limits.check_real("crossfade", value, 0.0, MAX_CROSSFADE, hint=" seconds")


def add_region_arguments(parser: argparse.ArgumentParser, *, from_required: bool = False) -> None:
    """The region options (``--from``, ``--to``, ``--replace``, ``--tail``, ``--crossfade``), for a parser
    that already has TAKE, ``--weights``, ``--seed``, ``--model`` and ``--out`` (``agx regenerate``)."""
    from .region import DEFAULT_CROSSFADE, TAILS
    parser.add_argument("--from", dest="region_from", type=cli_args.ARG_SECONDS, default=None, metavar="S",
                        required=from_required,
                        help="regenerate from S seconds on; the audio before S stays the take's, sample for sample")
    parser.add_argument("--to", dest="region_to", type=cli_args.ARG_SECONDS, default=None, metavar="E",
                        help="end of the region (default: the take's end)")
    parser.add_argument("--replace", nargs="*", metavar="WORD=NEW", default=None,
                        type=cli_args.checked(lambda v: v, _replace_spec),
                        help="in the region, say NEW instead of WORD, e.g. bell=whistle")
    parser.add_argument("--tail", choices=TAILS, default="regenerate",
                        help="after the region: regenerate on with the take's words (default) or splice the "
                             "take's audio back")
    parser.add_argument("--crossfade", type=cli_args.checked(_crossfade, float), default=DEFAULT_CROSSFADE,
                        metavar="SECONDS", help=f"equal-power crossfade at the region's edges, inside the region "
                                                f"(default {DEFAULT_CROSSFADE:g})")


def region_edits(prompt: str, weights: tp.Sequence[tuple[str, float]] | None,
                 replacements: tp.Sequence[tuple[str, str]] | None) -> tuple[str, dict[str, str], list[tuple[str, float]]]:
    """(the region's prompt, the replacements, weight specs on the region's words).

    A weight may name a replaced word (``--replace bell=whistle --weights bell=2``): it applies to
    what replaced it."""
    from .region import replace_words
    replace_map = dict(replacements or [])
    region_prompt = replace_words(prompt, replace_map) if replace_map else prompt
    lowered = {k.lower(): v for k, v in replace_map.items()}
    specs: list[tuple[str, float]] = []
    for key, value in weights or []:
        target = lowered.get(key.lower())
        specs.extend([(word, value) for word in target.split()] if target is not None else [(key, value)])
    return region_prompt, replace_map, specs


def run_region(args: argparse.Namespace, progress: tp.Any = None) -> int:
    """``agx region`` / ``agx regenerate --from``: write the region take to ``args.out``."""
    from . import take_folder
    from .region import regenerate_region
    if getattr(args, "variant", "weighted") != "weighted":
        raise ParameterError(f"--from regenerates a region with word weights; --variant {args.variant} uses the "
                             "explanation's mask over the whole take")
    if args.region_from is None:
        raise ParameterError("say where the region starts: --from SECONDS")
    take = take_folder.load_take(args.take)
    model_id = cli_args.model_for_take(take, args.model, "regenerate")
    check_prompt_chars(take.prompt)  # a tampered take.json: refused before the model loads
    region_prompt, replace_map, specs = region_edits(take.prompt, args.weights, args.replace)
    out = take_folder.check_out_path_for_edit(args.out, args.take, "region")  # before the model loads
    bars = progress if progress is not None else cli_args.Bars(enabled=not getattr(args, "quiet", False))
    try:
        with take_folder.take_lock(out):
            model = cli_args.load_announced(model_id, args)
            words = model.text_tokens(region_prompt).words
            weights = cli_args.parse_weights(words, specs) if specs else None
            edits: dict[str, tp.Any] = {}
            if replace_map:
                edits["replace"] = replace_map
            if args.weights:
                edits["weights"] = {key: float(value) for key, value in args.weights}
            new = regenerate_region(model, take, args.region_from, args.region_to, prompt=region_prompt,
                                    word_weights=weights, tail=args.tail, crossfade=args.crossfade,
                                    seed=args.seed, edits=edits, progress=bars)
            out = take_folder.save_take(new, out)
    finally:
        if progress is None and hasattr(bars, "close"):
            bars.close()
    from .region import edit_label
    print(f"wrote {terminal_safe(out)} (region of {terminal_safe(take.id)}: {terminal_safe(edit_label(new))}, "
          f"tail {new.edit['tail']}, seed {new.params.seed})")
    cli_args.say_if_over_full_scale(new)
    return 0


def add_region_parser(sub: tp.Any) -> argparse.ArgumentParser:
    """``agx region`` (for cli.py's command table: ``Command(add_region_parser, run_region)``)."""
    r = sub.add_parser("region", help="regenerate a region of a take with edited words",
                       description="Regenerate TAKE from --from (to --to) with edited words: the take's codes "
                                   "before the region are the model's prompt and its audio there is kept sample "
                                   "for sample.")
    r.add_argument("take", help="take folder")
    r.add_argument("--weights", nargs="*", metavar="WORD=W", default=None, type=cli_args.ARG_WEIGHT,
                   help="in the region: e.g. bell=0 (mute) dog=2 (boost), by word or index")
    r.add_argument("--seed", type=cli_args.ARG_SEED, default=None, help="default: the take's seed")
    r.add_argument("--model", default=None,
                   help="model to use (default: the one that made the take; a model folder needs naming)")
    r.add_argument("--out", required=True, help="take folder to write (a new folder or an existing take)")
    add_region_arguments(r, from_required=True)
    return r


def add_timeline_parser(sub: tp.Any) -> argparse.ArgumentParser:
    """``agx timeline`` (for cli.py's command table: ``Command(add_timeline_parser, run_timeline)``)."""
    from .timeline import parse_timeline_text
    t = sub.add_parser("timeline", help="generate a take whose words change over time",
                       description="Generate a take that follows a prompt timeline: each segment START-END "
                                   "(seconds, from 0, no gaps) with its own words. The take lasts until the last "
                                   "segment's end.")
    t.add_argument("segments", nargs="*", type=cli_args.checked(lambda v: v, parse_timeline_text),
                   metavar="START-END: WORDS",
                   help='e.g. "0-2.5: a dog barks" "2.5-5: a church bell rings", or as typed in the app\'s '
                        'prompt: "0-2.5: a dog barks | 2.5-5: a church bell rings"')
    t.add_argument("--file", default=None, help="segments from a TSV file: START<TAB>END<TAB>WORDS per line")
    t.add_argument("--model", default="bundled", help="model id (see `agx models`) or a checkpoint folder")
    t.add_argument("--seed", type=cli_args.ARG_SEED, default=0, help="random seed: same seed and settings = same audio")
    t.add_argument("--top-k", type=cli_args.ARG_TOP_K, default=None, help="as for `agx generate`")
    t.add_argument("--top-p", type=cli_args.ARG_TOP_P, default=None, help="as for `agx generate`")
    t.add_argument("--temperature", type=cli_args.ARG_TEMPERATURE, default=None, help="as for `agx generate`")
    t.add_argument("--cfg", type=cli_args.ARG_CFG, default=None, help="as for `agx generate`")
    t.add_argument("--out", required=True, help="take folder to write (a new folder or an existing take)")
    return t


def run_timeline(args: argparse.Namespace, progress: tp.Any = None) -> int:
    """``agx timeline``: write the timeline take to ``args.out``."""
    from . import take_folder
    from .timeline import check_segment_layout, generate_timeline, read_timeline
    if bool(args.segments) == bool(args.file):
        raise ParameterError("give the segments either as arguments (\"0-2.5: a dog barks\" ...) or with --file, "
                             "one of the two")
    # each argument is one segment or several joined by "|" (the app's prompt-box form)
    segments = [seg for arg in args.segments for seg in arg] if args.segments else read_timeline(args.file)
    check_segment_layout(segments)  # gaps, overlaps, empty words: said before the model loads
    end = max(s.end for s in segments)
    duration = limits.check_duration(end)
    out = take_folder.check_out_path(args.out)
    bars = progress if progress is not None else cli_args.Bars(enabled=not getattr(args, "quiet", False))
    try:
        with take_folder.take_lock(out):
            model = cli_args.load_announced(args.model, args)
            params = model.default_params(duration=duration, seed=args.seed, top_k=args.top_k, top_p=args.top_p,
                                          temperature=args.temperature, cfg_coef=args.cfg)
            take = generate_timeline(model, segments, params, progress=bars)
            out = take_folder.save_take(take, out)
    finally:
        if progress is None and hasattr(bars, "close"):
            bars.close()
    parts = "; ".join(f"{s['start']:g}-{s['end']:g} s: {s['text']}" for s in take.segments)
    print(f"wrote {terminal_safe(out)} ({take.duration:.2f} s, seed {take.params.seed}; {terminal_safe(parts)})")
    cli_args.say_if_over_full_scale(take)
    return 0
