"""Importance-guided edit, closed loop (issue 17 item 3): "less ticking, more wind, no bell in 3-4 s".

The user states an intent per prompt word — ``more``, ``less`` or ``none`` — for the whole clip or a
region [start, end). Each round:

1. **explain** the current take (the parent, then the best candidate so far) and read the region's
   word importances: how much each word drives the region, and which content word co-drives each
   target (the one whose importance over time follows the target's most closely);
2. **propose** a small batch of candidate edits: word weights per intent (none → 0; less → 0.5,
   0.3, ...; more → 1.5, 2.0, 2.5, ...; each round goes one level further), a variant that also
   turns down the co-driving word (none/less) or the strongest competing word (more), one that boosts
   the words of the other phrases (none/less: the other events must stay), one a level further,
   then the same weights with other seeds; an edit already tried is never regenerated again;
3. **regenerate** the round's candidates as one batch through the LM
   (:func:`.region.regenerate_region_batch`: each row samples with its own seed's noise, the same seed
   first, so a candidate differs from its parent by the edit, not by new noise; the audio before the
   region is the parent's, sample for sample);
4. **score** each candidate against the intent (:class:`ClassifierScorer`: the bundled model's event
   classifier inside the region, where an event named by a target word must appear / fade / vanish
   and every other event heard there before must still be heard; :class:`ExplanationScorer`: for
   any model, the target word's importance in the region of the candidate's own explanation against
   the parent's), rank them (intent met first, then score), and stop when the best meets the intent
   or after ``rounds`` rounds; the next round starts from the best candidate.

Every step checks a :class:`~.progress.CancelToken` (a cancelled loop raises
:class:`~.errors.Cancelled` and returns nothing: no half-made candidate is ever handed out) and
reports ``progress(stage, done, total)`` with the round and candidate in ``stage``. :func:`rounds`
yields one :class:`RoundResult` per round (a Qt worker emits each); :func:`guided_edit` runs them
all and returns a :class:`GuidedEditResult`. Nothing here writes files.
"""
from __future__ import annotations

import dataclasses
import time
import typing as tp

import numpy as np

from . import limits
from .errors import ParameterError
from .progress import CancelToken, ProgressFn, check, report
from .word_kinds import FUNCTION, word_kind
from .word_kinds import normalise as _norm

if tp.TYPE_CHECKING:
    from .explanation import Explanation
    from .models import LoadedModel
    from .take import Take

Intent = tp.Literal["more", "less", "none"]
INTENTS: tuple[str, ...] = ("more", "less", "none")
ScorerName = tp.Literal["auto", "classifier", "explanation"]

#: weight levels per intent; round r starts at level r (next round: one step further)
LEVELS: dict[str, tuple[float, ...]] = {
    "none": (0.0,),
    "less": (0.5, 0.3, 0.15, 0.05),
    "more": (1.5, 2.0, 2.5, 3.0, 4.0, 5.0),
}
CO_DRIVER_LEVELS: dict[str, tuple[float, ...]] = {"none": (0.3, 0.0), "less": (0.6, 0.4), "more": (0.6, 0.4)}
"""Weight of the co-driving word (none/less) or of the strongest competing word (more) in that variant,
per round (the last level from then on)."""
CO_DRIVER_WEIGHT = {intent: levels[0] for intent, levels in CO_DRIVER_LEVELS.items()}
KEEP_LEVELS: tuple[float, ...] = (1.5, 2.0)
"""Boost, per round, of the words of the other phrases in the "keep the others" variant (none/less)."""
DEFAULT_METHOD = "rollout"
"""Explainer for the loop: one teacher-forced forward, so explaining each round costs little on any model."""
CLASSIFIER_REACH = 0.8
"""Seconds the bundled classifier sees either side of a frame: a region is scored that far inside its
edges where the parent's audio borders it (else the parent's event beside the region would count)."""
THRESHOLD = 0.5


def is_function_word(word: str) -> bool:
    """Whether ``word`` is a function word ("a", "then", "while"; :mod:`.word_kinds`, spaCy's English stop
    words): the loop proposes changes to content words only and lists function words apart."""
    return word_kind(word) == FUNCTION


def split_words(words: tp.Sequence[str]) -> tuple[list[str], list[str]]:
    """(content words, function words) of a prompt's words, in prompt order, each once."""
    content: list[str] = []
    function: list[str] = []
    for word in words:
        w = _norm(word)
        bucket = function if is_function_word(w) else content
        if w and w not in bucket:
            bucket.append(w)
    return content, function


