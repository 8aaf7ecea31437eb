"""Random-Mask baseline (AudioGenX paper, Table 1): a mask of values drawn uniformly from [0, 1).

Choices: one independent value per (step, token), from a ``torch.Generator`` seeded with
``seed`` (default 0), so it is deterministic for a seed; its expected size is 0.5 as in the paper.
No forward pass of the LM is run (only the teacher inputs, for the step → frame map).
"""
from __future__ import annotations

import dataclasses

from .base import Explainer, Run, register
from .settings import ExplainerSettings, seed_option
from ..explanation import Explanation


@dataclasses.dataclass(frozen=True)
class RandomSettings(ExplainerSettings):
    seed: int = seed_option("the mask's seed")


@register
class RandomMask(Explainer):
    name = "random"
    label = "Random mask"
    summary = "random masks: the floor any method must beat"
    Settings = RandomSettings

    def compute(self, run: Run) -> Explanation:
        import torch
        gen = torch.Generator().manual_seed(run.settings.seed)
        masks = torch.rand((run.inputs.n_steps, run.n_tokens), generator=gen, dtype=torch.float64).numpy()
        run.report(1, 1)
        return run.result(masks)
