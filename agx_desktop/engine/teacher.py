"""Teacher-forced passes over a generated take: the parallel view AudioGenX trains on.

Generation runs the LM once per step; a teacher-forced pass feeds the whole generated pattern
sequence at once, so every step's latent e_t (and its perturbed versions) come from one forward.
Input position s of the pattern sequence is what step s saw; its output predicts position s+1.
"""
from __future__ import annotations

import contextlib
import typing as tp
from dataclasses import dataclass

import torch

from .intervention import HiddenCapture, cross_attention_mask
from .model_inputs import check_model, conditions_for
from .models import LoadedModel
from .take import Take


@dataclass
class TeacherInputs:
    """What every teacher-forced pass over one take needs, computed once."""

    sequence: torch.Tensor  # [1, K, steps] pattern-sequence inputs (special token at position 0)
    condition: dict  # audiocraft ConditionTensors for the prompt (conditional branch only)
    text_embeddings: torch.Tensor  # [L, D] the conditioner's output U for the prompt
    step_frames: list[list[int]]  # frames predicted at each step
    n_frames: int

    @property
    def n_steps(self) -> int:
        return int(self.sequence.shape[-1])


def prepare(model: LoadedModel, take: Take) -> TeacherInputs:
    """Pattern sequence, condition tensors and step → frame map for ``take``."""
    check_model(model, take)
    lm = model.lm
    codes = take.codes.to(model.device).long().unsqueeze(0)  # [1, K, T]
    n_frames = int(codes.shape[-1])
    pattern = lm.pattern_provider.get_pattern(n_frames)
    seq, _, _ = pattern.build_pattern_sequence(codes, lm.special_token_id, keep_only_valid_steps=False)
    steps = len(pattern.layout) - 1
    step_frames = [sorted({c.t for c in pattern.layout[s + 1]}) for s in range(steps)]
    with torch.no_grad():
        provider = lm.condition_provider
        condition = provider(provider.tokenize(conditions_for(take.prompt)))
    embeds = condition["description"][0]
    return TeacherInputs(seq[..., :steps], condition, embeds[0].detach(), step_frames, n_frames)


def expand_condition(condition: dict, batch: int) -> dict:
    """Repeat every condition tensor along the batch axis."""
    return {k: (e.expand(batch, *e.shape[1:]), m.expand(batch, *m.shape[1:])) for k, (e, m) in condition.items()}


def forward(model: LoadedModel, inputs: TeacherInputs, mask: torch.Tensor | None = None,
            batch: int = 1, condition: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A teacher-forced pass, optionally under a mask: (final hidden states [batch, steps, D],
    logits [batch, K, steps, card]); ``condition`` defaults to the prompt's, conditional branch only.

    Gradients flow to ``mask`` when it requires grad (the LM's own weights may be frozen).
    """
    lm = model.lm
    seq = inputs.sequence.expand(batch, -1, -1)
    cond = condition if condition is not None else expand_condition(inputs.condition, batch)
    ctx = cross_attention_mask(lm, mask) if mask is not None else contextlib.nullcontext()
    with ctx, HiddenCapture(lm) as hidden:
        logits = lm(seq, [], condition_tensors=cond)
    return hidden.outputs[-1], logits


def forward_per_step(model: LoadedModel, inputs: TeacherInputs, mask: torch.Tensor | None = None,
                     batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Every step as its own one-token sequence at position 0, with NO audio history, as the AudioGenX
    reference code (hjkng/audiogenX ``explain.py``) runs its explainer passes: step s sees only the
    pattern-sequence token it was fed, so a step's mask cannot reach any other step.

    ``mask`` is [steps, L] or [batch, steps, L]; the steps ride in the LM's batch axis (one row each),
    conditional branch only. Returns the same shapes as :func:`forward`: (hidden [batch, steps, D],
    logits [batch, K, steps, card]).
    """
    lm = model.lm
    K, steps = inputs.sequence.shape[1], inputs.n_steps
    seq = inputs.sequence[0].transpose(0, 1).unsqueeze(-1).repeat(batch, 1, 1)  # [batch·steps, K, 1]
    cond = expand_condition(inputs.condition, batch * steps)
    ctx: tp.ContextManager = contextlib.nullcontext()
    if mask is not None:
        rows = mask.expand(batch, steps, mask.shape[-1]) if mask.dim() == 2 else mask
        ctx = cross_attention_mask(lm, rows.reshape(batch * steps, 1, rows.shape[-1]))
    with ctx, HiddenCapture(lm) as hidden:
        logits = lm(seq, [], condition_tensors=cond)  # [batch·steps, K, 1, card]
    out = hidden.outputs[-1].reshape(batch, steps, -1)
    return out, logits.reshape(batch, steps, K, -1).transpose(1, 2)


def latents(model: LoadedModel, inputs: TeacherInputs, mask: torch.Tensor | None = None,
            batch: int = 1, condition: dict | None = None) -> torch.Tensor:
    """Final hidden states [batch, steps, D] of :func:`forward`: AudioGenX's e_t."""
    return forward(model, inputs, mask, batch, condition)[0]


class Frozen:
    """Context manager: the LM's parameters stop requiring grad, restored on exit."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.flags: list[tuple[torch.nn.Parameter, bool]] = []

    def __enter__(self) -> None:
        self.flags = [(p, p.requires_grad) for p in self.module.parameters()]
        for p, _ in self.flags:
            p.requires_grad_(False)

    def __exit__(self, *a: tp.Any) -> None:
        for p, flag in self.flags:
            p.requires_grad_(flag)


class Bf16Weights:
    """Context manager: the LM's transformer and output GEMM weights are swapped for bf16 copies.

    Under bf16 autocast a float32 weight is cast anew in every pass (measured ~8% of a
    teacher-forced forward+backward at audiogen-medium's shape on the CPU, and autocast keeps those
    copies alive for the backward anyway). Casting once per explanation saves that and costs no
    extra peak memory. Norms, embeddings and everything outside the GEMMs stay float32; the
    float32 originals are put back on exit, untouched, even on error. Use with frozen weights.
    """

    def __init__(self, lm: torch.nn.Module) -> None:
        self.lm = lm
        self.saved: list[tuple[torch.nn.Module, str, torch.nn.Parameter]] = []

    def __enter__(self) -> None:
        if self.saved:
            raise RuntimeError("Bf16Weights is not re-entrant: use a new instance")
        roots = [getattr(self.lm, "transformer", None), getattr(self.lm, "linears", None)]
        try:
            for root in (r for r in roots if r is not None):
                for module in root.modules():
                    for name in ("weight", "in_proj_weight"):
                        p = module._parameters.get(name)
                        is_gemm = isinstance(module, torch.nn.Linear) or name == "in_proj_weight"
                        if p is not None and is_gemm and p.dtype == torch.float32:
                            self.saved.append((module, name, p))
                            module._parameters[name] = torch.nn.Parameter(p.detach().to(torch.bfloat16),
                                                                          requires_grad=False)
        except BaseException:  # out of memory, Ctrl-C: never leave a half-swapped model behind
            self.__exit__()
            raise

    def __exit__(self, *a: tp.Any) -> None:
        for module, name, p in reversed(self.saved):
            module._parameters[name] = p
        self.saved = []