@dataclasses.dataclass(frozen=True)
class WordIntent:
    """One word and what the user wants of it in the region."""

    word: str
    intent: Intent

    def __post_init__(self) -> None:
        if self.intent not in INTENTS:
            raise ParameterError(f"unknown intent '{self.intent}': use more, less or none")


def word_indices(words: tp.Sequence[str], word: str) -> list[int]:
    """Positions of ``word`` among the prompt's ``words`` (case and punctuation ignored)."""
    key = _norm(word)
    return [i for i, w in enumerate(words) if _norm(w) == key]


def check_intents(words: tp.Sequence[str], intents: tp.Sequence[WordIntent]) -> None:
    """One line for an intent the loop cannot act on: none given, a word not in the prompt, a function
    word, or one word asked two ways."""
    if not intents:
        raise ParameterError("say what to change: --more WORD, --less WORD or --none WORD")
    seen: dict[str, str] = {}
    for item in intents:
        key = _norm(item.word)
        if not word_indices(words, item.word):
            raise ParameterError(f"'{item.word}' is not a word of the prompt ({' '.join(words)})")
        if is_function_word(key):
            content, _ = split_words(words)
            raise ParameterError(f"'{item.word}' is a function word; the edit changes content words: "
                                 f"{', '.join(content)}")
        if key in seen and seen[key] != item.intent:
            raise ParameterError(f"'{item.word}' is asked both {seen[key]} and {item.intent}: choose one")
        seen[key] = item.intent


# ------------------------------------------------------------------------------------------------ scores
@dataclasses.dataclass(frozen=True)
class Score:
    """How well one candidate meets the intent: ``value`` in [0, 1] (higher is better), ``met`` when every
    word's intent is met and nothing the scorer guards was lost; ``detail`` says what was measured."""

    value: float
    met: bool
    detail: dict[str, tp.Any] = dataclasses.field(default_factory=dict)


class Scorer(tp.Protocol):
    """Scores candidates against the intent, relative to the take the edit started from."""

    name: str

    def prepare(self, model: "LoadedModel", original: "Take", region: tuple[float, float],
                intents: tp.Sequence[WordIntent], cancel: CancelToken | None) -> None:
        """Measure the original once (what "before" means for every candidate)."""

    def score(self, model: "LoadedModel", candidate: "Take", cancel: CancelToken | None) -> Score:
        ...


def event_for_word(word: str) -> str | None:
    """The bundled world's event a word names ("ticking" → clock), or None."""
    from .bundled import world
    found = world.caption_events(word)
    return found[0] if found else None


def scored_span(region: tuple[float, float], duration: float, reach: float = CLASSIFIER_REACH) -> tuple[float, float]:
    """The part of ``region`` the classifier scores: ``reach`` inside each edge that borders the parent's
    audio (not at the clip's start or end), unless the region is too short for that."""
    a, b = region
    a2 = a + reach if a > 1e-6 else a
    b2 = b - reach if b < duration - 1e-6 else b
    return (a2, b2) if b2 - a2 >= 0.2 else (a, b)


