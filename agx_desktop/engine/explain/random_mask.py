"""Random-Mask baseline (AudioGenX paper, Table 1): a mask of values drawn uniformly from [0, 1).

Choices: one independent value per (step, token), from a ``torch.Generator`` seeded with
``seed`` (default 0), so it is deterministic for a seed; its expected size is 0.5 as in the paper.
No forward pass of the LM is run (only the teacher inputs, for the step → frame map).
"""
from __future__ import annotations

import time
import typing as tp

import torch

from ..progress import CancelToken, ProgressFn, check, report
from ..models import LoadedModel
from ..take import Take
from .. import teacher
from ._common import check_params, make_explanation
from .base import Explanation

NAME = "random"
DEFAULTS = dict(seed=0)


def explain_random(model: LoadedModel, take: Take, *, progress: ProgressFn | None = None,
                   cancel: CancelToken | None = None, **params: tp.Any) -> Explanation:
    cfg = check_params(NAME, params, DEFAULTS)
    start = time.perf_counter()
    check(cancel)
    inputs = teacher.prepare(model, take)
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    masks = torch.rand((inputs.n_steps, int(inputs.text_embeddings.shape[0])), generator=gen, dtype=torch.float64).numpy()
    report(progress, "explain", 1, 1)
    return make_explanation(NAME, model, take, inputs, masks, cfg, start)
