"""Word deletion: what each word of the prompt does to the take, asked by deleting it from the text.

Not the paper's method (issue 18's documented variant). AudioGenX masks the text encoder's token
embeddings; an encoder that reads the whole sentence leaves a trace of every word in the other words'
embeddings, so masking "dog" leaves "dog" in "barks", and a function word's embedding ("then") can
carry the events it joins. Deleting the word from the TEXT, before the encoder, leaves no trace: the
score is how much the model needs that word, as a sound designer editing the prompt would ask.

For each whitespace word w, step t (teacher-forced on the take's codes, so every step sees the take's
own history):

    D_w(t) = sum over codebooks of KL( p(. | prompt) || p(. | prompt without w) ),

p = the distribution the take's codes were drawn from: classifier-free guidance at the take's
coefficient and its temperature, over every code (no top-k/top-p cut, whose supports would differ
between the two prompts and make KL infinite). Direction: from the take's distribution to the one
without the word (what deleting the word moves away from). Every token of w gets 1 − exp(−D_w(t)) at
step t: 0 where deleting w changes nothing, 0.63 at 1 nat, towards 1 where the word decides the step.
An absolute scale, the same for every take (a take where no word matters shows no bright cell), and
saturating, so one step's spike does not flatten the rest of the heatmap as dividing by the take's
largest value would (measured both ways on the held-out captions: the same figures within a few
captions, the saturating form better on halves; results/word_deletion.md). The largest D, in nats, is
kept in ``extras['kl_max']``.

Cost: one teacher-forced pass per word plus two (the full prompt, the unconditional branch), no
gradients and no training: ~0.2 s for a 10-word prompt on the bundled model. Held-out figures next to
AudioGenX's: benchmarks/results/word_deletion.md (benchmarks/probe_word_deletion.py). A timeline take is
explained on its joined prompt, as every explainer here explains it.
"""
from __future__ import annotations

import re

import numpy as np

from .base import Explainer, Run, register
from ..explanation import Explanation


def without_word(prompt: str, span: tuple[int, int]) -> str | None:
    """``prompt`` with the word at character ``span`` removed and the spaces closed up; None (the
    unconditional branch's empty description) when nothing is left."""
    text = re.sub(r"\s+", " ", prompt[:span[0]] + " " + prompt[span[1]:]).strip()
    return text or None


def word_deletion_kl(run: Run) -> np.ndarray:
    """[steps, words] D_w(t) of the module docstring, in nats; cancel checked and progress reported
    per word."""
    import torch

    from .. import teacher
    from ..model_inputs import conditions_for

    model, take, inputs = run.model, run.take, run.inputs
    provider = model.lm.condition_provider
    params = take.params

    def condition(text: str | None) -> dict:
        return provider(provider.tokenize(conditions_for(text)))

    uncond = teacher.forward(model, inputs, condition=condition(None))[1][0].float()

    def log_probs(cond: dict) -> torch.Tensor:
        logits = teacher.forward(model, inputs, condition=cond)[1][0].float()
        guided = uncond + (logits - uncond) * float(params.cfg_coef)
        return torch.log_softmax(guided / max(float(params.temperature), 1e-6), dim=-1)  # [K, steps, card]

    full = log_probs(inputs.condition)
    p_full = full.exp()
    spans = take.text.word_spans
    kl = np.zeros((inputs.n_steps, len(spans)))
    for w, span in enumerate(spans):
        run.check()
        deleted = log_probs(condition(without_word(take.text.prompt, span)))
        kl[:, w] = (p_full * (full - deleted)).sum(-1).sum(0).double().cpu().numpy()
        run.report(w + 1, len(spans))
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
