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


class _FirstLayer(torch.autograd.Function):
    """``tokens @ w1`` whose weight gradient is written into one buffer kept across epochs.

    w1 is [d, steps·hidden] (50 MB for the bundled model's 128 steps); autograd would allocate its
    gradient anew at every backward, and memory that large comes fresh from the OS each time (page
    faults: ~30 ms of a ~54 ms gradient product on one CPU thread). The product here is the one
    autograd's ``mm`` backward computes (``tokens.t().mm(grad)``), into ``net.w1_grad``; w1's
    ``.grad`` is set to that buffer, so the optimiser reads the same values.
    """

    @staticmethod
    def forward(ctx, tokens: torch.Tensor, w1: torch.Tensor, net: "FlatStepExplainers") -> torch.Tensor:
        ctx.save_for_backward(tokens)
        ctx.net = net
        return tokens @ w1

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, None]:
        (tokens,) = ctx.saved_tensors
        net = ctx.net
        if net.w1_grad is None or net.w1_grad.shape != net.w1.shape:
            net.w1_grad = torch.empty_like(net.w1)
        torch.mm(tokens.t(), grad, out=net.w1_grad)
        net.w1.grad = net.w1_grad
        return None, None, None


class FlatStepExplainers(nn.Module):
    """The same ``steps`` Explainer MLPs (same initial values) laid out for speed (fast/quick modes).

    The first layers of all steps are one [d, steps·hidden] matrix, so U·W1 for every step is a
    single GEMM (and its weight gradient another) instead of ``steps`` small batched ones: about
    2.6× faster on the bundled model's shapes on one CPU thread. Adam is element-wise, so the
    layout changes nothing but float rounding. With ``reuse_grad`` (default) W1's gradient is
    written into one buffer kept across epochs (:class:`_FirstLayer`): the same values as plain
    autograd, bit for bit (tests/test_bundled_speed.py), without a fresh 50 MB allocation per epoch.
    The text tokens must not require grad (they are the frozen conditioner's output).
    """

    def __init__(self, ref: StepExplainers, reuse_grad: bool = True) -> None:
        super().__init__()
        steps, dim, hidden = ref.w1.shape
        self.steps, self.hidden, self.reuse_grad = steps, hidden, reuse_grad
        self.w1 = nn.Parameter(ref.w1.detach().permute(1, 0, 2).reshape(dim, steps * hidden).contiguous())
        self.b1 = nn.Parameter(ref.b1.detach().clone())
        self.prelu = nn.Parameter(ref.prelu.detach().clone())
        self.w2 = nn.Parameter(ref.w2.detach().clone())
        self.b2 = nn.Parameter(ref.b2.detach().clone())
        self.w1_grad: torch.Tensor | None = None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [L, d] → p [steps, L] in (0, 1)."""
        L = tokens.shape[0]
        if self.reuse_grad and not tokens.requires_grad:
            first = _FirstLayer.apply(tokens, self.w1, self)
        else:
            first = tokens @ self.w1
        h = first.view(L, self.steps, self.hidden).transpose(0, 1) + self.b1
        h = torch.where(h >= 0, h, self.prelu * h)
        return torch.sigmoid(torch.bmm(h, self.w2) + self.b2).squeeze(-1)
