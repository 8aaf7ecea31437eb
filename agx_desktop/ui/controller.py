"""Requests → jobs: what the app does when the user asks for something (no widget in here).

The :class:`Controller` reads the request being prepared from the :class:`~.session.Session` (prompt,
parameters, explainer), queues the engine work on the :class:`~.jobs.JobRunner` (:mod:`.tasks` holds
the job functions) and puts the results back into the session, which the panels watch. What the
user must be told goes out as signals (``error``, ``status``, ``notice``...): the window decides how
to show it. So every request can be made and checked without a window (tests/ui/test_controller.py).
"""
from __future__ import annotations

import json
import random
import typing as tp
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from agx_desktop.engine.errors import AgxError
from agx_desktop.engine.limits import DEFAULT_CROSSFADE

from . import tasks
from .export import ExportError, explanation_csv, export_take, write_text_atomic
from .jobs import Job, JobRunner
from .paths import drag_dir
from .playback import PlaybackError

if tp.TYPE_CHECKING:
    from agx_desktop.engine.explanation import Explanation
    from agx_desktop.engine.models import LoadedModel
    from agx_desktop.engine.take import Take
    from agx_desktop.engine.timeline import Segment

    from .analysis import TakeItem
    from .playback import Player
    from .session import Session
    from .settings import Settings
    from .store import TakeStore

MAX_SEED = 2 ** 31 - 1
MODEL_NOT_LOADED = "Model not loaded"
UNSAVED_NOTICES = ("Not saved", "Still not saved", "Autosave is off")


class DisplayStages(QObject):
    """Refreshes of the views run as short stages, one per turn of the event loop, so showing a take
    never blocks the GUI thread for long; :meth:`finish` runs what is left before acting on it."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._stages: list[tp.Callable[[], tp.Any]] = []

    def schedule(self, stages: tp.Iterable[tp.Callable[[], tp.Any]]) -> None:
        self.finish()
        self._stages = list(stages)
        QTimer.singleShot(1, self._run_one)

    @property
    def pending(self) -> bool:
        return bool(self._stages)

    def finish(self) -> None:
        while self._stages:
            self._stages.pop(0)()

    def _run_one(self) -> None:
        if self._stages:
            self._stages.pop(0)()
        if self._stages:
            QTimer.singleShot(1, self._run_one)


def replace_words(take: Take, words: list[str]) -> str:
    """``take``'s prompt with its words replaced by ``words`` (spacing and punctuation kept)."""
    spans = list(take.text.word_spans)
    prompt = take.prompt
    if len(spans) != len(words):
        return " ".join(words)
    for (a, b), w in sorted(zip(spans, words), reverse=True):
        prompt = prompt[:a] + w + prompt[b:]
    return prompt


def shown(prompt: str, limit: int = 40) -> str:
    """A prompt as a job's name shows it (the job bar, the status line, an error box's title): its first
    ``limit`` characters with control and direction characters escaped (a right-to-left override typed
    in the prompt turned the whole status line around; the prompt itself is refused by the engine)."""
    from agx_desktop.engine.safetext import terminal_safe
    return terminal_safe(prompt[:limit])


def timeline_segments(prompt: str) -> list[Segment]:
    """The segments of a prompt typed as a timeline ("0-2.5: a dog barks | 2.5-5: a bell rings"), else []."""
    from agx_desktop.engine.timeline import parse_timeline_text
    if "|" not in prompt:
        return []
    try:
        return parse_timeline_text(prompt)
    except AgxError:
        return []