class ClassifierScorer:
    """The bundled world's event classifier inside the region.

    A target word must name a world event ("dog", "ticking", "rain"). Per word, with ``p`` the event's
    probability in the scored span and ``p0`` the original's: ``none`` met when ``p < 0.5`` (score
    ``1 - p``); ``less`` met when ``p <= p0 / 2`` (score ``1 - p / p0``); ``more`` met when
    ``p >= max(0.5, min(0.95, p0 + 0.25))`` (score ``p``). Every other event detected in the span
    before must still be detected (``kept``), else not met and the score is scaled down.
    """

    name = "classifier"

    def __init__(self, classifier: tp.Any = None, threshold: float = THRESHOLD) -> None:
        self.classifier = classifier
        self.threshold = threshold
        self.span: tuple[float, float] = (0.0, 0.0)
        self.before: dict[str, float] = {}
        self.targets: dict[str, tuple[str, Intent]] = {}

    @staticmethod
    def applies(model: "LoadedModel", intents: tp.Sequence[WordIntent]) -> bool:
        from .models import BUNDLED_ID
        return model.id == BUNDLED_ID and all(event_for_word(i.word) for i in intents)

    def probs(self, take: "Take") -> dict[str, float]:
        return self.classifier.event_probs(np.asarray(take.audio)[0], self.span)

    def prepare(self, model, original, region, intents, cancel) -> None:
        if self.classifier is None:
            from .bundled import loader
            self.classifier = loader.load_classifier()
        self.targets = {}
        for item in intents:
            event = event_for_word(item.word)
            if event is None:
                raise ParameterError(f"'{item.word}' names no event the bundled classifier knows: "
                                     "score with the explanation (scorer='explanation')")
            self.targets[item.word] = (event, item.intent)
        self.span = scored_span(region, original.duration)
        self.before = self.probs(original)

    def score(self, model, candidate, cancel) -> Score:
        check(cancel)
        after = self.probs(candidate)
        values, met, words = [], True, {}
        target_events = {event for event, _ in self.targets.values()}
        for word, (event, intent) in self.targets.items():
            p, p0 = after[event], self.before[event]
            if intent == "none":
                ok, value = p < self.threshold, 1.0 - p
            elif intent == "less":
                ok, value = p <= p0 / 2, float(np.clip(1.0 - p / max(p0, 1e-6), 0.0, 1.0))
            else:
                ok, value = p >= max(self.threshold, min(0.95, p0 + 0.25)), p
            values.append(value)
            met = met and ok
            words[word] = {"event": event, "before": round(p0, 4), "after": round(p, 4), "met": ok}
        guarded = [e for e, p0 in self.before.items() if p0 > self.threshold and e not in target_events]
        kept = [e for e in guarded if after[e] > self.threshold]
        kept_share = len(kept) / len(guarded) if guarded else 1.0
        value = float(np.mean(values)) * (0.5 + 0.5 * kept_share)
        return Score(value, met and kept_share == 1.0,
                     {"words": words, "kept": kept, "lost": [e for e in guarded if e not in kept],
                      "span": list(self.span)})


class ExplanationScorer:
    """For any model: the target word's importance in the region, from the candidate's own explanation,
    against the original's (``r = after / before``). ``none`` met when ``r <= 0.25``; ``less`` when
    ``r <= 0.7``; ``more`` when ``r >= 1.3`` (or the word already leads the region at >= 0.9).
    """

    name = "explanation"

    def __init__(self, method: str = DEFAULT_METHOD, **overrides: tp.Any) -> None:
        self.method, self.overrides = method, overrides
        self.region: tuple[float, float] = (0.0, 0.0)
        self.before: dict[str, float] = {}
        self.intents: list[WordIntent] = []

    def importance(self, model, take, cancel) -> dict[str, float]:
        from .explain import explain
        explanation = explain(model, take, self.method, cancel=cancel, **self.overrides)
        return word_importance(explanation, take.words, self.intents, self.region)

    def prepare(self, model, original, region, intents, cancel) -> None:
        self.region, self.intents = region, list(intents)
        self.before = self.importance(model, original, cancel)

    def score(self, model, candidate, cancel) -> Score:
        after = self.importance(model, candidate, cancel)
        values, met, words = [], True, {}
        for item in self.intents:
            i0, i1 = self.before[item.word], after[item.word]
            r = i1 / max(i0, 1e-6)
            if item.intent == "none":
                ok, value = r <= 0.25, float(np.clip(1.0 - r, 0.0, 1.0))
            elif item.intent == "less":
                ok, value = r <= 0.7, float(np.clip(1.0 - r, 0.0, 1.0))
            else:
                ok, value = r >= 1.3 or i1 >= 0.9, float(np.clip(r / (1.0 + r), 0.0, 1.0))
            values.append(value)
            met = met and ok
            words[item.word] = {"before": round(i0, 4), "after": round(i1, 4), "met": ok}
        return Score(float(np.mean(values)), met, {"words": words, "method": self.method})


def word_importance(explanation: "Explanation", words: tp.Sequence[str], intents: tp.Sequence[WordIntent],
                    region: tuple[float, float]) -> dict[str, float]:
    """Each intent word's importance in ``region`` (the max over its occurrences in the prompt)."""
    values = explanation.word_importance(_interval(explanation.duration, region))
    return {item.word: float(max(values[i] for i in word_indices(words, item.word))) for item in intents}


def _interval(duration: float, region: tuple[float, float]) -> tuple[float, float]:
    return (region[0], min(region[1], duration))


