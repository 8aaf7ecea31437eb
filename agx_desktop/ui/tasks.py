"""The job functions the app queues (run on a worker thread by :mod:`jobs`; no Qt here).

Each returns its complete result only at the end; a cancelled job returns nothing, so the app's
state is untouched. Autosaving happens inside the job, off the GUI thread. The engine's generation
and explainers (audiocraft, ~20 s of imports on a slow machine) are imported inside the jobs, so the
window appears before them.
"""
from __future__ import annotations

import time
import typing as tp
from dataclasses import dataclass, replace

import numpy as np

from agx_desktop.engine.errors import AgxError
from agx_desktop.engine.take import GenerationParams

from .analysis import TakeItem, analyse
from .jobs import JobContext
from .store import TakeStore

if tp.TYPE_CHECKING:
    from agx_desktop.engine.explain.settings import ExplainerSettings
    from agx_desktop.engine.guided_edit import WordIntent
    from agx_desktop.engine.timeline import Segment
    from agx_desktop.engine.explanation import Explanation
    from agx_desktop.engine.models import LoadedModel


def _autosave(store: TakeStore, item: TakeItem) -> None:
    """Save ``item``; a full or read-only data dir must not cost the user the take itself."""
    try:
        store.save(item)
    except (OSError, AgxError) as exc:
        item.folder = None
        item.notes["autosave_error"] = f"take not autosaved ({store.root}): {exc}"


def _model(ctx: JobContext, model_id: str) -> LoadedModel:
    from agx_desktop.engine.models import load_model
    return load_model(model_id, progress=ctx.progress, cancel=ctx.cancel)


#: The app's speed settings for sampling (:mod:`agx_desktop.engine.speed`): set from the Model menu and the
#: saved settings (:func:`set_speed`), read when a generation job is queued; all off by default.
SPEED: dict[str, tp.Any] = {"int8": False, "bf16": False, "threads": 0}


def set_speed(values: tp.Mapping[str, tp.Any]) -> dict[str, tp.Any]:
    """Set :data:`SPEED` from ``values`` (a saved settings entry: what is missing or malformed is off);
    returns what was set."""
    threads = values.get("threads")
    SPEED.update(int8=values.get("int8") is True, bf16=values.get("bf16") is True,
                 threads=threads if isinstance(threads, int) and not isinstance(threads, bool)
                 and 1 <= threads <= 1024 else 0)
    return dict(SPEED)


def _sampling_model(ctx: JobContext, model_id: str, speed: tp.Mapping[str, tp.Any]) -> LoadedModel:
    """The model to sample with under ``speed`` (a :data:`SPEED` copy): the loaded model when all is off,
    else its speed copy (:meth:`~agx_desktop.engine.models.LoadedModel.sampling_copy`: kept for the next
    take; int8 left out off the CPU, as the menu says). Explanations always use the float32 model."""
    from agx_desktop.engine.speed import SpeedSettings
    model = _model(ctx, model_id)
    settings = SpeedSettings(int8=speed["int8"], bf16=speed["bf16"], threads=speed["threads"] or None)
    return model.sampling_copy(settings, on_quantise=lambda: ctx.progress("int8 quantisation", 0, 1))


def load_model_task(model_id: str) -> tp.Callable[[JobContext], tp.Any]:
    def run(ctx: JobContext) -> tp.Any:
        return _model(ctx, model_id)
    return run


def load_store_task(store: TakeStore) -> tp.Callable[[JobContext], tp.Any]:
    def run(ctx: JobContext) -> tuple[list[TakeItem], list[str]]:
        from .paths import prune_drag_dir
        prune_drag_dir()
        items, problems = store.load_all(progress=ctx.progress)
        if any(item.explanation is not None for item in items):
            warm_word_kinds()
        return items, problems
    return run


def warm_word_kinds() -> None:
    """Load the word-kind tables (spaCy's stop words, ~2 s on first use; WordNet's sense classes) on the
    job's thread: the window asks for each word's kind when it shows an explanation and must not freeze."""
    from agx_desktop.engine.word_kinds import is_context_word, word_kind
    word_kind("a")
    is_context_word("sound")


def _explain(ctx: JobContext, model: LoadedModel, item: TakeItem, method: str,
             settings: ExplainerSettings | None) -> Explanation:
    """``method`` with ``settings`` (the method's Settings; None: its defaults); the word-kind tables
    the window will read are loaded here too."""
    from agx_desktop.engine.explain import explain
    overrides = settings.changed() if settings is not None else {}
    explanation = explain(model, item.take, method=method, progress=ctx.progress, cancel=ctx.cancel, **overrides)
    warm_word_kinds()
    return explanation


LIVE_INTERVAL_S = 0.1  # a live map goes to the GUI at most 10 times a second (first and last step always)


