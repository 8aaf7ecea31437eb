"""Live attribution while the LM samples: a provisional word × time map from cross-attention.

The LM computes cross-attention to the text tokens at every step anyway; :class:`LiveAttention`
reads it back without touching the computation. A forward hook on every cross-attention *instance*
recomputes the post-softmax weights of the conditional batch row (one extra query projection of
one position per layer and step; the text keys are projected once per generation and cached),
averages them over heads and layers and hands each finished step to ``on_live``. The LM's output
is not changed (the hook returns nothing), so a take generated with the live map is the take
generated without it, sample for sample (tests/test_live.py).

Scores, per step (query position ``s`` of the pattern sequence, which predicts position ``s + 1``):
  * ``token_scores[s]``: mean over layers and heads of the attention weights to each text token;
    each row sums to 1 (softmax over the L tokens, special tokens included);
  * ``word_scores[s]``: each word's share (sum over its tokens, special tokens left out), divided
    by the step's largest share, so the top word is 1 and every value lies in [0, 1] (a row with
    no word attention at all is 0).
This is the plain attention baseline (no rollout through self-attention); its agreement with
AudioGenX's masks is measured in ``benchmarks/results/speed.md``. Under an intervention
(word weights, a step mask) the hook sees the weights before the mask multiplies them.
"""
from __future__ import annotations

import typing as tp

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .intervention import _projections, cross_attention_modules
from .text import TextTokens

if tp.TYPE_CHECKING:
    from audiocraft.models.lm import LMModel

LiveFn = tp.Callable[[int, np.ndarray], None]
"""``on_live(step_index, word_scores)``: word_scores float32 [words] in [0, 1], top word 1."""


def word_shares(text: TextTokens, token_scores: np.ndarray) -> np.ndarray:
    """[..., words] from [..., L] attention: each word's share (sum over its tokens), scaled so the
    largest word of each row is 1 (all-zero rows stay 0)."""
    shares = text.tokens_to_words(np.asarray(token_scores, dtype=np.float64), "sum")
    top = shares.max(axis=-1, keepdims=True) if shares.shape[-1] else np.zeros(shares.shape[:-1] + (1,))
    return (shares / np.where(top > 0, top, 1.0)).astype(np.float32)


