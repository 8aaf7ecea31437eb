"""What every pass of the LM over a prompt starts from, below both generation and teacher forcing:
the prompt's conditioning attributes (:func:`conditions_for`) and the check that a take fits the
loaded model (:func:`check_model`).

:mod:`.generation` (sampling) and :mod:`.teacher` (teacher-forced passes) both import this module;
neither imports the other.
"""
from __future__ import annotations

import typing as tp

from .errors import ModelMismatchError, NotATakeError
from .models import LoadedModel
from .take import Take

if tp.TYPE_CHECKING:
    from audiocraft.modules.conditioners import ConditioningAttributes


def conditions_for(prompt: str | None) -> list[ConditioningAttributes]:
    """The audiocraft conditioning of one prompt (``None``: the unconditional branch)."""
    from audiocraft.modules.conditioners import ConditioningAttributes  # when a model runs, not on import
    return [ConditioningAttributes(text={"description": prompt})]


def check_model(model: LoadedModel, take: Take) -> None:
    """Refuse a take made by another model, or by other weights under the same id."""
    if take.model_id != model.id:
        raise ModelMismatchError(f"this take was made by model '{take.model_id}', not '{model.id}': "
                                 f"load '{take.model_id}' to explain or regenerate it")
    if take.model_fingerprint and take.model_fingerprint != model.fingerprint:
        raise ModelMismatchError(f"this take was made by other weights of model '{model.id}' (the model changed "
                                 "since): generate it again to explain or regenerate it")
    # A take.json can be edited by hand without changing the fingerprint: the arrays must still fit
    # the model, or the LM's embedding lookup fails deep inside audiocraft.
    n_q, card, dim = int(model.lm.num_codebooks), int(model.card), int(model.lm.dim)
    codes, latents = take.codes, take.latents
    if codes.dim() != 2 or codes.shape[0] != n_q:
        raise NotATakeError(f"take {take.id}: its codes have shape {list(codes.shape)}, model '{model.id}' makes "
                            f"[{n_q}, frames]: the take is damaged, generate it again")
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= card):
        raise NotATakeError(f"take {take.id}: its codes lie outside model '{model.id}'s codebook (0..{card - 1}): "
                            "the take is damaged, generate it again")
    if latents.dim() != 2 or latents.shape[-1] != dim:
        raise NotATakeError(f"take {take.id}: its latents have shape {list(latents.shape)}, model '{model.id}' "
                            f"has width {dim}: the take is damaged, generate it again")
    channels = int(getattr(model.gen, "audio_channels", take.audio.shape[0]))
    if take.audio.shape[0] != channels:
        raise NotATakeError(f"take {take.id}: its audio has {take.audio.shape[0]} channel(s), model '{model.id}' "
                            f"makes {channels}: the take is damaged, generate it again")
    # The per-token masks line up with the tokens the model reads: a take.json whose stored tokens
    # are not the model's tokenisation of its own prompt would give an explanation of other words.
    expected = model.text_tokens(take.prompt)
    if expected.to_dict() != take.text.to_dict():
        raise NotATakeError(f"take {take.id}: its stored words/tokens are not model '{model.id}'s reading of its "
                            "prompt (take.json was edited?): generate it again")