@dataclass(frozen=True)
class LiveSnapshot:
    """The provisional word × time map of a take being generated (cross-attention, :mod:`engine.live`).

    ``per_frame`` [frames, words] is NaN where no step has arrived yet; ``index`` is the take's place
    in the job (one per seed), so the final snapshot can be kept for the take it belongs to."""

    words: tuple[str, ...]
    per_frame: np.ndarray
    frame_rate: float
    steps_seen: int
    total_steps: int
    index: int = 0

    @property
    def complete(self) -> bool:
        return self.steps_seen >= self.total_steps

    @property
    def duration(self) -> float:
        return self.per_frame.shape[0] / self.frame_rate if self.frame_rate else 0.0


def _live_fn(ctx: JobContext, model: LoadedModel, prompt: str, duration: float,
             index: int) -> tp.Callable[[int, np.ndarray], None]:
    """``on_live`` for one take: folds each step into a :class:`~agx_desktop.engine.live.LiveMap` and
    hands the GUI a snapshot, throttled to :data:`LIVE_INTERVAL_S`."""
    from agx_desktop.engine.generation import validate_duration
    from agx_desktop.engine.live import LiveMap, step_frames

    words = tuple(model.text_tokens(prompt).words)
    frames = validate_duration(model, duration)
    frames_of_step = step_frames(model.lm, frames)
    live_map = LiveMap(len(words), frames_of_step, frames)
    last = [0.0]

    def on_live(step: int, scores: np.ndarray) -> None:
        live_map.add(step, scores)
        now = time.monotonic()
        done = live_map.steps_seen >= len(frames_of_step)
        if step == 0 or done or now - last[0] >= LIVE_INTERVAL_S:
            last[0] = now
            ctx.live(LiveSnapshot(words, live_map.per_frame().astype(np.float32), float(model.frame_rate),
                                  live_map.steps_seen, len(frames_of_step), index))
    return on_live


def _which(ctx: JobContext, index: int, seeds: list[int]) -> tp.Callable[[str, int, int], None]:
    """Progress that says which of several takes is running ("generate · 2/3 (seed 5)")."""
    if len(seeds) < 2:
        return ctx.progress
    tag = f" · {index + 1}/{len(seeds)} (seed {int(seeds[index])})"
    return lambda stage, done, total: ctx.progress(stage + tag, done, total)


def generate_task(store: TakeStore, model_id: str, prompt: str, params: GenerationParams,
                  word_weights: list[float] | None = None, explain_after: bool = False,
                  method: str = "audiogenx", settings: ExplainerSettings | None = None, parent: str | None = None,
                  seeds: tp.Sequence[int] | None = None, live: bool = False,
                  stream_audio: bool = False) -> tp.Callable[[JobContext], list[TakeItem]]:
    """Generate one take (or one per seed in ``seeds``), optionally explained, autosaved.

    ``live``: each take's provisional live map goes out through ``ctx.live`` as steps finish;
    ``stream_audio``: the first take's decoded chunks go out through ``ctx.audio`` (play as it generates).
    """
    speed = dict(SPEED)  # the settings when the take was asked for, not when its job runs

    def run(ctx: JobContext) -> list[TakeItem]:
        from agx_desktop.engine.generation import generate  # audiocraft: imported by the job, not at start
        sampler = _sampling_model(ctx, model_id, speed)
        model = _model(ctx, model_id)  # float32: the live map's words and the explanation
        items = []
        all_seeds = list(seeds or [params.seed])
        for index, seed in enumerate(all_seeds):
            p = replace(params, seed=int(seed))
            on_live = _live_fn(ctx, model, prompt, p.duration, index) if live else None
            on_audio = ctx.audio if stream_audio and index == 0 else None
            take = generate(sampler, prompt, p, word_weights=word_weights, parent=parent,
                            kind="weighted" if word_weights is not None else "original",
                            progress=_which(ctx, index, all_seeds), cancel=ctx.cancel, on_live=on_live,
                            on_audio=on_audio)
            item = analyse(take)
            if explain_after:
                item.explanation = _explain(ctx, model, item, method, settings)
            items.append(item)
        ctx.check()
        ctx.progress("autosave", 0, 1)
        for item in items:
            _autosave(store, item)
        return items
    return run


def explain_task(store: TakeStore, model_id: str, item: TakeItem, method: str,
                 settings: ExplainerSettings | None = None) -> tp.Callable[[JobContext], Explanation]:
    def run(ctx: JobContext) -> tp.Any:
        model = _model(ctx, model_id)
        explanation = _explain(ctx, model, item, method, settings)
        ctx.check()
        ctx.progress("autosave", 0, 1)
        if item.folder is not None:
            from agx_desktop.engine.take_folder import save_explanation
            try:
                save_explanation(explanation, item.folder)
            except (OSError, AgxError) as exc:
                explanation.extras["autosave_error"] = f"explanation not autosaved: {exc}"
        return explanation
    return run


def _finished(ctx: JobContext, store: TakeStore, take: tp.Any,
              explain: tp.Callable[[TakeItem], tp.Any] | None = None) -> list[TakeItem]:
    """A job's one new take: analysed (and explained by ``explain``, when given), autosaved unless the job
    was cancelled, as the job's result."""
    new = analyse(take)
    if explain is not None:
        new.explanation = explain(new)
    ctx.check()
    _autosave(store, new)
    return [new]


