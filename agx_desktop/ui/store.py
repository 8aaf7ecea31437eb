"""Autosave: every take (and its explanation) is written to ``<data dir>/takes/<date>_<id>/``.

Uses the engine's atomic take folders. Nothing here may cost the user a take or hide one:

* listing after a restart shows every good take whatever the bad folders beside it hold; a bad
  one (corrupt file, malformed field, unreadable) is skipped with a notice naming the folder and
  the fix, and an explanation that is corrupt or belongs to another take is not attached (notice);
* a save that fails (full disk, read-only, permission denied) raises :class:`StorageError` with one
  line that says why and what to do, and the item is remembered in :attr:`TakeStore.unsaved` so
  :meth:`TakeStore.retry_unsaved` can save it once the problem is fixed;
* a data folder that can't be written turns autosave off (:attr:`TakeStore.problem`) instead of
  stopping the app.
"""
from __future__ import annotations

import errno
import re
import shutil
import threading
import typing as tp
from pathlib import Path

import numpy as np

from agx_desktop.engine.errors import AgxError, StorageError
from agx_desktop.engine.fsio import describe_os_error, is_finite_number
from agx_desktop.engine.take_folder import (EXPLANATION, TAKE_KINDS, is_take_folder, load_explanation, load_take,
                                            recover_all, save_explanation, save_take)

from .analysis import TakeItem, analyse
from .paths import ENV_DATA_DIR, takes_dir, writable_problem

if tp.TYPE_CHECKING:
    from agx_desktop.engine.explanation import Explanation
    from agx_desktop.engine.take import Take

TAKE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # ids name folders (autosave, drag-out): no path parts
KINDS = tuple(sorted(TAKE_KINDS))  # every kind the engine writes: region and timeline takes too
AGGREGATIONS = ("max", "mean", "sum")


