"""Word deletion: what each word of the prompt does to the take, asked by deleting it from the text.

Not the paper's method (issue 18's documented variant). AudioGenX masks the text encoder's token
embeddings; an encoder that reads the whole sentence leaves a trace of every word in the other words'
embeddings, so masking "dog" leaves "dog" in "barks", and a function word's embedding ("then") can
carry the events it joins. Deleting the word from the TEXT, before the encoder, leaves no trace: the
score is how much the model needs that word, as a sound designer editing the prompt would ask.

For each whitespace word w, step t (teacher-forced on the take's codes, so every step sees the take's
own history):

    D_w(t) = sum over the codebooks that sample a code at step t of KL( p(. | prompt) || p(. | prompt without w) ),

p = the distribution the take's codes were drawn from: classifier-free guidance at the take's
coefficient and its temperature, over every code (no top-k/top-p cut, whose supports would differ
between the two prompts and make KL infinite; a greedy take, temperature 0, is read at 1e-6, where the
two distributions are near point masses and a score says little more than whether deleting the word
changes the step's most likely code). The unconditional branch is the null prompt's, unweighted
(generation also weights the null rows: the same on an LM without a cross-attention bias, as the
bundled model). Direction: from the take's distribution to the one
without the word (what deleting the word moves away from). Every token of w gets 1 − exp(−D_w(t)) at
step t: 0 where deleting w changes nothing, 0.63 at 1 nat, towards 1 where the word decides the step.
An absolute scale, the same for every take (a take where no word matters shows no bright cell), and
saturating, so one step's spike does not flatten the rest of the heatmap as dividing by the take's
largest value would. (Both forms are scored on the held-out captions in results/word_deletion.md;
this one was chosen after the raw KL's first fresh run, for the heatmap: it ranks halves better there,
singles about the same.) The largest D, in nats, is
kept in ``extras['kl_max']``.

Cost: one teacher-forced pass per word plus two (the full prompt, the unconditional branch), no
gradients and no training: ~0.3 s for a 7-word prompt on the bundled model. Held-out figures next to
AudioGenX's: benchmarks/results/word_deletion.md (benchmarks/probe_word_deletion.py).

Every pass conditions the take as it was generated: a take's word weights (applied as generation
applied them, to the words left), a timeline take's segments, each position on its own segment's
words, the word deleted from its own segment, and a region take's parent segments around its region
(context, not scored; its words are the region's). The other explainers read a timeline or region
take's prompt everywhere, an approximation.
"""
from __future__ import annotations

import re
import typing as tp

import numpy as np

from .base import Explainer, Run, register
from ..explanation import Explanation

if tp.TYPE_CHECKING:
    from ..take import Take
    from ..timeline import Segment


def without_word(prompt: str, span: tuple[int, int]) -> str | None:
    """``prompt`` with the word at character ``span`` removed and the spaces closed up; None (the
    unconditional branch's empty description) when nothing is left."""
    text = re.sub(r"\s+", " ", prompt[:span[0]] + " " + prompt[span[1]:]).strip()
    return text or None


def _segments_and_words(take: "Take") -> tuple[list["Segment"], list[tuple[int, tuple[int, int]]]]:
    """The segments ``take`` was generated under (:func:`..timeline.take_segments`: one for a plain take,
    with its word weights) and, for each prompt word, (its segment, its character span in that
    segment's text).

    * a timeline take: word ``i`` of its prompt is word ``i`` of its segments in order (the joined
      prompt may add a full stop between segments: :func:`..timeline.timeline_prompt`);
    * a region take: its prompt is the region's words, those of the segment recorded at
      ``edit['region']``; the parent's segments around it are context, conditioned as generation
      conditioned them and not scored;
    * a take whose recorded segments do not add up to its words (a take.json edited since) is read as
      its joined prompt, unweighted, everywhere, as the other explainers read every take.
    """
    from ..text import split_words
    from ..timeline import Segment, take_segments

    segments = take_segments(take)
    region = (take.edit or {}).get("region") if take.kind == "region" else None
    if region is not None:
        where = [(j, span) for j, seg in enumerate(segments)
                 if abs(seg.start - float(region[0])) < 1e-6 and seg.text == take.text.prompt
                 for span in split_words(seg.text)[1]]
    else:
        where = [(j, span) for j, seg in enumerate(segments) for span in split_words(seg.text)[1]]
    if len(where) != len(take.text.words):
        segments = [Segment(0.0, take.duration, take.text.prompt, None)]
        where = [(0, span) for span in take.text.word_spans]
    return segments, where