class LiveAttention:
    """Context manager recording per-step cross-attention of ``lm`` (conditional row, batch item 0).

    Args:
        lm: the LM being sampled (only its cross-attention instances get a hook; removed on exit).
        text: the prompt's tokens ↔ words, for :func:`word_shares`.
        on_live: called as ``on_live(step_index, word_scores)`` for every step, in order, from
            :meth:`flush` (generation calls it after each sampling step, on the generating thread).
    """

    def __init__(self, lm: "LMModel", text: TextTokens, on_live: LiveFn | None = None) -> None:
        self.lm, self.text, self.on_live = lm, text, on_live
        self.modules = cross_attention_modules(lm)
        self._rows: dict[int, np.ndarray] = {}  # step -> token scores [L]
        self._delivered = 0
        self._offset = 0
        self._sum: torch.Tensor | None = None
        self._seen = 0
        self._keys: dict[int, tuple[tuple, torch.Tensor]] = {}
        self._proj: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    # ------------------------------------------------------------------ hooks
    def _pre(self, module: nn.Module, args: tuple) -> None:
        offsets = self.lm.transformer._streaming_state.get("offsets") if self.lm._is_streaming else None
        self._offset = int(offsets.view(-1)[0]) if offsets is not None else 0
        self._sum, self._seen = None, 0

    def _keys_for(self, index: int, mod: nn.Module, key: torch.Tensor) -> torch.Tensor:
        """[H, L, d] projected text keys of batch row 0, cached while the condition is the same tensor."""
        stamp = (key.data_ptr(), tuple(key.shape), key._version)
        cached = self._keys.get(index)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        _, _, wk, bk = self._proj[index]
        k = F.linear(key[:1].to(wk.dtype), wk, bk)
        if getattr(mod, "qk_layer_norm", False):
            k = mod.k_layer_norm(k)
        k = k.float().view(k.shape[1], mod.num_heads, -1).transpose(0, 1)
        self._keys[index] = (stamp, k)
        return k

    def _make_hook(self, index: int) -> tp.Callable:
        qk_norm = None

        def hook(mod: nn.Module, args: tuple, output: tp.Any) -> None:
            query, key = args[0], args[1]
            wq, bq, _, _ = self._proj[index]
            q = F.linear(query[:1].to(wq.dtype), wq, bq)  # conditional row only
            if qk_norm is not None:
                q = qk_norm(q)
            k = self._keys_for(index, mod, key)
            q = q.float().view(q.shape[1], mod.num_heads, -1).transpose(0, 1)  # [H, T, d]
            w = torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1).mean(0)  # [T, L]
            self._sum = w if self._sum is None else self._sum + w
            self._seen += 1
            if self._seen == len(self.modules):
                rows = (self._sum / len(self.modules)).cpu().numpy()
                for i, row in enumerate(rows):
                    self._rows[self._offset + i] = row
        if getattr(self.modules[index], "qk_layer_norm", False):
            qk_norm = self.modules[index].q_layer_norm
        return hook

    def __enter__(self) -> "LiveAttention":
        if not self.modules:
            raise ValueError("this LM has no cross-attention layers: no live map")
        self._proj = []
        for mod in self.modules:  # query/key slices of the packed in-projection, taken once
            weight, bias, _ = _projections(mod)
            dim = weight.shape[0] // 3
            self._proj.append((weight[:dim], None if bias is None else bias[:dim],
                               weight[dim:2 * dim], None if bias is None else bias[dim:2 * dim]))
        self._handles.append(self.lm.register_forward_pre_hook(self._pre))
        for i, mod in enumerate(self.modules):
            self._handles.append(mod.register_forward_hook(self._make_hook(i)))
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._keys.clear()

    # ------------------------------------------------------------------ results
    def flush(self) -> None:
        """Deliver every recorded step not yet handed to ``on_live`` (in step order)."""
        while self._delivered in self._rows:
            step = self._delivered
            self._delivered += 1
            if self.on_live is not None:
                self.on_live(step, word_shares(self.text, self._rows[step]))

    @property
    def n_steps(self) -> int:
        return len(self._rows)

    def token_scores(self) -> np.ndarray:
        """[steps, L] mean attention per recorded step (rows sum to 1)."""
        steps = sorted(self._rows)
        return np.stack([self._rows[s] for s in steps]).astype(np.float64) if steps else \
            np.zeros((0, len(self.text.tokens)))

    def word_scores(self) -> np.ndarray:
        """[steps, words] what ``on_live`` received, all steps."""
        return word_shares(self.text, self.token_scores())


def step_frames(lm: "LMModel", n_frames: int) -> list[list[int]]:
    """Audio frames each step predicts (any codebook), as :mod:`.teacher` and explanations count them:
    step ``s`` predicts pattern position ``s + 1`` (frames past the take may appear; they are skipped)."""
    pattern = lm.pattern_provider.get_pattern(n_frames)
    return [sorted({c.t for c in pattern.layout[s + 1]}) for s in range(len(pattern.layout) - 1)]


class LiveMap:
    """The word × time heatmap filling in as ``on_live`` rows arrive (for a view to redraw from).

    Args:
        n_words: words of the prompt.
        frames_of_step: :func:`step_frames` for the take being generated.
        n_frames: frames of the take.
    """

    def __init__(self, n_words: int, frames_of_step: tp.Sequence[tp.Sequence[int]], n_frames: int) -> None:
        self.frames_of_step = [list(f) for f in frames_of_step]
        self._sums = np.zeros((n_frames, n_words))
        self._counts = np.zeros(n_frames)
        self.steps_seen = 0

    def add(self, step: int, word_scores: np.ndarray) -> None:
        """Fold one ``on_live`` row in (``on_live`` can be ``live_map.add``)."""
        if 0 <= step < len(self.frames_of_step):
            for f in self.frames_of_step[step]:
                if f >= len(self._counts):
                    continue
                self._sums[f] += word_scores
                self._counts[f] += 1
        self.steps_seen = max(self.steps_seen, step + 1)

    def per_frame(self) -> np.ndarray:
        """[frames, words]: mean of the rows seen for each frame; NaN where no step has arrived yet."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self._sums / self._counts[:, None]
        out[self._counts == 0] = np.nan
        return out