def _line(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_take(take: Take) -> None:
    """Raise ValueError naming the first field of ``take`` that the app could not show or save.

    The engine validates take.json too; this is the app's own guard, so one malformed take can
    never break the list, the views or a later save.
    """
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(what)

    need(isinstance(take.id, str) and bool(TAKE_ID.match(take.id)), f"'id' {take.id!r} is not a take id")
    need(isinstance(take.created, str), f"'created' is {take.created!r}, not a date text")
    need(isinstance(take.prompt, str), "'prompt' is not text")
    need(isinstance(take.model_id, str) and bool(take.model_id), "'model' is not a model id")
    need(take.kind in KINDS, f"'kind' {take.kind!r} is not one of {', '.join(KINDS)}")
    need(take.parent is None or isinstance(take.parent, str), "'parent' is not a take id")
    need(is_finite_number(take.seconds), "'seconds' is not a finite number")
    p = take.params
    need(isinstance(p.seed, int) and not isinstance(p.seed, bool), "'params.seed' is not an integer")
    need(isinstance(p.top_k, int) and not isinstance(p.top_k, bool), "'params.top_k' is not an integer")
    for name in ("duration", "top_p", "temperature", "cfg_coef"):
        need(is_finite_number(getattr(p, name)), f"'params.{name}' is not a finite number")
    p.validate()
    need(isinstance(take.sample_rate, int) and take.sample_rate > 0, "the audio's sample rate is not positive")
    need(is_finite_number(take.frame_rate) and take.frame_rate > 0, "'frame_rate' is not a positive number")
    audio = take.audio
    need(isinstance(audio, np.ndarray) and audio.ndim == 2 and audio.shape[-1] > 0, "audio.wav holds no audio")
    need(bool(np.isfinite(audio).all()), "audio.wav holds NaN or infinite samples")
    need(take.codes.ndim == 2 and take.latents.ndim == 2, "tensors.safetensors has codes/latents of the wrong shape")
    t = take.text
    need(all(isinstance(w, str) for w in t.words), "'text.words' are not all text")
    need(all(w is None or (isinstance(w, int) and 0 <= w < len(t.words)) for w in t.token_word),
         "'text.token_word' points at words that do not exist")
    need(len(t.token_word) == len(t.tokens), "'text.tokens' and 'text.token_word' differ in length")
    need(not t.word_spans or len(t.word_spans) == len(t.words), "'text.word_spans' does not match the words")
    if take.word_weights is not None:
        need(isinstance(take.word_weights, list) and len(take.word_weights) == len(t.words)
             and all(is_finite_number(v) for v in take.word_weights),
             "'word_weights' is not one finite number per word")
    if take.step_mask is not None:
        need(np.asarray(take.step_mask).ndim == 2 and bool(np.isfinite(take.step_mask).all()),
             "the step mask in tensors.safetensors is malformed")


def explanation_problem(ex: Explanation, take: Take) -> tuple[str, str] | None:
    """Why ``ex`` can't be shown with ``take``: ("other", why) if it belongs to another take,
    ("corrupt", why) if it is malformed; None when it fits.

    Everything the views later compute from it is computed here once, so a bad explanation is
    refused at load instead of raising when the take is shown.
    """
    if not isinstance(ex.take_id, str):
        return "corrupt", "'take_id' is not text"
    if ex.take_id and ex.take_id != take.id:
        return "other", f"it explains take {ex.take_id[:64]!r}, not {take.id!r}"
    if list(ex.words) != list(take.words):
        return "other", "its words are not this take's words"
    if not isinstance(ex.n_frames, int) or ex.n_frames != int(take.codes.shape[-1]):
        return "other", f"it covers {ex.n_frames} frames, this take has {int(take.codes.shape[-1])}"
    try:
        tolerance = 1e-6 * max(1.0, take.frame_rate)
        if not (is_finite_number(ex.frame_rate) and abs(ex.frame_rate - take.frame_rate) < tolerance):
            return "other", f"its frame rate {ex.frame_rate!r} is not this take's {take.frame_rate:g}"
        masks = np.asarray(ex.step_masks, dtype=np.float64)
        if masks.ndim != 2 or masks.shape[1] != len(ex.text.tokens):
            return "corrupt", "'step_masks' does not have one value per prompt token and step"
        if not np.isfinite(masks).all() or masks.min(initial=0.0) < -1e-6 or masks.max(initial=0.0) > 1 + 1e-6:
            return "corrupt", "'step_masks' holds values outside [0, 1] or NaN"
        if len(ex.step_frames) != masks.shape[0] or not all(
                isinstance(f, int) and not isinstance(f, bool) for fr in ex.step_frames for f in fr):
            return "corrupt", "'step_frames' does not list whole frame numbers for each step"
        tw = ex.text.token_word
        if len(tw) != masks.shape[1] or not all(w is None or (isinstance(w, int) and 0 <= w < len(ex.words))
                                                for w in tw):
            return "corrupt", "'text.token_word' does not match the tokens and words"
        if ex.word_aggregation not in AGGREGATIONS or not isinstance(ex.method, str):
            return "corrupt", "'word_aggregation' or 'method' is not a known value"
        if not (np.isfinite(ex.per_frame_words()).all() and np.isfinite(ex.word_importance(None)).all()):
            return "corrupt", "its importances are not finite numbers"
    except Exception as exc:  # whatever else a tampered file holds: refused here, never when shown
        return "corrupt", f"{type(exc).__name__}: {_line(exc, 120)}"
    return None


class TakeStore:
    """The autosave folder of the app."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else takes_dir()
        self.problem: str | None = None  # why autosave is off (None: on)
        self.unsaved: dict[str, TakeItem] = {}  # take id → item not (fully) on disk
        self.reasons: dict[str, str] = {}  # take id → the one-line reason
        self._lock = threading.Lock()
        self.check()

    # ------------------------------------------------------------------ state
    def check(self) -> str | None:
        """Try writing into :attr:`root` now; turns autosave off (with the reason) or back on."""
        self.problem = writable_problem(self.root)
        return self.problem

    def off_notice(self) -> str:
        """The notice shown while autosave is off: where, why, and how to fix it."""
        fix = ("move that file away" if "a file, not" in (self.problem or "") else "make that folder writable")
        return (f"Autosave is off: {self.problem}. Takes made now are kept only until you quit — export them, "
                f"or {fix} (or set {ENV_DATA_DIR} to a writable folder) and restart.")

    def mark_unsaved(self, item: TakeItem, reason: str) -> None:
        """Remember ``item`` as not (fully) saved, for :meth:`retry_unsaved` and the quit warning."""
        with self._lock:
            self.unsaved[item.id] = item
            self.reasons[item.id] = reason

    def _mark_saved(self, item: TakeItem) -> None:
        with self._lock:
            self.unsaved.pop(item.id, None)
            self.reasons.pop(item.id, None)

    def unsaved_items(self) -> list[TakeItem]:
        """The items not (fully) on disk, oldest failure first (safe while a worker saves)."""
        with self._lock:
            return list(self.unsaved.values())

    def reason_for(self, take_id: str) -> str:
        with self._lock:
            return self.reasons.get(take_id, "")

    def reason_lines(self) -> list[str]:
        """One line per unsaved item: why it is not on disk."""
        with self._lock:
            return list(self.reasons.values())

    def last_reason(self) -> str:
        with self._lock:
            return next(reversed(self.reasons.values()), "") if self.reasons else ""

    # ------------------------------------------------------------------ saving
    def folder_for(self, take: Take) -> Path:
        stamp = "".join(c for c in str(take.created)[:19] if c.isdigit())
        return self.root / f"{stamp}_{take.id}"

    def _needed_bytes(self, item: TakeItem) -> int:
        take = item.take
        try:
            return int(take.audio.nbytes + take.codes.numel() * 8 + take.latents.numel() * 4) + 65536
        except Exception:
            return 1 << 20

    def _storage_error(self, exc: BaseException | None, item: TakeItem) -> StorageError:
        """One line: which take, why it was not saved, what to do (``exc`` None: autosave is off)."""
        what = f"take {item.id} is not saved"
        if exc is None:
            reason = f"autosave is off ({self.problem})"
        elif isinstance(exc, OSError) and getattr(exc, "errno", None) not in (None, errno.EIO):
            reason = describe_os_error(exc, self.root, advice=False)
        elif isinstance(exc, AgxError) and not isinstance(exc, OSError):  # busy, refused parameters...
            reason = _line(exc)
        else:  # libsndfile says only "System error." when the disk fills up: look for ourselves
            reason = writable_problem(self.root)
            if reason is None:
                try:
                    free = shutil.disk_usage(self.root).free
                except OSError:
                    free = None
                if free is not None and free < 2 * self._needed_bytes(item):
                    reason = f"the disk holding {self.root} is full ({free // 1024} KB free)"
                else:
                    reason = f"writing it failed ({type(exc).__name__}: {_line(exc, 120)})"
        if "full" in reason:
            fix = "free some space, then click “Retry save” (or File → Save unsaved takes)"
        elif "a file, not" in reason:
            fix = (f"move that file away (or set {ENV_DATA_DIR} to a folder) and restart; until then export "
                   "the take")
        elif "read-only" in reason or "not writable" in reason:
            fix = (f"make that folder writable (or set {ENV_DATA_DIR} to a writable folder), then click "
                   "“Retry save” (or File → Save unsaved takes); until then export the take")
        else:
            fix = "fix that, then click “Retry save” (or File → Save unsaved takes); until then export the take"
        return StorageError(f"{what}: {reason} — {fix}")

    def save(self, item: TakeItem, explanation_only: bool = False) -> Path:
        """Write ``item`` (and its explanation) to its folder; raises :class:`StorageError`.

        On failure the item is remembered in :attr:`unsaved`; nothing half-written is left (the
        engine writes atomically). ``explanation_only``: the take is already on disk.
        """
        if self.problem is not None:
            err = self._storage_error(None, item)
            self.mark_unsaved(item, str(err))
            raise err
        try:
            if not (explanation_only and item.folder is not None and is_take_folder(item.folder)):
                item.folder = save_take(item.take, item.folder or self.folder_for(item.take))
            if item.explanation is not None:
                save_explanation(item.explanation, item.folder)
        except Exception as exc:
            err = self._storage_error(exc, item)
            self.mark_unsaved(item, str(err))
            raise err from exc
        self._mark_saved(item)
        return item.folder

    def retry_unsaved(self) -> tuple[list[TakeItem], list[str]]:
        """Save every remembered unsaved item again: (the saved ones, one line per failure)."""
        self.check()
        saved, errors = [], []
        for item in self.unsaved_items():
            try:
                self.save(item, explanation_only=item.folder is not None)
            except StorageError as exc:
                errors.append(str(exc))
            else:
                saved.append(item)
        return saved, errors

    # ------------------------------------------------------------------ loading
    def load_all(self, progress: tp.Callable[[str, int, int], None] | None = None) -> tuple[list[TakeItem], list[str]]:
        """Every readable take, oldest first, and one notice per folder or explanation left out.

        Never raises for what is on disk: each folder is read on its own, and the sort key can't fail.
        """
        notices: list[str] = []
        try:
            recover_all(self.root)  # one pass for the folder (a crash between renames included)
            folders = sorted(p for p in self.root.iterdir() if not p.name.startswith(".") and p.is_dir())
        except OSError as exc:
            if self.problem is None or self.root.exists():
                why = describe_os_error(exc, self.root, advice=False)
                notices.append(f"skipped {self.root}: the takes folder can't be read ({why})"
                               f" — check its permissions, or set {ENV_DATA_DIR} to another folder and restart")
            return [], notices
        items: list[TakeItem] = []
        seen: dict[str, str] = {}
        for i, folder in enumerate(folders):
            if progress:
                progress("load takes", i, len(folders))
            item = self._load_one(folder, seen, notices)
            if item is not None:
                seen[item.id] = folder.name
                items.append(item)
        items.sort(key=lambda it: (it.take.created if isinstance(it.take.created, str) else "",
                                   str(it.folder.name if it.folder is not None else "")))
        return items, notices

    def _load_one(self, folder: Path, seen: dict[str, str], notices: list[str]) -> TakeItem | None:
        fix = f"move that folder out of {self.root} (or delete it) to stop this notice"
        try:
            take = load_take(folder, repair=False)  # recover_all has repaired it
            check_take(take)
        except Exception as exc:  # any bad file or field: skip this one folder, keep the rest
            reason = _line(exc)
            prefix = str(folder)
            if reason.startswith(prefix):  # engine messages start with the folder path: keep the name only
                reason = reason[len(prefix):].lstrip(" :")
            notices.append(f"skipped {folder.name}: {reason} — {fix}")
            return None
        if take.id in seen:
            notices.append(f"skipped {folder.name}: the same take (id {take.id}) as {seen[take.id]} — {fix}")
            return None
        explanation = None
        try:
            has_explanation = (folder / EXPLANATION).is_file()
        except OSError:
            has_explanation = False
        if has_explanation:
            try:
                explanation = load_explanation(folder)
                problem = explanation_problem(explanation, take)
            except Exception as exc:
                problem = ("corrupt", _line(exc, 160))
            if problem is None:
                from agx_desktop.engine.timeline import fill_word_spans  # imports torch: not at the window's start
                fill_word_spans(explanation, take)
            else:
                explanation = None
                kind, why = problem
                state = "does not belong to this take" if kind == "other" else "is corrupt"
                notices.append(f"{folder.name}: its {EXPLANATION} {state} ({why}), so it is not shown — explain "
                               "this take again to replace it")
        try:
            return analyse(take, explanation, folder)
        except Exception as exc:
            notices.append(f"skipped {folder.name}: its audio can't be analysed ({_line(exc, 120)}) — {fix}")
            return None