def _without(segments: list["Segment"], j: int, span: tuple[int, int]) -> list["Segment"]:
    """``segments`` with the word at ``span`` of segment ``j`` deleted (and its weight, if weighted)."""
    from ..text import split_words
    from ..timeline import Segment

    seg = segments[j]
    text = without_word(seg.text, span)
    weights = seg.word_weights
    if weights is not None:
        k = split_words(seg.text)[1].index(span)
        weights = None if text is None else tuple(w for i, w in enumerate(weights) if i != k)
    return [*segments[:j], Segment(seg.start, seg.end, text, weights), *segments[j + 1:]]


def word_deletion_kl(run: Run) -> np.ndarray:
    """[steps, words] D_w(t) of the module docstring, in nats; cancel checked and progress reported
    per word. Each pass conditions every position as generation did (a timeline take's segments, a
    take's word weights: :class:`..timeline.SegmentConditioning`), with the word deleted from its own
    segment's text."""
    import torch

    from .. import teacher
    from ..model_inputs import conditions_for
    from ..timeline import SegmentConditioning, schedule_for

    model, take, inputs = run.model, run.take, run.inputs
    provider = model.lm.condition_provider
    params = take.params
    segments, where = _segments_and_words(take)
    # the delay pattern leaves codebook k without a code at k of the first steps and 3 - k of the last
    # (generate overwrites whatever is drawn there): only the slots a code was sampled for count
    valid = (run.targets >= 0).to(inputs.sequence.device).float()  # [K, steps]
    uncond = teacher.forward(model, inputs, condition=provider(provider.tokenize(conditions_for(None))))[1][0].float()

    def log_probs(segs: list) -> torch.Tensor:
        with SegmentConditioning(model, schedule_for(segs, model.frame_rate), cfg=False):
            logits = teacher.forward(model, inputs)[1][0].float()
        guided = uncond + (logits - uncond) * float(params.cfg_coef)
        return torch.log_softmax(guided / max(float(params.temperature), 1e-6), dim=-1)  # [K, steps, card]

    full = log_probs(segments)
    p_full = full.exp()
    kl = np.zeros((inputs.n_steps, len(where)))
    for w, (j, span) in enumerate(where):
        run.check()
        deleted = log_probs(_without(segments, j, span))
        kl[:, w] = ((p_full * (full - deleted)).sum(-1) * valid).sum(0).double().cpu().numpy()
        run.report(w + 1, len(where))
    return np.maximum(kl, 0.0)  # KL >= 0; float rounding can leave -1e-9 where nothing changed


@register
class WordDeletion(Explainer):
    name = "deletion"
    label = "Word deletion"
    summary = ("word deletion: deletes each word from the prompt's text and measures how far the take's "
               "next-code distributions move (teacher-forced, no training; a variant, not the paper's)")

    def compute(self, run: Run) -> Explanation:
        kl = word_deletion_kl(run)
        scaled = -np.expm1(-kl)  # 1 - exp(-KL), exact near 0
        token_word = run.take.text.token_word
        masks = np.zeros((run.inputs.n_steps, run.n_tokens))
        for i, w in zip(range(run.n_tokens), token_word):
            if w is not None:
                masks[:, i] = scaled[:, w]
        return run.result(masks, extras={"kl_max": float(kl.max()) if kl.size else 0.0})
