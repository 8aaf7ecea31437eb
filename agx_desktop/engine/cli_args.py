"""What ``agx``'s commands share: checked argument types, progress bars, loading the take's model.

Below :mod:`.cli` and the command modules that plug into it (:mod:`.edit_cli`, :mod:`.guided_cli`,
:mod:`.delivery.cli`), so the command table can import them without an import cycle. Every number
is parsed by a ``type=`` that refuses NaN, infinities and out-of-range values before anything loads.
"""
from __future__ import annotations

import argparse
import os
import sys
import typing as tp
import warnings
from pathlib import Path

from . import limits
from .errors import AgxError, ExplanationError, ModelMismatchError, ParameterError, PromptError
from .safetext import normalise_prompt, terminal_safe

if tp.TYPE_CHECKING:
    from .speed import SpeedSettings
    from .explanation import Explanation
    from .models import LoadedModel
    from .take import Take


def quiet_imports() -> None:
    """Silence import-time warnings that say nothing to a user (xformers without CUDA, see README)."""
    warnings.filterwarnings("ignore", module="xformers")
    warnings.filterwarnings("ignore", message=".*xFormers.*")


class Bars:
    """tqdm progress bars keyed by stage, for ``progress(stage, done, total)`` callbacks."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars: dict[str, tp.Any] = {}  # tqdm bars (tqdm is imported when the first one shows)

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
        if done >= bar.n:
            bar.update(done - bar.n)  # redrawn at most every 0.1 s (a log gets a few lines, not one per step)
        else:  # a stage that started again
            bar.reset(total=total)
            bar.update(done)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def checked(check: tp.Callable[[tp.Any], tp.Any], parse: tp.Callable[[str], tp.Any]) -> tp.Callable[[str], tp.Any]:
    """An argparse ``type=``: ``parse`` the text, then ``check`` the value (errors become argparse's).

    Text that does not parse goes to ``check`` as it is, which refuses it with the option's own
    message ("seed must be an integer from 0 to ..., got 'abc'")."""
    def convert(text: str) -> tp.Any:
        try:
            try:
                value = parse(text)
            except (ValueError, OverflowError) as exc:  # not a number (int() also refuses > 4300 digits)
                if isinstance(exc, AgxError):
                    raise
                value = text
            return check(value)
        except AgxError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = getattr(check, "__name__", "value")
    return convert


def prompt_text(text: str) -> str:
    prompt = normalise_prompt(text)
    if not prompt.strip():
        raise PromptError("the prompt is empty: describe the sound, e.g. 'a dog barks in the rain'")
    return prompt


def weight_spec(text: str) -> tuple[str, float]:
    """WORD=W (or INDEX=W) with W a finite number from 0 to :data:`limits.MAX_WORD_WEIGHT`."""
    key, sep, val = text.rpartition("=")
    if not sep or not key.strip():
        raise ParameterError(f"weight '{text}' must look like WORD=W, e.g. dog=0")
    try:
        value: tp.Any = float(val)
    except ValueError:
        raise ParameterError(f"weight '{text}': {val!r} is not a number") from None
    return key.strip(), limits.check_word_weight(value, key.strip())


ARG_DURATION = checked(limits.check_duration, float)
ARG_SEED = checked(limits.check_seed, int)
ARG_TOP_K = checked(lambda v: limits.check_int("top-k", v, 0, limits.MAX_TOP_K, hint="0 = all codes"), int)
ARG_TOP_P = checked(lambda v: limits.check_real("top-p", v, 0.0, 1.0, hint=" (0 = off)"), float)
ARG_TEMPERATURE = checked(lambda v: limits.check_real("temperature", v, 0.0, limits.MAX_TEMPERATURE,
                                                       hint=" (0 = greedy)"), float)
ARG_CFG = checked(lambda v: limits.check_real("guidance (cfg)", v, 0.0, limits.MAX_CFG), float)
ARG_SAMPLES = checked(lambda v: limits.check_int("samples", v, 1, limits.MAX_SAMPLES), int)
ARG_LIMIT = checked(lambda v: limits.check_int("limit", v, 1, 10 ** 9), int)
ARG_SECONDS = checked(lambda v: limits.check_real("interval time", v, -1e9, 1e9, hint=" seconds"), float)
ARG_THREADS = checked(lambda v: limits.check_int("threads", v, 1, 1024), int)
ARG_PROMPT = checked(lambda v: v, prompt_text)
ARG_WEIGHT = checked(lambda v: v, weight_spec)


def parse_weights(words: list[str], specs: tp.Sequence[tuple[str, float]]) -> list[float]:
    """One weight per word from ``(WORD or INDEX, W)`` pairs (values already range-checked by argparse)."""
    weights = [1.0] * len(words)
    lowered = [w.lower().strip(".,;:!?") for w in words]
    for key, value in specs:
        if key.isascii() and key.isdigit() and int(key) < len(words):
            idx = [int(key)]
        else:
            idx = [i for i, w in enumerate(lowered) if w == key.lower()]
        if not idx:
            raise ParameterError(f"'{key}' is not a word of the prompt ({' '.join(words)})")
        for i in idx:
            weights[i] = limits.check_word_weight(value, key)
    return weights


def add_speed_arguments(parser: argparse.ArgumentParser, threads: bool = True) -> None:
    """``--int8``, ``--bf16``, ``--threads N``: the speed settings (:mod:`.speed`), all off by default
    (each changes the numbers the LM computes; figures in benchmarks/results/speed.md). ``threads=False``
    for a command that has its own ``--threads`` (``agx batch``: threads per worker)."""
    group = parser.add_argument_group("speed (CPU; off by default: a take made with one is not the float32 "
                                      "take of its seed; the take records it)")
    group.add_argument("--int8", action="store_true",
                       help="int8 dynamic quantisation of the LM's weights: faster, approximate (AudioGen-medium on "
                            "a 2-core CPU: see README 'Live and speed')")
    group.add_argument("--bf16", action="store_true",
                       help="bf16 autocast while sampling: faster only where the CPU has native bf16 (AMX, "
                            "AVX512-BF16); elsewhere emulated and slower")
    if threads:
        group.add_argument("--threads", type=ARG_THREADS, default=None, metavar="N",
                           help="CPU threads while sampling (default: 1 for small models, all cores for large ones)")


def speed_from_arguments(args: argparse.Namespace, device_type: str, threads: bool = True) -> "SpeedSettings":
    """The speed settings the options ask for; a note when ``--bf16`` is asked for on a CPU
    (``device_type``) that only emulates bf16. ``threads=False``: ``--threads`` means something else."""
    from .speed import SpeedSettings, bf16_native
    settings = SpeedSettings(bf16=bool(getattr(args, "bf16", False)), int8=bool(getattr(args, "int8", False)),
                             threads=getattr(args, "threads", None) if threads else None)
    if settings.bf16 and device_type == "cpu" and not bf16_native() and not args.quiet:
        print("agx: note: this CPU has no native bf16: --bf16 is emulated here and slower, not faster",
              file=sys.stderr)
    return settings


def with_speed_arguments(model: LoadedModel, args: argparse.Namespace) -> LoadedModel:
    """``model`` under the speed options given (itself when none is)."""
    settings = speed_from_arguments(args, model.device.type)
    return model if settings.is_default else model.with_speed(settings)


def load_announced(model_id: str, args: argparse.Namespace) -> LoadedModel:
    """Load a model, saying so first (a hub model can take a while to load or download)."""
    from .models import load_model
    if args.quiet:
        return load_model(model_id, args.device)
    print(f"loading model '{terminal_safe(model_id)}'...", file=sys.stderr, flush=True)

    def say(what: str, done: int, total: int) -> None:
        if done < total:
            print(f"  [{done + 1}/{total}] {terminal_safe(what)}", file=sys.stderr, flush=True)
    return load_model(model_id, args.device, progress=say)


def registered_ids() -> set[str]:
    """Model ids that name a known model (not a folder): these load as before, wherever a take says so."""
    from . import models
    ids = {models.BUNDLED_ID, *models.HUB_MODELS}
    ids.update(getattr(models, "REGISTERED_IDS", ()))
    for name in ("STANDIN_ID", "STAND_IN_ID"):
        if isinstance(getattr(models, name, None), str):
            ids.add(getattr(models, name))
    return ids


def same_folder(a: str, b: str) -> bool:
    try:
        return os.path.realpath(os.path.expanduser(a)) == os.path.realpath(os.path.expanduser(b))
    except (OSError, ValueError):
        return False


def model_for_take(take: Take, requested: str | None, verb: str) -> str:
    """The model id to load for ``take``: a registered id loads as the take says; a model *folder*
    (anything else) is loaded only when the user names it with --model, so an edited take.json
    cannot point ``agx`` at an arbitrary folder."""
    made_by = take.model_id
    if made_by in registered_ids():
        if requested is not None and requested != made_by:
            raise ModelMismatchError(f"this take was made by model '{made_by}', not '{requested}': "
                                     f"{verb} it with --model {made_by}")
        return made_by
    if requested is None:
        raise ModelMismatchError(f"this take was made by the model folder {made_by}; to load it, say so: "
                                 f"--model {made_by}")
    if requested != made_by and not same_folder(requested, made_by):
        raise ModelMismatchError(f"this take was made by the model folder {made_by}, not '{requested}': "
                                 f"{verb} it with --model {made_by}")
    return made_by


def read_explanation(folder: str, take: Take) -> Explanation:
    """The stored explanation of ``take`` for regeneration, or one line saying what to run."""
    from . import take_folder
    try:
        return take_folder.load_explanation(folder, take)  # missing, damaged, another take's: ExplanationError
    except AgxError:
        raise
    except Exception as exc:  # a reader that missed a case: still one line with the fix
        raise ExplanationError(f"{Path(folder) / take_folder.EXPLANATION} cannot be read ({type(exc).__name__}): "
                               f"run `agx explain {folder} --retrain`") from exc


def say_if_over_full_scale(take: tp.Any) -> None:
    """One note on stderr when a take just written goes above full scale (:func:`.audio.over_full_scale`)."""
    from .audio import over_full_scale
    note = over_full_scale(take.audio)
    if note:
        print(f"agx: note: {note}", file=sys.stderr)
