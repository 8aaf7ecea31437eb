"""``agx`` — the engine from the command line: list models, generate a take, explain it, regenerate it.

Every command exits with status 0 on success and 2 with a one-line ``agx: error: ...`` on bad
input (empty prompt, unknown model, folder that is not a take, a number out of range, ...). Every
number is parsed by a ``type=`` function that refuses NaN, infinities and out-of-range values
before anything loads (ranges: :mod:`.limits`). Text that came from the user or from a file is
printed through :func:`.safetext.terminal_safe`, so a tampered take cannot drive the terminal.
Anything unexpected ends as one ``agx: internal error: ...`` line with status 1 (``AGX_DEBUG=1``
prints the traceback).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import typing as tp
from pathlib import Path

from . import edit_cli, guided_cli, limits
from .machine import use_huge_pages
from .cli_args import (ARG_CFG, ARG_DURATION, ARG_PROMPT, ARG_SECONDS, ARG_SEED,
                       ARG_TEMPERATURE, ARG_TOP_K, ARG_TOP_P, ARG_WEIGHT, Bars, add_speed_arguments, checked,
                       load_announced, model_for_take, parse_weights, quiet_imports, read_explanation,
                       say_if_over_full_scale, with_speed_arguments)
from .errors import AgxError, ParameterError
from .safetext import check_prompt_chars, terminal_safe

if tp.TYPE_CHECKING:
    from .explain.settings import ExplainerSettings, Field
    from .explanation import Explanation
    from .take import Take

INTERNAL_HINT = "please report; run with AGX_DEBUG=1 for the traceback"

EPILOG = """examples:
  agx models
  agx generate "a dog barks then a bell rings" --duration 5 --seed 1 --out takes/dog
  agx explain takes/dog                      # writes takes/dog/explanation.json
  agx explain takes/dog --interval 1.0 2.5   # importance of each word for 1.0-2.5 s
  agx regenerate takes/dog --variant counterfactual --out takes/dog_cf
  agx regenerate takes/dog --weights dog=0 bell=2 --out takes/dog_edit
  agx regenerate takes/dog --from 2.0 --to 3.5 --replace bell=whistle --out takes/dog_whistle
  agx timeline "0-2.5: a dog barks" "2.5-5: a church bell rings" --out takes/line
  agx edit takes/dog --none bell --region 2 5 --out takes/dog_nobell   # guided: checks its own result
  agx export takes/dog dog.wav --lufs -14 --true-peak -1 --bits 24 --rate 48000
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one ``agx: error:`` line (no usage block) and exits 2,
    and adds options that need heavy imports (the explainers' settings) only when it is used: so
    ``agx --help`` or ``agx models`` never import torch for ``agx explain``'s options."""

    def __init__(self, *args: tp.Any, **kwargs: tp.Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[tp.Callable[[argparse.ArgumentParser], None]] = []

    def defer(self, add: tp.Callable[[argparse.ArgumentParser], None]) -> None:
        """Run ``add(self)`` right before this parser first parses or prints its help."""
        self._deferred.append(add)

    def _add_deferred(self) -> None:
        while self._deferred:
            self._deferred.pop(0)(self)

    def parse_known_args(self, args: tp.Any = None, namespace: tp.Any = None) -> tp.Any:  # type: ignore[override]
        self._add_deferred()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._add_deferred()
        return super().format_help()

    def error(self, message: str) -> tp.NoReturn:  # type: ignore[override]
        print(f"agx: error: {terminal_safe(message)} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def _add_models(sub: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    m = sub.add_parser("models", help="list models, where each comes from and whether it is usable now")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.add_argument("--offline", action="store_true", help="do not probe the network")
    return m


def _add_generate(sub: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    g = sub.add_parser("generate", help="generate a take folder from a prompt",
                       description="Generate audio from PROMPT and write a take folder (audio.wav, take.json, "
                                   "tensors.safetensors) to --out.")
    g.add_argument("prompt", type=ARG_PROMPT,
                   help='what the sound should be, e.g. "rain on a tin roof with distant thunder" (newlines and '
                        'tabs become spaces; other control characters are refused)')
    g.add_argument("--model", default="bundled", help="model id (see `agx models`) or a checkpoint folder")
    g.add_argument("--duration", type=ARG_DURATION, default=5.0, help="seconds of audio (default 5)")
    g.add_argument("--seed", type=ARG_SEED, default=0, help="random seed: same seed and settings = same audio")
    g.add_argument("--top-k", type=ARG_TOP_K, default=None,
                   help="sample among the k most likely codes, 0 = all (default: the model's; 250 for AudioGen)")
    g.add_argument("--top-p", type=ARG_TOP_P, default=None, help="nucleus sampling threshold, 0 = off (default)")
    g.add_argument("--temperature", type=ARG_TEMPERATURE, default=None,
                   help="sampling temperature (default: the model's; 1.0 for AudioGen, 0.8 for bundled)")
    g.add_argument("--cfg", type=ARG_CFG, default=None,
                   help=f"classifier-free guidance strength, 0 to {limits.MAX_CFG:g} (default 3.0)")
    g.add_argument("--weights", nargs="*", metavar="WORD=W", default=None, type=ARG_WEIGHT,
                   help=f"per-word cross-attention weights from 0 to {limits.MAX_WORD_WEIGHT:g}, e.g. dog=0 (mute) "
                        "bell=2 (boost)")
    g.add_argument("--out", required=True,
                   help="take folder to write: a new folder, or an existing take (replaced atomically); "
                        "any other folder or file is refused")
    add_speed_arguments(g)
    return g


def _add_explain(sub: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    e = sub.add_parser("explain", help="explain a take: word importance per frame -> DIR/explanation.json",
                       description="Explain a take: which words made which sounds, frame by frame. Each method's "
                                   "options are listed below under its name; options of another method than "
                                   "--method are ignored.")
    e.add_argument("take", help="take folder written by `agx generate`")
    e.add_argument("--method", default="audiogenx",
                   help="explanation method (default audiogenx, the paper's); the methods and their options are "
                        "listed below")
    e.add_argument("--model", default=None,
                   help="model to use (default: the one that made the take; a take made by a model folder "
                        "needs it named here)")
    e.add_argument("--interval", nargs=2, type=ARG_SECONDS, metavar=("START", "END"),
                   help="report importance for this interval in seconds (re-uses a stored explanation)")
    e.add_argument("--retrain", action="store_true", help="explain again even if explanation.json exists")
    e.add_argument("--view", choices=("paper", "sound"), default="paper",
                   help="how the ranking is printed: paper (default) = every word by the paper's importance; "
                        "sound = the same scores grouped by kind, sound words (what sounds) first, then context "
                        "words (how, where, when it is heard), then function words ('a', 'then')")
    add_explainer_options(e)
    return e


def _add_regenerate(sub: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    r = sub.add_parser("regenerate", help="regenerate a take with its explanation's mask or word weights")
    r.add_argument("take", help="take folder")
    r.add_argument("--variant", choices=["factual", "counterfactual", "weighted"], default="weighted")
    r.add_argument("--weights", nargs="*", metavar="WORD=W", default=None, type=ARG_WEIGHT,
                   help="for --variant weighted: e.g. dog=0 bell=2 (by word or by index: 1=0)")
    r.add_argument("--seed", type=ARG_SEED, default=None, help="default: the take's seed")
    r.add_argument("--model", default=None,
                   help="model to use (default: the one that made the take; a take made by a model folder "
                        "needs it named here)")
    r.add_argument("--out", required=True, help="take folder to write (a new folder or an existing take)")
    edit_cli.add_region_arguments(r)  # --from/--to: regenerate only a region (the audio before it is kept)
    return r


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="agx", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Generate sound effects from text with AudioGen and explain which words made which "
                    "sounds (AudioGenX).")
    p.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: CUDA when available, else CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        command.add(sub)
    for plugin in plugin_commands().values():  # `agx evaluate` (agx_desktop.evaluation), ...
        plugin.add_subparser(sub)
    return p


# --------------------------------------------------------------------------- explainer options

SETTING = "setting:"  # argparse dest of an explainer option: setting:NAME (explain), setting:METHOD:NAME (evaluate)


def add_explainer_options(parser: argparse.ArgumentParser, *, per_method: bool = False,
                          aliases: tp.Mapping[tuple[str, str], tp.Sequence[str]] | None = None) -> None:
    """Add every registered explainer's settings to ``parser`` as options, from their declarations.

    ``agx explain``: ``--NAME`` (one option for a name several methods share). ``per_method`` (``agx
    evaluate``, which runs several methods): ``--METHOD-NAME``. ``aliases`` adds older spellings,
    ``{("audiogenx", "epochs"): ["--epochs"]}``. Options left out are absent from the namespace
    (the method's default applies); read them back with :func:`explainer_overrides`. The options are
    built when the parser is first used (the explainers import torch).
    """
    def build(p: argparse.ArgumentParser) -> None:
        from .explain import METHODS, menu_order
        users: dict[str, list[tuple[str, Field]]] = {}
        for name in menu_order():
            for f in METHODS[name].Settings.fields():
                users.setdefault(f.name, []).append((name, f))
        shared = None if per_method else p.add_argument_group("options of several methods")
        for name in menu_order():
            group = p.add_argument_group(f"{name}", METHODS[name].summary.replace("%", "%%"))
            for f in METHODS[name].Settings.fields():
                flag = f.name.replace("_", "-")
                if per_method:
                    _add_setting(group, [*(aliases or {}).get((name, f.name), ()), f"--{name}-{flag}"],
                                 f"{SETTING}{name}:{f.name}", [(name, f)])
                elif len(users[f.name]) == 1:
                    _add_setting(group, [f"--{flag}"], f"{SETTING}{f.name}", users[f.name])
                elif users[f.name][0][0] == name:  # a name several methods share: once
                    _add_setting(shared, [f"--{flag}"], f"{SETTING}{f.name}", users[f.name])

    defer = getattr(parser, "defer", None)
    defer(build) if defer is not None else build(parser)


def _add_setting(group: "argparse._ArgumentGroup", flags: list[str], dest: str, users: list[tuple[str, Field]]) -> None:
    """One option for the settings field ``users[0]`` (the same name in every method of ``users``)."""
    f = users[0][1]
    kwargs: dict[str, tp.Any] = {"dest": dest, "default": argparse.SUPPRESS, "help": _setting_help(users)}
    if f.kind == "bool":
        kwargs["action"] = argparse.BooleanOptionalAction
    elif f.kind == "choice":
        kwargs["choices"] = f.option.choices
    else:
        kwargs["type"] = checked(lambda v: v, f.parse)
        kwargs["metavar"] = ("START", "END") if f.kind == "interval" else f.name.upper()
        if f.kind == "interval":
            kwargs["nargs"] = 2
    group.add_argument(*flags, **kwargs)


def _setting_help(users: list[tuple[str, Field]]) -> str:
    """The option's help: the declared line, its default and range (per method where several share it)."""
    def one(f: Field) -> str:
        facts = [] if f.default is None else [f"default {_shown(f.default)}"]
        if f.kind in ("int", "float") and f.range_text():
            facts.append(f.range_text())
        return f.help + (f" ({'; '.join(facts)})" if facts else "")
    text = one(users[0][1]) if len(users) == 1 else "; ".join(f"{m}: {one(f)}" for m, f in users)
    return text.replace("%", "%%")


def _shown(value: tp.Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def explainer_overrides(args: argparse.Namespace, method: str | None = None) -> dict[str, tp.Any]:
    """The explainer options given on the command line: ``{NAME: value}`` (``agx explain``) or, for
    ``method``, that method's ``--METHOD-NAME`` options (``agx evaluate``)."""
    prefix = SETTING if method is None else f"{SETTING}{method}:"
    return {key[len(prefix):]: value for key, value in vars(args).items()
            if key.startswith(prefix) and ":" not in key[len(prefix):]}


COMMANDS_GROUP = "agx_desktop.commands"


@functools.lru_cache(maxsize=None)
def plugin_commands() -> dict[str, tp.Any]:
    """Subcommands that packages above the engine add to ``agx``, by name (``evaluate``: see pyproject.toml).

    Each is an entry point of group ``agx_desktop.commands`` naming a module (or object) with
    ``add_subparser(subparsers)`` and ``run_from_args(args) -> int``; so the engine runs
    ``agx evaluate`` without importing ``agx_desktop.evaluation``.
    """
    from importlib.metadata import entry_points
    return {ep.name: ep.load() for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda ep: ep.name)}


def _print_models(rows: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], indent=1))
        return
    width = max(len(r.id) for r in rows)
    for r in rows:
        flag = "yes" if r.usable else "no "
        print(f"{r.id:<{width}}  usable: {flag}  {r.status:<42}  {r.source} — {r.description}")


def _exit_status(exc: SystemExit) -> int:
    code = exc.code
    return code if isinstance(code, int) else (0 if code is None else 2)


def _quiet_libraries() -> None:
    """``--quiet`` silences the libraries' own bars too (transformers' "Loading weights" for the text
    encoder, the hub's downloads): set before they are imported, and in them where one already is."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()


def run(argv: list[str] | None = None) -> int:
    """Run one ``agx`` command; returns the exit status (never raises, never prints a traceback
    unless ``AGX_DEBUG=1``): 0 done, 2 bad input (one line), 1 internal error (one line), 130 Ctrl-C."""
    quiet_imports()
    use_huge_pages()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad argument already reported in one line
        return _exit_status(exc)
    bars = Bars(enabled=not args.quiet)
    if args.quiet:
        _quiet_libraries()
    try:
        return _dispatch(args, bars)
    except AgxError as exc:
        bars.close()
        print(f"agx: error: {terminal_safe(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bars.close()
        print("agx: interrupted; nothing was written", file=sys.stderr)
        return 130
    except OSError as exc:  # the disk or the OS refused something: say what and where, in one line
        bars.close()
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"agx: error: {terminal_safe(exc.strerror or exc)}{terminal_safe(where)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        bars.close()
        if os.environ.get("AGX_DEBUG"):
            import traceback
            traceback.print_exc()
        msg = terminal_safe(exc)
        msg = msg if len(msg) <= 300 else msg[:300] + "…"
        print(f"agx: internal error: {type(exc).__name__}: {msg} ({INTERNAL_HINT})", file=sys.stderr)
        return 1
    finally:
        bars.close()


def _models(args: argparse.Namespace, bars: Bars) -> int:
    from .models import list_models
    _print_models(list_models(check_network=not args.offline), args.json)
    return 0


def _generate(args: argparse.Namespace, bars: Bars) -> int:
    from . import take_folder  # torch, not audiocraft: a bad take folder is reported before the model code loads
    from .generation import generate
    out = take_folder.check_out_path(args.out)  # before the model loads: a bad --out costs nothing
    with take_folder.take_lock(out):
        model = with_speed_arguments(load_announced(args.model, args), args)
        weights = parse_weights(model.text_tokens(args.prompt).words, args.weights) if args.weights else None
        params = model.default_params(duration=args.duration, seed=args.seed, top_k=args.top_k,
                                      top_p=args.top_p, temperature=args.temperature, cfg_coef=args.cfg)
        take = generate(model, args.prompt, params, word_weights=weights, progress=bars)
        bars.close()
        out = take_folder.save_take(take, out)
    untrained = "" if model.trained else " (untrained model: expect noise)"
    speed = f", {take.speed['label']}" if take.speed else ""
    print(f"wrote {terminal_safe(out)} ({take.duration:.2f} s, {take.sample_rate} Hz, seed {take.params.seed}, "
          f"{take.seconds:.1f} s{speed}){untrained}")
    say_if_over_full_scale(take)
    return 0


def _explainer_settings(args: argparse.Namespace) -> ExplainerSettings:
    """The chosen method's settings from the options given, checked before anything loads; options of
    other methods only (``--epochs`` with ``--method deletion``) are left out (:func:`_unused_options`
    names them)."""
    from .explain import get_explainer
    explainer = get_explainer(args.method)
    known = {f.name for f in explainer.Settings.fields()}
    given = {name: value for name, value in explainer_overrides(args).items() if name in known}
    return explainer.Settings.from_values(given, method=args.method)


def _unused_options(args: argparse.Namespace, settings: ExplainerSettings) -> str | None:
    """One note naming the options given that the chosen method (its ``settings``) does not have: they do
    not change its explanation, so nobody should believe they were used; None when every option is its."""
    known = {f.name for f in type(settings).fields()}
    unused = sorted(name for name in explainer_overrides(args) if name not in known)
    if not unused:
        return None
    flags = ", ".join("--" + name.replace("_", "-") for name in unused)
    return (f"agx: note: {flags} {'does' if len(unused) == 1 else 'do'} not apply to --method {args.method}; "
            "ignored (see 'agx explain --help' for each method's options)")


def _stored_explanation(args: argparse.Namespace, take: Take, settings: ExplainerSettings) -> Explanation | None:
    """The take's explanation.json when it can be re-used — the same take and method, every explainer
    option given on this command line equal to the stored one's (``--interval`` alone reads the stored
    masks again; ``--epochs 3`` after a default explanation explains again), no --retrain — else None."""
    from . import take_folder
    stored = Path(args.take) / take_folder.EXPLANATION
    if args.retrain or not stored.is_file():
        return None
    try:
        existing = take_folder.load_explanation(args.take, take)
    except Exception as exc:  # corrupt or tampered: explain it again and replace it
        print(f"agx: note: {terminal_safe(stored)} cannot be used ({terminal_safe(exc)[:200]}); "
              "explaining again", file=sys.stderr)
        return None
    asked, kept = settings.to_dict(), existing.params or {}
    same = all(name not in asked or kept.get(name) == asked[name] for name in explainer_overrides(args))
    return existing if existing.take_id == take.id and existing.method == args.method and same else None


def _explain(args: argparse.Namespace, bars: Bars) -> int:
    from . import take_folder
    from .explain import get_explainer
    from .explanation import check_interval
    settings = _explainer_settings(args)
    take = take_folder.load_take(args.take)  # a folder that is not a take: its own line, before any lock
    model_for_take(take, args.model, "explain")
    interval = tuple(args.interval) if args.interval else None
    if interval is not None:
        check_interval(interval, take.duration, take.frame_rate)
    with take_folder.take_lock(args.take):  # no generate may replace the take between explain and save
        take = take_folder.load_take(args.take)
        model_id = model_for_take(take, args.model, "explain")
        explanation = _stored_explanation(args, take, settings)
        unused = _unused_options(args, settings)  # said once the take and its model are known good, not before an error
        if unused:
            print(unused, file=sys.stderr)
        if explanation is None:
            model = load_announced(model_id, args)
            explanation = get_explainer(args.method).explain(model, take, settings, progress=bars)
            bars.close()
        importance = explanation.word_importance(interval)
        path = take_folder.save_explanation(explanation, args.take, interval)
    span = "whole clip" if interval is None else f"{interval[0]:g}-{interval[1]:g} s"
    print(f"wrote {terminal_safe(path)} ({explanation.method}, {explanation.seconds:.1f} s); importance over {span}:")
    _print_ranking(explanation.words, importance, args.view)
    return 0


#: The sound view's groups: heading, and which words (of a WordKinds) each holds, by score.
_VIEW_GROUPS: tuple[tuple[str, tp.Callable[[tp.Any], list]], ...] = (
    ("sound words (what sounds)", lambda kinds: kinds.sound),
    ("context words (how, where, when it is heard; ranked apart, score kept)",
     lambda kinds: [w for w in kinds.content if w.context]),
    ("function words (ranked apart, score kept)", lambda kinds: kinds.function),
)


def _print_ranking(words: tp.Sequence[str], importance: tp.Sequence[float], view: str) -> None:
    """The words by importance, each with its kind (``word_kinds``): one list (``paper``), or grouped
    by kind with sound words first (``sound``); the scores are the same in both."""
    from .word_kinds import FUNCTION, classify_scores
    kinds = classify_scores(words, importance)

    def line(w: tp.Any) -> str:
        kind = "function" if w.kind == FUNCTION else "context" if w.context else "sound"
        return f"  {w.score:5.3f}  {'#' * int(round(max(w.score, 0.0) * 30)):<30}  {terminal_safe(w.word)}  ({kind})"
    if view != "sound":
        for w in sorted(kinds.words, key=lambda w: w.rank):
            print(line(w))
        return
    print("sound words first (the paper's scores, grouped by kind):")
    for heading, members_of in _VIEW_GROUPS:
        print(f" {heading}:")
        members = members_of(kinds)
        for w in members:
            print(line(w))
        if not members:
            print("   (none)")


def _regenerate(args: argparse.Namespace, bars: Bars) -> int:
    if args.region_from is not None or args.region_to is not None or args.replace:
        return edit_cli.run_region(args, bars)
    from . import take_folder
    from .generation import regenerate
    take = take_folder.load_take(args.take)
    model_id = model_for_take(take, args.model, "regenerate")
    check_prompt_chars(take.prompt)  # a tampered take.json: refused before the model loads
    explanation = weights = None
    if args.variant in ("factual", "counterfactual"):
        if args.weights:
            raise ParameterError(f"--weights is for --variant weighted; a {args.variant} take uses the "
                                 "explanation's mask")
        explanation = read_explanation(args.take, take)
    else:
        weights = parse_weights(take.words, args.weights or [])
    out = take_folder.check_out_path_for_edit(args.out, args.take, "regenerate")  # before the model loads
    with take_folder.take_lock(out):
        model = load_announced(model_id, args)
        new = regenerate(model, take, args.variant, explanation=explanation, word_weights=weights,
                         seed=args.seed, progress=bars)
        bars.close()
        out = take_folder.save_take(new, out)
    print(f"wrote {terminal_safe(out)} ({args.variant} of {terminal_safe(take.id)}, seed {new.params.seed})")
    say_if_over_full_scale(new)
    return 0


class Command(tp.NamedTuple):
    """A built-in ``agx`` command: how its options are added, and what runs it."""

    add: tp.Callable[["argparse._SubParsersAction"], argparse.ArgumentParser]
    run: tp.Callable[[argparse.Namespace, Bars], int]


COMMANDS: dict[str, Command] = {
    "models": Command(_add_models, _models),
    "generate": Command(_add_generate, _generate),
    "explain": Command(_add_explain, _explain),
    "regenerate": Command(_add_regenerate, _regenerate),
    "region": Command(edit_cli.add_region_parser, edit_cli.run_region),
    "timeline": Command(edit_cli.add_timeline_parser, edit_cli.run_timeline),
    "edit": Command(guided_cli.add_subparser, lambda args, _bars: guided_cli.run_from_args(args)),
}


def _dispatch(args: argparse.Namespace, bars: Bars) -> int:
    command = COMMANDS.get(args.command)
    if command is not None:
        return command.run(args, bars)
    return plugin_commands()[args.command].run_from_args(args)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