# ------------------------------------------------------------------------------------------------ proposals
@dataclasses.dataclass(frozen=True)
class CandidateEdit:
    """One proposed edit: a weight per prompt word, a seed, and a label of what it changes."""

    weights: tuple[float, ...]
    seed: int
    changes: tuple[tuple[str, float], ...]  # (word, weight) for each word whose weight is not 1
    note: str = ""

    def edits(self) -> dict[str, tp.Any]:
        return {"weights": dict(self.changes), "guided": self.note or "intent"}


def _phrase(words: tp.Sequence[str], word: str, content: tp.Sequence[str]) -> list[str]:
    """The content words at most two places from ``word`` in the prompt: the words of its phrase
    ("dog" and "barks" in "a dog barks while rain falls")."""
    mine = word_indices(words, word)
    return [o for o in content if o != word and
            min((abs(i - j) for i in mine for j in word_indices(words, o)), default=99) <= 2]


def drivers(explanation: "Explanation", words: tp.Sequence[str], region: tuple[float, float]) -> dict[str, tp.Any]:
    """What drives the region: ``importance`` (content word → importance in the region) and
    ``co_driver`` (word → the content word of its phrase that drives the region most).

    A word's phrase: the content words at most two places from it in the prompt ("dog" and "barks"
    in "a dog barks while rain falls"). Measured on the bundled model, the word whose importance over
    time follows the target's most closely was often the other event's ("rain" for "dog"), and
    turning that down made the dog louder; the phrase keeps the variant on the same sound.
    """
    content, _ = split_words(words)
    values = explanation.word_importance(_interval(explanation.duration, region))
    importance = {w: float(max(values[i] for i in word_indices(words, w))) for w in content}
    co: dict[str, str | None] = {}
    for w in content:
        near = _phrase(words, w, content)
        co[w] = max(near, key=lambda o: importance[o]) if near else None
    return {"importance": importance, "co_driver": co}


def propose(words: tp.Sequence[str], intents: tp.Sequence[WordIntent], found: dict[str, tp.Any], *,
            round_index: int, n: int, seed: int,
            tried: tp.Collection[tuple[tuple[float, ...], int]] = ()) -> list[CandidateEdit]:
    """``n`` candidate edits for round ``round_index`` (0-based), in this order: the intent at this round's
    level with the same seed; (none/less) the words of the other phrases boosted (keep the other events),
    that and the co-driving word turned down; the co-driving word turned down (none/less) or the strongest
    competing word (more); a level further; another seed; then more seeds mixing those. Edits in
    ``tried`` (weights, seed) are left out: the same edit and seed regenerate the same audio."""
    targets = {_norm(i.word) for i in intents}

    def level(intent: str, shift: int) -> float:
        levels = LEVELS[intent]
        return levels[min(round_index + shift, len(levels) - 1)]

    def build(shift: int, extra: dict[str, float], seed_: int, note: str) -> CandidateEdit:
        weights = [1.0] * len(words)
        for item in intents:
            for i in word_indices(words, item.word):
                weights[i] = level(item.intent, shift)
        for word, w in extra.items():
            for i in word_indices(words, word):
                weights[i] = w
        weights = [limits.check_word_weight(w) for w in weights]
        changes: dict[str, float] = {}
        for i, w in enumerate(weights):
            if w != 1.0:
                changes.setdefault(_norm(words[i]), w)
        return CandidateEdit(tuple(weights), seed_, tuple(changes.items()), note)

    importance = found.get("importance", {})
    co = found.get("co_driver", {})
    side: dict[str, float] = {}
    for item in intents:
        if item.intent in ("none", "less"):
            partner = co.get(_norm(item.word))
        else:  # more: turn down the strongest competing content word in the region
            others = [(v, w) for w, v in importance.items() if w not in targets]
            partner = max(others)[1] if others else None
        if partner and partner not in targets:
            levels = CO_DRIVER_LEVELS[item.intent]
            side[partner] = min(side.get(partner, 1.0), levels[min(round_index, len(levels) - 1)])
    # for none/less, the words of the other phrases: boosted in a "keep the others" variant, so that
    # muting one event does not take the others with it (measured on the dev captions: muting "motor"
    # also lost the clock; muting "rainfall" lost the alarm when only "slow" was boosted, the one word
    # of the other phrase above half the top importance)
    keep: dict[str, float] = {}
    if any(i.intent in ("none", "less") for i in intents):
        phrase = set(targets) | set(side)
        for item in intents:
            phrase |= set(_phrase(words, _norm(item.word), list(importance)))
        boost = KEEP_LEVELS[min(round_index, len(KEEP_LEVELS) - 1)]
        keep = {w: boost for w in importance if w not in phrase}

    def other_seed(k: int) -> int:
        return (seed + 1000 * (round_index + 1) + k) % (2 ** 31)

    plans: list[CandidateEdit] = [build(0, {}, seed, "intent")]
    if keep:
        plans.append(build(0, keep, seed, "keep the others"))
    if side and keep:
        plans.append(build(0, {**side, **keep}, seed, "co-driver, keep the others"))
    if side:
        plans.append(build(0, side, seed, "with co-driver"))
    if any(len(LEVELS[i.intent]) > round_index + 1 for i in intents):
        plans.append(build(1, {}, seed, "stronger"))
    plans.append(build(0, {}, other_seed(0), "other seed"))
    k = 1
    while len([p for p in plans if (p.weights, p.seed) not in tried]) < n and k < 100:
        extra = [{}, {**side, **keep}, keep, side][k % 4]
        plans.append(build(0, extra, other_seed(k), "other seed"))
        k += 1
    unique: list[CandidateEdit] = []
    for plan in plans:
        if (plan.weights, plan.seed) not in tried and \
                all((plan.weights, plan.seed) != (u.weights, u.seed) for u in unique):
            unique.append(plan)
    return unique[:n]


