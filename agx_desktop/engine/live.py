"""Live attribution while the LM samples: a provisional word × time map from cross-attention.

The LM computes cross-attention to the text tokens at every step anyway; :class:`LiveAttention`
reads it back without touching the computation. A forward hook on every cross-attention *instance*
recomputes the post-softmax weights of the conditional batch row (the text keys are folded into
the query projection once per generation, so a step costs each layer one small product and a
softmax), averages them over heads and layers and hands the finished steps to ``on_live``. The LM's output
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

import time
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

    Cheap by construction (the live map's overhead on generation is measured in
    ``benchmarks/results/speed.md``): once per generation and layer, the text keys of batch row 0 are
    folded into the query projection, ``A = [W_q,h^T k_h^T]_h`` (``[D, H·L]``, scaled) and
    ``c = [b_q,h k_h^T]_h``, so a step costs each layer one ``[T, D] @ [D, H·L]`` product and a softmax
    (not a ``[D, D]`` query projection and a per-head product), summed over layers in place; rows stay
    torch tensors in one buffer, and :meth:`flush` turns every pending row into word scores at once
    (one product with the token → word matrix), at most every ``interval_s`` seconds and at the
    last step. Same scores as projecting the query first, up to float rounding (tests/test_live.py).
    Models with query/key layer norms (not linear in the query) take the projection path.

    Args:
        lm: the LM being sampled (only its cross-attention instances get a hook; removed on exit).
        text: the prompt's tokens ↔ words, for :func:`word_shares`.
        on_live: called as ``on_live(step_index, word_scores)`` for every step, in order, from
            :meth:`flush` (generation calls it after each sampling step, on the generating thread).
        interval_s: least time between two deliveries (rows in between are delivered together);
            0 delivers at every flush.
    """

    def __init__(self, lm: "LMModel", text: TextTokens, on_live: LiveFn | None = None,
                 interval_s: float = 0.05) -> None:
        self.lm, self.text, self.on_live, self.interval_s = lm, text, on_live, float(interval_s)
        self.modules = cross_attention_modules(lm)
        self._buf = torch.zeros(0)  # [capacity, L] float32: mean attention of each recorded step
        self._n = 0  # steps recorded
        self._delivered = 0
        self._last_delivery = -float("inf")
        self._sum: torch.Tensor | None = None  # [T, H, L] summed over the layers seen this forward
        self._seen = 0
        self._keys: dict[int, tuple[tuple, tuple[torch.Tensor, ...]]] = {}
        self._proj: list[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        to_words = np.zeros((len(text.tokens), len(text.words)))
        for i, w in enumerate(text.token_word):
            if w is not None:
                to_words[i, w] = 1.0
        self._to_words = to_words  # [L, words]: sums each word's tokens (specials left out)

    # ------------------------------------------------------------------ hooks
    def _keys_for(self, index: int, mod: nn.Module, key: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Text-side factors of batch row 0, cached while the condition is the same tensor: ``(A, c)``
        (query folded in, no qk norm) or ``(k,)`` projected keys [H, L, d] (qk norm)."""
        # inference tensors (generation runs under inference_mode) keep no version counter
        stamp = (key.data_ptr(), tuple(key.shape), -1 if key.is_inference() else key._version)
        cached = self._keys.get(index)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        wq, bq, wk, bk = self._proj[index]
        heads = mod.num_heads
        with torch.autocast(key.device.type, enabled=False):
            k = F.linear(key[:1].to(wk.dtype), wk, bk)
            if getattr(mod, "qk_layer_norm", False):
                k = mod.k_layer_norm(k)
                factors: tuple[torch.Tensor, ...] = (k.float().view(k.shape[1], heads, -1).transpose(0, 1),)
            else:
                k = k.float().view(k.shape[1], heads, -1)  # [L, H, d]
                scale = k.shape[-1] ** -0.5
                wq_h = wq.float().view(heads, k.shape[-1], -1)  # [H, d, D]
                a = torch.einsum("hdD,lhd->Dhl", wq_h, k) * scale  # [D, H, L]
                c = (torch.einsum("hd,lhd->hl", bq.float().view(heads, -1), k) * scale) if bq is not None \
                    else torch.zeros(heads, k.shape[0])
                factors = (a.reshape(a.shape[0], -1).contiguous(), c.reshape(-1).contiguous())
        self._keys[index] = (stamp, factors)
        return factors

    def _make_hook(self, index: int) -> tp.Callable:
        mod = self.modules[index]
        heads = mod.num_heads
        qk_norm = mod.q_layer_norm if getattr(mod, "qk_layer_norm", False) else None

        def hook(mod: nn.Module, args: tuple, output: tp.Any) -> None:
            query, key = args[0], args[1]
            factors = self._keys_for(index, mod, key)
            if qk_norm is None:
                a, c = factors
                scores = torch.addmm(c, query[0].float(), a)  # [T, H*L]
            else:  # not linear in the query: project it, then one product per head
                wq, bq, _, _ = self._proj[index]
                q = qk_norm(F.linear(query[:1].to(wq.dtype), wq, bq))
                q = q.float().view(q.shape[1], heads, -1).transpose(0, 1)  # [H, T, d]
                scores = (q @ factors[0].transpose(-1, -2) * q.shape[-1] ** -0.5).transpose(0, 1).reshape(q.shape[1], -1)
            w = torch.softmax(scores.float().view(query.shape[1], heads, -1), dim=-1)  # [T, H, L]
            if self._seen == 0:
                self._sum = w
            else:
                self._sum.add_(w)
            self._seen += 1
            if self._seen == len(self.modules):
                self._store(self._sum.mean(1) / len(self.modules))
                self._sum, self._seen = None, 0
        return hook

    def _store(self, rows: torch.Tensor) -> None:
        """Append [T, L] rows (the T positions this forward computed, in order) to the buffer."""
        need = self._n + rows.shape[0]
        if need > self._buf.shape[0]:
            grown = torch.zeros(max(need, 2 * self._buf.shape[0], 256), rows.shape[1])
            if self._n:
                grown[:self._n] = self._buf[:self._n]
            self._buf = grown
        self._buf[self._n:need] = rows.detach().to("cpu", torch.float32)
        self._n = need

    def __enter__(self) -> "LiveAttention":
        if not self.modules:
            raise ValueError("this LM has no cross-attention layers: no live map")
        self._proj = []
        for mod in self.modules:  # query/key slices of the packed in-projection, taken once
            weight, bias, _ = _projections(mod)
            dim = weight.shape[0] // 3
            self._proj.append((weight[:dim], None if bias is None else bias[:dim],
                               weight[dim:2 * dim], None if bias is None else bias[dim:2 * dim]))
        for i, mod in enumerate(self.modules):
            self._handles.append(mod.register_forward_hook(self._make_hook(i)))
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._keys.clear()
        if exc[0] is None:
            self.flush(final=True)  # whatever the last flush held back

    # ------------------------------------------------------------------ results
    def flush(self, final: bool = False) -> None:
        """Deliver the recorded steps not yet handed to ``on_live`` (in step order): when ``final``, or
        when ``interval_s`` has passed since the last delivery."""
        if self._delivered >= self._n:
            return
        now = time.perf_counter()
        if not final and now - self._last_delivery < self.interval_s:
            return
        start, self._delivered, self._last_delivery = self._delivered, self._n, now
        if self.on_live is None:
            return
        words = self._word_shares(self._buf[start:self._n].numpy())
        for i, row in enumerate(words):
            self.on_live(start + i, row)

    def _word_shares(self, token_scores: np.ndarray) -> np.ndarray:
        """:func:`word_shares` through the precomputed token → word matrix."""
        shares = np.asarray(token_scores, dtype=np.float64) @ self._to_words
        top = shares.max(axis=-1, keepdims=True) if shares.shape[-1] else np.zeros(shares.shape[:-1] + (1,))
        return (shares / np.where(top > 0, top, 1.0)).astype(np.float32)

    @property
    def n_steps(self) -> int:
        return self._n

    def token_scores(self) -> np.ndarray:
        """[steps, L] mean attention per recorded step (rows sum to 1)."""
        return self._buf[:self._n].numpy().astype(np.float64) if self._n else np.zeros((0, len(self.text.tokens)))

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
