"""AudioGenX's explainer networks (:mod:`.audiogenx`): per-step MLPs that turn the text tokens into mask
probabilities. In a module of their own because they subclass torch's ``nn.Module``: the method's
settings and registration (:mod:`.audiogenx`) import without torch, so the app's window opens before
torch has loaded (issue 19).
"""
from __future__ import annotations

import math

import torch
from torch import nn


class StepExplainers(nn.Module):
    """``steps`` independent Explainer MLPs evaluated in one batched einsum.

    Each has its own Linear(d→hidden), PReLU and Linear(hidden→1), initialised like ``nn.Linear``.
    """

    def __init__(self, steps: int, dim: int, hidden: int, generator: torch.Generator) -> None:
        super().__init__()

        def uniform(shape: tuple, fan_in: int) -> nn.Parameter:
            bound = 1.0 / math.sqrt(fan_in)
            return nn.Parameter(torch.empty(shape).uniform_(-bound, bound, generator=generator))

        self.w1 = uniform((steps, dim, hidden), dim)
        self.b1 = uniform((steps, 1, hidden), dim)
        self.prelu = nn.Parameter(torch.full((steps, 1, 1), 0.25))
        self.w2 = uniform((steps, hidden, 1), hidden)
        self.b2 = uniform((steps, 1, 1), hidden)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [L, d] → p [steps, L] in (0, 1)."""
        h = torch.einsum("ld,sdh->slh", tokens, self.w1) + self.b1
        h = torch.where(h >= 0, h, self.prelu * h)
        return torch.sigmoid(torch.bmm(h, self.w2) + self.b2).squeeze(-1)


class FlatStepExplainers(nn.Module):
    """The same ``steps`` Explainer MLPs (same initial values) laid out for speed (fast/quick modes).

    The first layers of all steps are one [d, steps·hidden] matrix, so U·W1 for every step is a
    single GEMM (and its weight gradient another) instead of ``steps`` small batched ones: about
    2.6× faster on the bundled model's shapes on one CPU thread. Adam is element-wise, so the
    layout changes nothing but float rounding.
    """

    def __init__(self, ref: StepExplainers) -> None:
        super().__init__()
        steps, dim, hidden = ref.w1.shape
        self.steps, self.hidden = steps, hidden
        self.w1 = nn.Parameter(ref.w1.detach().permute(1, 0, 2).reshape(dim, steps * hidden).contiguous())
        self.b1 = nn.Parameter(ref.b1.detach().clone())
        self.prelu = nn.Parameter(ref.prelu.detach().clone())
        self.w2 = nn.Parameter(ref.w2.detach().clone())
        self.b2 = nn.Parameter(ref.b2.detach().clone())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [L, d] → p [steps, L] in (0, 1)."""
        L = tokens.shape[0]
        h = (tokens @ self.w1).view(L, self.steps, self.hidden).transpose(0, 1) + self.b1
        h = torch.where(h >= 0, h, self.prelu * h)
        return torch.sigmoid(torch.bmm(h, self.w2) + self.b2).squeeze(-1)