# ------------------------------------------------------------------------------------------------ the loop
@dataclasses.dataclass
class Candidate:
    """One regenerated candidate: its take, score and what it changed."""

    take: "Take"
    score: Score
    edit: CandidateEdit
    round: int  # 1-based

    @property
    def met(self) -> bool:
        return self.score.met

    @property
    def label(self) -> str:
        """What changed, as the takes list shows it ("mute dog · region 2.00–5.00 s · seed 3")."""
        from .region import edit_label
        text = edit_label(self.take)
        if self.edit.note == "other seed":
            text += f" · seed {self.edit.seed}"
        return text


class _Ranked:
    """Candidates ranked best first (``self.candidates``): the best, and whether it meets the intent."""

    candidates: list[Candidate]

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    @property
    def met(self) -> bool:
        return bool(self.candidates) and self.candidates[0].met


@dataclasses.dataclass
class RoundResult(_Ranked):
    """One round: its candidates ranked best first, and whether the best meets the intent."""

    index: int  # 1-based
    candidates: list[Candidate]
    explanation: dict[str, tp.Any]  # drivers() of the take the round started from


@dataclasses.dataclass
class GuidedEditResult(_Ranked):
    """The whole loop: every candidate ranked best first, the rounds it took and its wall time."""

    candidates: list[Candidate]
    rounds: list[RoundResult]
    seconds: float
    scorer: str

    @property
    def rounds_used(self) -> int:
        return len(self.rounds)


