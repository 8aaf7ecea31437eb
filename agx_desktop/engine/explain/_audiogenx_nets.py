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


class FusedStepExplainers(nn.Module):
    """The same ``steps`` Explainer MLPs (same initial values), laid out and trained for speed (fast
    and quick modes); :meth:`optimizer` gives their Adam.

    Why: on the bundled model the explainers, not the LM, took most of an epoch (~88 of ~140 ms on
    one CPU thread). Their first layers are 12.6 M weights (128 steps × 512 hidden × 192 dims,
    50 MB), and plain autograd + Adam passes over that memory five times an epoch: the forward
    GEMM, the weight-gradient GEMM, and Adam reading the weights, gradient and both moments.

    Here the first layers of all steps are one [steps·hidden, d] matrix ``w1``, and the text tokens
    are fixed for a run, so the first layer's output ``first = U·W1`` [L, steps·hidden] is a leaf
    tensor kept across epochs: autograd stops there and leaves its gradient G in ``first.grad``.
    The optimiser's step then trains ``w1`` in one pass, a few steps' rows at a time so that a chunk
    stays in the cache: the chunk's weight gradient (Gᵀ·U), torch's fused Adam on it, and the
    chunk's share of the next epoch's ``first``. The small parameters (b1, PReLU, W2, b2) train with
    torch's fused Adam through autograd.

    Values: those of plain autograd and ``torch.optim.Adam(fused=True)`` over the same parameters
    in the [d, steps·hidden] layout; bit for bit where the BLAS sums ``U·W`` and ``U·(Wᵀ)ᵀ`` alike
    (here: MKL on prompts of 4+ tokens; a 1-3 row product takes another path and rounds
    differently), tests/test_bundled_speed.py. Adam is element-wise, and each chunk's products are
    the same dot products, in the same order, as the whole matrix's. One more exception, in theory
    only: where a hidden unit is exactly 0, torch's PReLU passes the gradient times the slope, the
    ``where`` form the gradient itself (none in 47 M values counted on the bundled model).
    """

    def __init__(self, ref: StepExplainers, tokens: torch.Tensor, chunk_steps: int | None = None) -> None:
        super().__init__()
        steps, dim, hidden = ref.w1.shape
        if tokens.requires_grad or tokens.dim() != 2 or tokens.shape[1] != dim:
            raise ValueError(f"tokens must be a fixed [L, {dim}] tensor, got {tuple(tokens.shape)}")
        if tokens.dtype != ref.w1.dtype or tokens.device != ref.w1.device:
            raise ValueError(f"tokens must be {ref.w1.dtype} on {ref.w1.device} like the explainers, "
                             f"got {tokens.dtype} on {tokens.device}")
        self.steps, self.hidden = steps, hidden
        # on a CPU 4 steps' rows (~1.5 MB of weights) measured fastest; elsewhere one chunk
        chunk = chunk_steps or (4 if ref.w1.device.type == "cpu" else steps)
        self.chunk_rows = min(chunk, steps) * hidden
        w1 = torch.empty(steps, hidden, dim, dtype=ref.w1.dtype, device=ref.w1.device)
        for step in range(steps):  # step by step: a cache-sized transpose each (~24 against ~34 ms at once)
            w1[step].copy_(ref.w1[step].detach().t())
        self.register_buffer("w1", w1.view(steps * hidden, dim), persistent=False)
        self.b1 = nn.Parameter(ref.b1.detach().clone())
        self.prelu = nn.Parameter(ref.prelu.detach().clone())
        self.w2 = nn.Parameter(ref.w2.detach().clone())
        self.b2 = nn.Parameter(ref.b2.detach().clone())
        self.tokens = tokens
        rows = self.w1.shape[0]
        self.chunks = [slice(a, min(a + self.chunk_rows, rows)) for a in range(0, rows, self.chunk_rows)]
        self.first = torch.empty(tokens.shape[0], rows, dtype=self.w1.dtype, device=self.w1.device)
        with torch.no_grad():
            for chunk in self.chunks:
                self.forward_chunk(chunk)
        self.first.requires_grad_(True)

    def forward_chunk(self, rows: slice) -> None:
        """``first``'s columns for ``rows`` of ``w1``: always computed chunk by chunk, so a column gets the
        same product whether it is the first epoch's or an update's."""
        self.first[:, rows] = torch.nn.functional.linear(self.tokens, self.w1[rows])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [L, d] (the ones given at construction) → p [steps, L] in (0, 1)."""
        if tokens is not self.tokens and not torch.equal(tokens, self.tokens):
            raise ValueError("FusedStepExplainers keeps U·W1 for the tokens it was made with; got other tokens")
        L = tokens.shape[0]
        # [L, steps, hidden] as ``first`` lies in memory; torch's PReLU kernel (one slope per step, the channel
        # axis 1) gives the values of StepExplainers' ``where(h >= 0, h, slope·h)`` and, summed by autograd in
        # this layout, the same gradients, without ``where``'s unvectorised CPU loop (~24 of ~115 ms an epoch)
        h = self.first.view(L, self.steps, self.hidden) + self.b1.view(1, self.steps, self.hidden)
        h = torch.nn.functional.prelu(h, self.prelu.view(self.steps))
        return torch.sigmoid(torch.bmm(h.transpose(0, 1), self.w2) + self.b2).squeeze(-1)

    def optimizer(self, lr: float, weight_decay: float) -> "ChunkedAdam":
        """Adam (torch's defaults otherwise) over every weight of these explainers."""
        return ChunkedAdam(self, lr=lr, weight_decay=weight_decay)


class ChunkedAdam:
    """Adam for :class:`FusedStepExplainers`: what ``torch.optim.Adam(fused=True)`` computes for all
    its weights, with ``w1``'s part done chunk by chunk together with its gradient and the next
    forward (see the class above). Offers what the training loop uses of an optimiser:
    ``param_groups`` (the learning rate), ``zero_grad`` and ``step``."""

    def __init__(self, net: FusedStepExplainers, lr: float, weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.net = net
        self.small = torch.optim.Adam(net.parameters(), lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      fused=True)
        self.param_groups = self.small.param_groups
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(net.w1), torch.zeros_like(net.w1)
        # one step count per chunk: torch's functional Adam adds one to each count it is given
        self.counts = [torch.zeros((), dtype=torch.float32, device=net.w1.device) for _ in net.chunks]
        self.grad = torch.empty(net.chunk_rows, net.w1.shape[1], dtype=net.w1.dtype, device=net.w1.device)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.small.zero_grad(set_to_none=set_to_none)
        self.net.first.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step of every weight; afterwards the net's ``first`` is U·W1 for the new W1."""
        from torch.optim.adam import adam
        net = self.net
        G = net.first.grad
        if G is None:
            raise RuntimeError("ChunkedAdam.step needs a backward through the explainers first")
        group = self.param_groups[0]  # read at every step, as torch's Adam does: changes apply to w1 too
        (beta1, beta2), lr, decay, eps = group["betas"], group["lr"], group["weight_decay"], group["eps"]
        self.small.step()
        for rows, count in zip(net.chunks, self.counts):
            grad = self.grad[:rows.stop - rows.start]
            torch.mm(G[:, rows].t(), net.tokens, out=grad)
            adam([net.w1[rows]], [grad], [self.exp_avg[rows]], [self.exp_avg_sq[rows]], [], [count], fused=True,
                 amsgrad=False, beta1=beta1, beta2=beta2, lr=lr, weight_decay=decay, eps=eps, maximize=False)
            net.forward_chunk(rows)
        net.first.grad = None