class Controller(QObject):
    """Turns the user's requests into queued jobs and their results into session changes."""

    error = Signal(str, str, str)        # title, one-line message, details: the window opens a box
    status = Signal(str, int)            # a status-bar message and how long it shows (ms)
    notice = Signal(str, str)            # a persistent notice (text, tooltip)
    notice_resolved = Signal(object)     # tuple of notice prefixes that no longer apply
    save_state_changed = Signal()        # unsaved takes or the autosave state changed
    saved_again = Signal(bool)           # a Retry save ended: True when nothing is left unsaved
    settings_wanted = Signal()           # the settings should be written now (a request is made)
    guided_ranked = Signal(object, object)  # parent TakeItem, its guided-edit candidates ranked best first
    guided_round = Signal(object)        # a guided-edit round as it finishes (engine RoundResult)
    partial_audio = Signal(object, int, float)  # take being generated: audio decoded so far [channels, n],
    #                                             sample rate, its full seconds; (None, 0, 0.0): gone, show the current

    def __init__(self, session: Session, runner: JobRunner, store: TakeStore, player: Player,
                 settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings  # the export settings are read from it at each export
        self.runner = runner
        self.store = store
        self.player = player
        self.display = DisplayStages(self)
        self.notices: list[str] = []     # every notice of this run (autosave problems, skipped folders)
        self.last_error: tuple[str, str, str] | None = None  # (what, message, details) of the last failure
        self.closing = False             # the window is closing: failures are no longer shown
        self.play_while_generating = False  # Play as it generates: the take plays as its chunks decode
        self._stream_job: Job | None = None  # the generate job whose audio the player is streaming
        self._stream_seconds: dict[int, float] = {}  # job id -> the duration asked for (the fill's time axis)
        self._stream_audio: np.ndarray | None = None  # float32 [channels, n] decoded so far of the streamed take
        self._live_final: dict[int, dict[int, tp.Any]] = {}  # job id -> take index -> last live snapshot
        runner.failed.connect(self._on_job_failed)
        runner.live.connect(self._on_live)
        runner.audio.connect(self._on_audio)
        for ended in (runner.finished, runner.failed, runner.cancelled):
            ended.connect(self._on_generation_ended)
        runner.finished.connect(self._on_job_finished)
        runner.cancelled.connect(lambda job: self.status.emit(f"Cancelled: {job.title}", 5000))

    # ------------------------------------------------------------------ state the actions ask about
    def prompt_problem(self) -> str:
        """Why Generate is refused now ('' when it may run)."""
        prompt = self.session.prompt
        if not prompt.strip():
            return "Type a prompt to generate, e.g. “rain on a tin roof”."
        model = self.session.model
        if model is None:
            return ""
        cached = self.session.cached_prompt_problem(prompt)
        if cached is not None:
            return cached
        if self.runner.busy:
            # a Hugging Face fast tokenizer must not be used from two threads at once ("Already
            # borrowed"): while a job runs only emptiness is checked here; the job reports the rest
            return ""
        try:
            model.text_tokens(prompt)
            problem = ""
        except AgxError as exc:
            problem = str(exc)
        self.session.remember_prompt_problem(prompt, problem)
        return problem

    @property
    def has_take(self) -> bool:
        return self.session.current is not None

    @property
    def explained(self) -> bool:
        return self.session.explanation_matches(self.session.current)

    def unsaved_items(self) -> list[TakeItem]:
        """Takes (or explanations) of this session that are not on disk."""
        return [it for it in self.store.unsaved_items() if it.id in self.session.items]

    # ------------------------------------------------------------------ requests
    def _submit(self, title: str, fn: tp.Callable, on_done: tp.Callable, kind: str) -> Job:
        job = self.runner.submit(Job(title, fn, on_done, kind=kind))
        if self.runner.running is not job:
            self.status.emit(f"Queued: {title} (runs after the current job)", 4000)
        return job

    def load_model(self, model_id: str) -> Job:
        def done(model: tp.Any) -> None:
            if model_id == self.session.model_id:
                self.session.set_model(model)
                self.notice_resolved.emit((MODEL_NOT_LOADED,))
                if not model.trained:
                    self.status.emit(f"Model {model.id} is an UNTRAINED stand-in: it makes noise. "
                                     "Fine for trying the app.", 8000)
        return self.runner.submit(Job(f"Load model {model_id}", tasks.load_model_task(model_id), done, kind="load"))

    def start(self, load_autosaved: bool = True) -> None:
        """The first jobs: the autosaved takes, then the chosen model; later choices load when made."""
        self.report_store_problem()
        if load_autosaved:
            self.runner.submit(Job("Load autosaved takes", tasks.load_store_task(self.store),
                                   self._on_store_loaded, kind="load"))
        self.load_model(self.session.model_id)
        self.session.model_chosen.connect(self.load_model)

    def _explainer_title(self) -> str:
        """'audiogenx, up to 50 epochs': the method and what its app settings hold."""
        method, settings = self.session.explainer
        epochs = getattr(settings, "epochs", None)
        if epochs is None:
            return method
        # quick mode stops when the importance has settled: the epochs set are the most it runs
        return f"{method}, {'up to ' if getattr(settings, 'mode', None) == 'quick' else ''}{epochs} epochs"

    def generate(self, explain_after: bool = False) -> Job | None:
        if self.prompt_problem():
            return None
        prompt, params = self.session.prompt.strip(), self.session.params
        segments = timeline_segments(prompt)
        if segments:  # "0-2.5: a dog barks | 2.5-5: a church bell rings": generation follows the timeline
            return self.generate_timeline(segments, explain_after=explain_after)
        self.settings_wanted.emit()
        method, settings = self.session.explainer
        title = ("Generate + explain" if explain_after else "Generate") + f" “{shown(prompt)}” (seed {params.seed})"
        stream = self.play_while_generating and self.player.available
        fn = tasks.generate_task(self.store, self.session.model_id, prompt, params, explain_after=explain_after,
                                 method=method, settings=settings, live=True, stream_audio=stream)
        job = self._submit(title, fn, lambda items: None, "generate")
        job.on_done = lambda items, j=job: self._on_generated(j, items)
        if stream:
            self._stream_seconds[job.id] = float(params.duration)
        return job

    def explain(self) -> Job | None:
        self.display.finish()
        item = self.session.current
        if item is None:
            return None
        method, settings = self.session.explainer

        def done(explanation: tp.Any) -> None:
            problem = explanation.extras.pop("autosave_error", None)
            self.session.set_explanation(item, explanation)
            if problem:
                self._autosave_problem(problem, item)
            self.status.emit(f"Explained take {item.id} with {explanation.method} in "
                             f"{explanation.seconds:.1f} s", 8000)
        return self._submit(f"Explain take {item.id} ({self._explainer_title()})",
                            tasks.explain_task(self.store, item.take.model_id, item, method, settings), done, "explain")

    def regenerate(self, words: list[str], weights: list[float]) -> Job | None:
        """The current take again with the same seed, with the chips' ``weights`` (and replaced ``words``)."""
        self.display.finish()
        item = self.session.current
        if item is None:
            return None
        take = item.take
        if words != list(take.words):  # a replaced word: a new prompt, same seed and weights
            prompt = replace_words(take, words)
            fn = tasks.generate_task(self.store, take.model_id, prompt, take.params, word_weights=weights,
                                     parent=take.id)
            self.session.set_prompt(prompt)  # the prompt box follows the replaced word
            return self._submit(f"Regenerate “{shown(prompt)}” (seed {take.params.seed})", fn,
                                lambda items: self._on_derived(item, items), "generate")
        fn = tasks.regenerate_task(self.store, take.model_id, item, "weighted", word_weights=weights)
        return self._submit(f"Regenerate with weights (seed {take.params.seed})", fn,
                            lambda items: self._on_derived(item, items), "generate")

    def regenerate_region(self, words: list[str], weights: list[float], tail: str = "splice",
                          crossfade: float = DEFAULT_CROSSFADE) -> Job | None:
        """The current take's selected region again with the chips' words and weights; the audio before
        the selection is the parent's, sample for sample (issue 17 item 1)."""
        self.display.finish()
        item, sel = self.session.current, self.session.selection
        if item is None or sel is None:
            return None
        take = item.take
        old_words = list(take.words)
        prompt = replace_words(take, words) if words != old_words else take.prompt
        edits: dict[str, tp.Any] = {}
        replaced = {o: n for o, n in zip(old_words, words) if o != n}
        if replaced:
            edits["replace"] = replaced
        changed = {n: w for n, w in zip(words, weights) if abs(w - 1.0) > 1e-9}
        if changed:
            edits["weights"] = changed
        start, end = sel
        end_or_none = None if end >= take.duration - 1e-6 else end
        fn = tasks.region_task(self.store, take.model_id, item, start, end_or_none, prompt,
                               weights if changed else None, tail, crossfade, edits)
        if replaced:
            self.session.set_prompt(prompt)  # the prompt box follows the replaced word
        return self._submit(f"Regenerate region {start:.2f}–{end:.2f} s of take {item.id}", fn,
                            lambda items: self._on_derived(item, items), "generate")

    def generate_timeline(self, segments: tp.Sequence[Segment], explain_after: bool = False) -> Job | None:
        """One take whose words follow ``segments`` (issue 17 item 2); its prompt shows them joined.
        ``explain_after`` (Generate + Explain) explains it with the chosen explainer in the same job."""
        if not segments:
            return None
        # the prompt box shows the timeline as it can be typed: Generate again makes the same take
        self.session.set_prompt(" | ".join(f"{s.start:g}-{s.end:g}: {s.text.strip()}" for s in segments))
        self.settings_wanted.emit()
        params = self.session.params
        method, settings = self.session.explainer
        title = (("Generate + explain" if explain_after else "Generate")
                 + f" timeline of {len(segments)} segments (seed {params.seed})")
        fn = tasks.timeline_task(self.store, self.session.model_id, list(segments), params,
                                 explain_after=explain_after, method=method, settings=settings)
        return self._submit(title, fn, self._on_new_items, "generate")

    def guided_edit(self, intents: tp.Sequence[tuple[str, str]], use_selection: bool, candidates: int,
                    max_rounds: int) -> Job | None:
        """The importance-guided loop on the current take: ranked candidates as takes, A/B = (parent, best)."""
        from agx_desktop.engine.guided_edit import WordIntent
        self.display.finish()
        item = self.session.current
        wanted = [WordIntent(w, i) for w, i in intents if i in ("more", "less", "none")]
        if item is None or not wanted:
            return None
        region = self.session.selection if use_selection else None
        where = "whole clip" if region is None else f"{region[0]:.2f}–{region[1]:.2f} s"
        what = ", ".join(f"{i.intent} {i.word}" for i in wanted)
        fn = tasks.guided_task(self.store, item.take.model_id, item, wanted, region, int(candidates), int(max_rounds),
                               on_round=self.guided_round.emit)
        return self._submit(f"Guided edit of take {item.id}: {what} ({where})", fn,
                            lambda items: self._on_guided(item, items), "generate")

    def _on_guided(self, parent: TakeItem, items: list[TakeItem]) -> None:
        self._on_derived(parent, items[:1])
        for item in items[1:]:
            self.session.add_take(item)
        self.guided_ranked.emit(parent, items)

    def variations(self, n: int) -> Job | None:
        """``n`` takes of the prompt, each with another random seed."""
        if self.prompt_problem():
            return None
        prompt = self.session.prompt.strip()
        rng = random.Random()
        seeds = [rng.randint(0, MAX_SEED) for _ in range(int(n))]
        fn = tasks.generate_task(self.store, self.session.model_id, prompt, self.session.params, seeds=seeds,
                                 live=True)
        job = self._submit(f"{int(n)} variations of “{shown(prompt)}”", fn, lambda items: None, "generate")
        job.on_done = lambda items, j=job: self._on_generated(j, items)
        return job

    def variant(self, variant: str) -> Job | None:
        """Hear the factual / counterfactual regeneration of the explained current take."""
        self.display.finish()
        item = self.session.current
        if item is None or item.explanation is None:
            return None
        fn = tasks.regenerate_task(self.store, item.take.model_id, item, variant)

        def done(items: list[TakeItem]) -> None:
            self._on_derived(item, items)
            if self.player.available:
                try:
                    self.player.play(0.0)
                except PlaybackError as exc:
                    self.report_error("Playback failed", str(exc))
        # the masks come from the current explanation, whichever method made it: say which (a baseline's
        # or word deletion's scores make poorer factual versions than AudioGenX's masks; README)
        from agx_desktop.engine.explain import method_label
        return self._submit(f"Hear {variant} of take {item.id} ({method_label(item.explanation.method)} masks)", fn,
                            done, "generate")

    def retry_save(self) -> Job | None:
        """Queue a job that saves every unsaved take again (File ▸ Save unsaved takes / Retry save)."""
        if not self.store.unsaved_items():
            return None
        store = self.store

        def done(result: tuple[list[TakeItem], list[str]]) -> None:
            saved, errors = result
            for item in saved:
                self.session.refresh_take(item)
            if errors:
                self.notice.emit(f"Still not saved ({len(errors)} take(s)): {errors[0]}", "\n".join(errors))
            else:
                self.notice_resolved.emit(UNSAVED_NOTICES)
                self.status.emit(f"Saved {len(saved)} take(s) to {store.root}", 8000)
            self.save_state_changed.emit()
            self.saved_again.emit(not self.unsaved_items())
        return self._submit("Save unsaved takes", lambda ctx: store.retry_unsaved(), done, "save")

    # ------------------------------------------------------------------ takes
    def show_take(self, take_id: str) -> None:
        """Make ``take_id`` current (the views follow the session's ``current_changed``)."""
        self.display.finish()
        self.session.set_current(take_id)

    def set_ab(self, side: str) -> None:
        self.display.finish()
        if self.session.current is not None:
            self.session.set_ab(side, self.session.current.id)

    def switch_ab(self) -> None:
        """Hear the other take of the A/B pair (playback keeps its position)."""
        self.display.finish()
        s = self.session
        if not s.ab_complete:
            return
        on_a = s.current is not None and s.current.id == s.ab["A"]
        s.set_ab_side("B" if on_a else "A")
        self.show_take(s.ab[s.ab_side])

    def _on_new_items(self, items: list[TakeItem]) -> None:
        from agx_desktop.engine.audio import over_full_scale
        for item in items:
            self.session.add_take(item)
            if item.notes.get("autosave_error"):
                self._autosave_problem(item.notes.pop("autosave_error"), item)
        if items:
            self.show_take(items[0].id)
            loud = over_full_scale(items[0].take.audio)
            if loud:
                self.status.emit(f"Take {items[0].id}: {loud}", 12000)

    # ------------------------------------------------------------------ live map / play as it generates
    def set_play_while_generating(self, on: bool) -> None:
        """Play as it generates (off by default): the next Generate plays from its first decoded chunk and
        the timeline shows that audio filling in (``partial_audio``) instead of the previous take's.

        Off, nothing is decoded before the take is done, so there is nothing to fill in: decoding the
        previews costs +50-65 % generation time on the bundled model (benchmarks/results/speed.md and
        stream_fill.md), too much to pay for a picture alone, while drawing them costs ~3 % more once they
        are decoded (stream_fill.md); the live word map still fills in (it costs a few %)."""
        self.play_while_generating = bool(on)

    def _on_live(self, job: Job, snapshot: tp.Any) -> None:
        """A generate job's provisional live map: shown now, the last one kept for its take."""
        if job.kind != "generate" or job is not self.runner.running:
            return
        self._live_final.setdefault(job.id, {})[snapshot.index] = snapshot
        self.session.set_live(snapshot)

    def _on_audio(self, job: Job, end: int, chunk: tp.Any) -> None:
        """Decoded audio of the take being generated: the player's buffer grows (it starts on the first
        chunk) and the timeline is handed all that is decoded so far."""
        if not (self.play_while_generating and self.player.available) or job.kind != "generate" \
                or job is not self.runner.running:  # a chunk queued before the job was cancelled: dropped
            return
        model = self.session.model
        if self._stream_job is not job:
            if model is None:
                return
            self._stream_job, self._stream_audio = job, None
            self.player.begin_stream(int(model.sample_rate), int(chunk.shape[0]))
        if not self.player.append(chunk):
            return  # the player moved on to another take: neither heard nor drawn
        piece = np.asarray(chunk, dtype=np.float32)
        self._stream_audio = piece if self._stream_audio is None else np.concatenate([self._stream_audio, piece], -1)
        if model is not None:
            self.partial_audio.emit(self._stream_audio, int(model.sample_rate), self._take_seconds(job, model))
        if not self.player.playing:
            try:
                self.player.play()
            except PlaybackError as exc:
                self._stream_job = None
                self.report_error("Playback failed", str(exc))

    def _take_seconds(self, job: Job, model: LoadedModel) -> float:
        """The streamed take's length: whole frames of the duration asked for (as the job generates it, so
        the fill and the live map share one time axis), never less than what is decoded."""
        frames = int(self._stream_seconds.get(job.id, 0.0) * model.frame_rate)
        decoded = 0 if self._stream_audio is None else self._stream_audio.shape[-1] / float(model.sample_rate)
        return max(frames / float(model.frame_rate), decoded)

    def _on_generated(self, job: Job, items: list[TakeItem]) -> None:
        """A generate job's takes: the streamed buffer becomes the take (no jump), live maps are kept;
        the take, shown next, replaces the fill on the timeline."""
        if self._stream_job is job and items:
            self.player.finish_stream(items[0].take.audio)
        self._stream_job, self._stream_audio = None, None
        self._stream_seconds.pop(job.id, None)
        for index, snapshot in self._live_final.pop(job.id, {}).items():
            if index < len(items):
                self.session.keep_live(items[index].id, snapshot)
        self.session.set_live(None)
        self._on_new_items(items)

    def _on_generation_ended(self, job: Job, *_: tp.Any) -> None:
        """Cancelled or failed: drop the live map; a half-streamed buffer and its fill give way to the
        current take."""
        if job.kind != "generate":
            return
        self._live_final.pop(job.id, None)
        self._stream_seconds.pop(job.id, None)
        self.session.set_live(None)
        if self._stream_job is job:
            self._stream_job, self._stream_audio = None, None
            self.player.stop()
            current = self.session.current
            self.player.load(None if current is None else current.take.audio,
                             current.take.sample_rate if current is not None else self.player.sample_rate)
            self.partial_audio.emit(None, 0, 0.0)

    def add_batch_take(self, item: TakeItem) -> None:
        """A take written by a Batch… run: it joins the takes list as it arrives."""
        self.session.add_take(item)

    def _on_derived(self, parent: TakeItem, items: list[TakeItem]) -> None:
        """A take regenerated from ``parent`` (same seed): show it and make the pair A/B."""
        self._on_new_items(items)
        if items and parent.id in self.session.items:
            self.session.set_ab_pair(parent.id, items[0].id, side="B")

    def _on_store_loaded(self, result: tuple[list[TakeItem], list[str]]) -> None:
        items, notices = result
        for item in items:
            self.session.add_take(item)
        if items:
            self.show_take(items[-1].id)
        if notices:
            self.notices.extend(notices)
            skipped = sum(n.startswith("skipped") for n in notices)
            msg = (f"{skipped} autosaved take folder(s) could not be read and were skipped; "
                   f"{len(items)} take(s) loaded. " if skipped else f"{len(items)} take(s) loaded. ") + notices[0]
            if len(notices) > 1:
                msg += f" (+{len(notices) - 1} more: hover for all)"
            if self.store.problem:
                msg = self.store.off_notice() + " " + msg
            self.notice.emit(msg, "\n".join(notices))
        elif items:
            self.status.emit(f"Loaded {len(items)} autosaved take(s) from {self.store.root}", 5000)

    def report_store_problem(self) -> None:
        """Say once, at start, that autosave is off (a read-only or unusable data folder)."""
        if self.store.problem:
            self.notices.append(self.store.off_notice())
            self.notice.emit(self.store.off_notice(), "")
        self.save_state_changed.emit()

    def _autosave_problem(self, message: str, item: TakeItem | None = None) -> None:
        """A take or explanation was not written: keep it, say why, offer Retry."""
        if item is not None and item.id not in self.store.unsaved:
            self.store.mark_unsaved(item, message)
        lines = self.store.reason_lines()
        reason = (self.store.reason_for(item.id) if item is not None else "") or message
        self.notices.append(reason)
        n = len(self.unsaved_items())
        self.notice.emit(f"Not saved ({n} take(s) kept in this session only): {reason}", "\n".join(lines))
        self.save_state_changed.emit()

    # ------------------------------------------------------------------ export
    def _own_explanation(self, item: TakeItem) -> Explanation | None:
        """``item``'s explanation when it is of this take (for the export's iXML Keywords), else None."""
        return item.explanation if self.session.explanation_matches(item) else None

    def wav_for(self, take_id: str) -> Path | None:
        """A WAV of take ``take_id`` to drag out (written with the export settings), or None."""
        item = self.session.items.get(take_id)
        if item is None:
            return None
        try:
            folder = drag_dir() / item.id  # one folder per take: same-named files never clash
            folder.mkdir(exist_ok=True)
            path, _ = export_take(item.take, folder, self.settings.export, overwrite=True,
                                  explanation=self._own_explanation(item))
        except (ExportError, OSError) as exc:
            self.report_error("Could not prepare the WAV to drag", str(exc))
            return None
        return path

    def export_current(self, folder: str | Path, opts: tp.Any = None) -> Path | None:
        """Export the current take to ``folder``; reports an error instead of raising."""
        self.display.finish()
        current = self.session.current
        if current is None:
            return None
        try:
            path, note = export_take(current.take, folder, opts or self.settings.export,
                                     explanation=self._own_explanation(current))
        except ExportError as exc:
            self.report_error("Export failed", str(exc), what="Export WAV")
            return None
        self.status.emit(f"Exported {path} ({note})", 8000)
        return path

    def export_explanation(self, path: str | Path, fmt: str,
                           render_png: tp.Callable[[Path], Path] | None = None) -> Path | None:
        """The current explanation as ``fmt`` ('json', 'csv', or 'png' drawn by ``render_png``)."""
        self.display.finish()
        item = self.session.current
        if not self.session.explanation_matches(item):
            return None
        path = Path(path)
        try:
            if fmt == "json":
                out = write_text_atomic(path, json.dumps(item.explanation.to_json(self.session.selection),
                                                         indent=1, ensure_ascii=False))
            elif fmt == "csv":
                out = write_text_atomic(path, explanation_csv(item.explanation))
            elif render_png is not None:
                out = render_png(path)
            else:
                raise ExportError(f"no picture of the heatmap to write to {path}")
        except (ExportError, AgxError) as exc:
            self.report_error(f"Export {fmt.upper()} failed", str(exc), what=f"Export {fmt}")
            return None
        self.status.emit(f"Exported {out}", 8000)
        return out

    # ------------------------------------------------------------------ feedback
    def report_error(self, title: str, message: str, details: str = "", what: str = "") -> None:
        if what:
            self.last_error = (what, message, details)
        self.error.emit(title, message, details)

    def _on_job_finished(self, job: Job, _result: tp.Any) -> None:
        if job.kind != "explain":  # explain's own message says how long it took
            self.status.emit(f"Done: {job.title}", 5000)

    def _on_job_failed(self, job: Job, message: str, details: str) -> None:
        self.last_error = (job.title, message, details)
        if job.kind == "load" and job.title.startswith("Load model"):
            self.notice.emit(f"{MODEL_NOT_LOADED}: {message}", "")
        if not self.closing:
            self.error.emit(f"{job.title} failed", message, details)