def _rank(candidates: tp.Iterable[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (not c.met, -c.score.value, c.round))


def make_scorer(kind: ScorerName, model: "LoadedModel", intents: tp.Sequence[WordIntent],
                method: str = DEFAULT_METHOD) -> Scorer:
    """``auto``: the event classifier on the bundled model when every target word names a world event,
    else the explanation of the region."""
    if kind == "classifier" or (kind == "auto" and ClassifierScorer.applies(model, intents)):
        return ClassifierScorer()
    if kind in ("auto", "explanation"):
        return ExplanationScorer(method)
    raise ParameterError(f"unknown scorer '{kind}': use auto, classifier or explanation")


def rounds(model: "LoadedModel", take: "Take", intents: tp.Sequence[WordIntent], *,
           region: tuple[float, float | None] | None = None, candidates: int = 4, max_rounds: int = 3,
           scorer: Scorer | ScorerName = "auto", method: str = DEFAULT_METHOD, tail: str = "splice",
           crossfade: float | None = None, batch: bool = True, progress: ProgressFn | None = None,
           cancel: CancelToken | None = None) -> tp.Iterator[RoundResult]:
    """The loop, one :class:`RoundResult` per round (each ranks every candidate so far, best first);
    stops after the round whose best meets the intent, or after ``max_rounds``.

    Args:
        region: (start, end) seconds; ``None`` or end ``None``: to the take's end; ``None``: the whole clip.
        candidates: candidates per round (1-16).
        scorer: a :class:`Scorer`, or ``'auto'`` / ``'classifier'`` / ``'explanation'``.
        method: the explainer used to find the region's drivers (and to score, for ``'explanation'``).
        tail: as for :func:`.region.regenerate_region` (``'splice'``: the parent's audio after the region).
        batch: regenerate a round's candidates as one LM batch (default); ``False``: one LM run each
            (the same takes; kept to measure what the batch saves: benchmarks/bench_guided_edit.py --one-by-one).
    Raises:
        ParameterError (a word not in the prompt, a function word, a bad region or count), Cancelled.
    """
    from .explain import explain
    from .region import DEFAULT_CROSSFADE, RegionVariant, region_frames, regenerate_region_batch

    n = limits.check_int("candidates", candidates, 1, 16)
    max_rounds = limits.check_int("rounds", max_rounds, 1, 20)
    words = list(take.words)
    check_intents(words, intents)
    start, end = (0.0, None) if region is None else (region[0], region[1])
    first, stop = region_frames(take, start, end)
    span = (first / take.frame_rate, stop / take.frame_rate)
    the_scorer = make_scorer(scorer, model, intents, method) if isinstance(scorer, str) else scorer
    fade = DEFAULT_CROSSFADE if crossfade is None else crossfade
    check(cancel)
    report(progress, "score the original", 0, 1)
    the_scorer.prepare(model, take, span, intents, cancel)
    report(progress, "score the original", 1, 1)
    done: list[Candidate] = []
    current = take
    for r in range(max_rounds):
        check(cancel)
        stage = f"round {r + 1}/{max_rounds}"
        report(progress, f"{stage}: explain the region", 0, 1)
        explanation = explain(model, current, method, cancel=cancel,
                              progress=_prefixed(progress, f"{stage}: explain the region"))
        found = drivers(explanation, current.words, span)
        plans = propose(words, intents, found, round_index=r, n=n, seed=int(take.params.seed),
                        tried={(c.edit.weights, c.edit.seed) for c in done})
        where = f"{stage} · {len(plans)} candidates at once"  # what each changes: the round's list
        variants = [RegionVariant(list(plan.weights), plan.seed, plan.edits()) for plan in plans]
        takes = [new for group in ([variants] if batch else [[v] for v in variants]) for new in
                 regenerate_region_batch(model, current, span[0], None if stop >= take.codes.shape[-1] else span[1],
                                         group, tail=tp.cast(tp.Any, tail), crossfade=fade,
                                         progress=_prefixed(progress, where), cancel=cancel)]
        made: list[Candidate] = []
        for i, (plan, new) in enumerate(zip(plans, takes)):
            check(cancel)
            report(progress, f"{stage}: score candidate {i + 1}/{len(plans)}", i, len(plans))
            made.append(Candidate(new, the_scorer.score(model, new, cancel), plan, r + 1))
        report(progress, f"{stage}: score", len(plans), len(plans))
        check(cancel)
        done = _rank(done + made)
        result = RoundResult(r + 1, list(done), found)
        yield result
        if result.met:
            return
        current = _rank(made)[0].take


def _prefixed(progress: ProgressFn | None, prefix: str) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"{prefix} · {stage}", done, total)


def guided_edit(model: "LoadedModel", take: "Take", intents: tp.Sequence[WordIntent], **kwargs: tp.Any
                ) -> GuidedEditResult:
    """Run :func:`rounds` to the end (same arguments); the result ranks every candidate, best first."""
    started = time.perf_counter()
    if isinstance(kwargs.get("scorer", "auto"), str):
        kwargs["scorer"] = make_scorer(kwargs.get("scorer", "auto"), model, intents,
                                       kwargs.get("method", DEFAULT_METHOD))
    all_rounds = list(rounds(model, take, intents, **kwargs))
    last = all_rounds[-1]
    name = getattr(kwargs["scorer"], "name", str(kwargs["scorer"]))
    return GuidedEditResult(list(last.candidates), all_rounds, time.perf_counter() - started, name)


def intents_from(more: tp.Iterable[str] = (), less: tp.Iterable[str] = (), none: tp.Iterable[str] = ()
                 ) -> list[WordIntent]:
    """:class:`WordIntent` list from three word lists (the CLI's ``--more/--less/--none``)."""
    return ([WordIntent(w, "more") for w in more] + [WordIntent(w, "less") for w in less]
            + [WordIntent(w, "none") for w in none])