def regenerate_task(store: TakeStore, model_id: str, item: TakeItem, variant: str,
                    word_weights: list[float] | None = None) -> tp.Callable[[JobContext], list[TakeItem]]:
    """Factual / counterfactual (needs the item's explanation) or weighted regeneration, same seed."""
    speed = dict(SPEED)

    def run(ctx: JobContext) -> list[TakeItem]:
        from agx_desktop.engine.generation import regenerate
        model = _sampling_model(ctx, model_id, speed)
        take = regenerate(model, item.take, variant, explanation=item.explanation, word_weights=word_weights,
                          progress=ctx.progress, cancel=ctx.cancel)
        return _finished(ctx, store, take)
    return run


# ------------------------------------------------------------------ editing (issue 17)
def region_task(store: TakeStore, model_id: str, item: TakeItem, start: float, end: float | None, prompt: str,
                word_weights: list[float] | None, tail: str, crossfade: float,
                edits: dict[str, tp.Any]) -> tp.Callable[[JobContext], list[TakeItem]]:
    """Regenerate ``item``'s region [start, end) with the edited words (the audio before it is kept)."""
    def run(ctx: JobContext) -> list[TakeItem]:
        from agx_desktop.engine.region import regenerate_region
        model = _model(ctx, model_id)
        take = regenerate_region(model, item.take, start, end, prompt=prompt, word_weights=word_weights,
                                 tail=tp.cast(tp.Any, tail), crossfade=crossfade, edits=edits,
                                 progress=ctx.progress, cancel=ctx.cancel)
        return _finished(ctx, store, take)
    return run


def timeline_task(store: TakeStore, model_id: str, segments: tp.Sequence[Segment], params: GenerationParams,
                  explain_after: bool = False, method: str = "audiogenx",
                  settings: tp.Any = None) -> tp.Callable[[JobContext], list[TakeItem]]:
    """One take whose words follow ``segments`` (the duration is where the last segment ends), explained
    with ``method`` when ``explain_after`` (Generate + Explain), autosaved."""
    def run(ctx: JobContext) -> list[TakeItem]:
        from agx_desktop.engine.timeline import generate_timeline
        model = _model(ctx, model_id)
        take = generate_timeline(model, segments, replace(params, duration=float(segments[-1].end)),
                                 progress=ctx.progress, cancel=ctx.cancel)
        explain = (lambda item: _explain(ctx, model, item, method, settings)) if explain_after else None
        return _finished(ctx, store, take, explain)
    return run


def guided_task(store: TakeStore, model_id: str, item: TakeItem, intents: tp.Sequence[WordIntent],
                region: tuple[float, float] | None, candidates: int, max_rounds: int,
                on_round: tp.Callable[[tp.Any], None] | None = None) -> tp.Callable[[JobContext], list[TakeItem]]:
    """The importance-guided loop on ``item``: every candidate as a take, ranked best first, each with
    ``notes['rank_label']`` (rank, score, met, what changed). ``on_round(RoundResult)`` as each round
    finishes (from the worker thread: pass a signal's ``emit``)."""
    def run(ctx: JobContext) -> list[TakeItem]:
        from agx_desktop.engine.guided_edit import make_scorer, rounds
        model = _model(ctx, model_id)
        # the event classifier only knows the trained bundled world; any other model: the explanation
        scorer = make_scorer("auto" if getattr(model, "trained", False) else "explanation", model, intents)
        last = None
        for last in rounds(model, item.take, list(intents), region=region, candidates=candidates,
                           max_rounds=max_rounds, scorer=scorer, progress=ctx.progress, cancel=ctx.cancel):
            if on_round is not None:
                on_round(last)
        ctx.check()
        items = []
        for rank, cand in enumerate(last.candidates if last is not None else [], 1):
            new = analyse(cand.take)
            new.notes["rank_label"] = (f"#{rank} {'✓ met' if cand.met else '✗ not met'} · score "
                                       f"{cand.score.value:.2f} · round {cand.round} · {cand.label}")
            items.append(new)
        ctx.progress("autosave", 0, 1)
        for new in items:
            _autosave(store, new)
        return items
    return run


_THREADS_SET = False


def configure_threads() -> None:
    """Leave one core to the GUI thread so the window stays responsive while torch computes."""
    global _THREADS_SET
    if _THREADS_SET:
        return
    import os
    import sys
    cores = os.cpu_count() or 1
    if cores > 1 and not os.environ.get("OMP_NUM_THREADS"):
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(max(1, cores - 1))
        else:  # the first job imports torch, which takes this as its thread count: the window need not wait for torch
            os.environ["OMP_NUM_THREADS"] = str(max(1, cores - 1))
    sys.setswitchinterval(0.002)  # hand the GIL back to the GUI thread more often than every 5 ms
    _THREADS_SET = True
