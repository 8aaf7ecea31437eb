"""Live map during generation: one word-score row per step, delivered while sampling, take unchanged."""
from __future__ import annotations

import numpy as np
import torch

from agx_desktop.engine.errors import Cancelled
from agx_desktop.engine.generation import generate
from agx_desktop.engine.live import LiveAttention, word_shares
from agx_desktop.engine.progress import CancelToken
from agx_desktop.engine.take import GenerationParams

PROMPT = "a dog barks then a bell rings"
P = GenerationParams(duration=0.5, seed=3, top_k=32)


def test_live_map_once_per_step_normalised_and_take_unchanged(tiny_model):
    plain = generate(tiny_model, PROMPT, P)
    received: list[tuple[int, np.ndarray]] = []
    live = generate(tiny_model, PROMPT, P, on_live=lambda step, words: received.append((step, words)))
    # the take is the one generated without the live map, sample for sample
    assert np.array_equal(plain.audio, live.audio) and torch.equal(plain.codes, live.codes)
    assert torch.equal(plain.latents, live.latents)
    steps = plain.latents.shape[0]
    assert [s for s, _ in received] == list(range(steps))  # once per step, in order
    for _, words in received:
        assert words.shape == (len(plain.words),) and words.dtype == np.float32
        assert words.min() >= 0.0 and np.isclose(words.max(), 1.0)  # documented: top word is 1


def test_live_map_arrives_before_generation_ends(tiny_model):
    events: list[str] = []
    generate(tiny_model, PROMPT, P, on_live=lambda step, words: events.append("live"),
             progress=lambda stage, done, total: events.append(stage))
    first_decode = events.index("decode")
    assert events.count("live") > 1 and events.index("live") < first_decode
    assert events[:first_decode].count("live") == events.count("live")  # all rows before the decode


def test_live_token_rows_are_attention_distributions(tiny_model):
    text = tiny_model.text_tokens(PROMPT)
    with LiveAttention(tiny_model.lm, text) as rec:
        generate(tiny_model, PROMPT, P)
    tokens = rec.token_scores()
    assert tokens.shape == (25 + 3, len(text.tokens))
    np.testing.assert_allclose(tokens.sum(-1), 1.0, atol=1e-5)  # mean of softmax rows over heads/layers
    np.testing.assert_allclose(rec.word_scores(), word_shares(text, tokens))
    # hooks are gone on exit: the modules have no forward hooks left
    assert all(not m._forward_hooks for m in rec.modules)


def test_cancel_during_live_generation(tiny_model):
    token = CancelToken()

    def on_live(step: int, words: np.ndarray) -> None:
        if step == 3:
            token.cancel()

    try:
        generate(tiny_model, PROMPT, P, on_live=on_live, cancel=token)
    except Cancelled:
        pass
    else:
        raise AssertionError("cancel was not honoured")
    assert all(not m._forward_hooks for m in LiveAttention(tiny_model.lm, tiny_model.text_tokens(PROMPT)).modules)


def test_live_map_fills_left_to_right_and_matches_explanation_steps(tiny_model):
    from agx_desktop.engine import teacher
    from agx_desktop.engine.live import LiveMap, step_frames

    frames = 25
    take = generate(tiny_model, PROMPT, P)
    assert step_frames(tiny_model.lm, frames) == teacher.prepare(tiny_model, take).step_frames
    heat = LiveMap(len(take.words), step_frames(tiny_model.lm, frames), frames)
    snapshots: list[np.ndarray] = []

    def on_live(step: int, words: np.ndarray) -> None:
        heat.add(step, words)
        if step == 10:
            snapshots.append(heat.per_frame())

    generate(tiny_model, PROMPT, P, on_live=on_live)
    early = snapshots[0]
    filled = ~np.isnan(early).any(axis=1)
    assert filled[:8].all() and not filled[12:].any()  # left to right: steps 0..10 reach frames 0..10
    final = heat.per_frame()
    assert not np.isnan(final).any() and final.shape == (frames, len(take.words))


def test_live_rows_equal_the_models_own_cross_attention(tiny_model):
    """The folded query·key product gives the weights the LM computed: a teacher-forced pass over the
    take, recording every layer's post-softmax cross-attention, has the same mean per step."""
    from agx_desktop.engine import teacher
    from agx_desktop.engine.explain._common import AttentionRecorder

    text = tiny_model.text_tokens(PROMPT)
    with LiveAttention(tiny_model.lm, text) as rec:
        take = generate(tiny_model, PROMPT, P)
    inputs = teacher.prepare(tiny_model, take)
    with torch.no_grad(), AttentionRecorder(tiny_model.lm, self_attention=False) as att:
        teacher.forward(tiny_model, inputs)
    # [layers, B, H, S, L] -> conditional row, mean over layers and heads -> [S, L]
    maps = torch.stack([m[0] for m in att.cross_maps]).mean(dim=(0, 1)).double().numpy()
    np.testing.assert_allclose(rec.token_scores(), maps[:rec.n_steps], atol=1e-5)


def test_live_rows_delivered_in_batches_but_every_step_in_order(tiny_model):
    """With a long interval the rows are held back and delivered together at the last step, still
    one call per step in order, all before the decode."""
    text = tiny_model.text_tokens(PROMPT)
    calls: list[int] = []
    rec = LiveAttention(tiny_model.lm, text, lambda step, words: calls.append(step), interval_s=1e9)
    with rec:
        generate(tiny_model, PROMPT, P)  # its own (unthrottled-by-us) recorder is separate
        assert calls == []  # nothing flushed yet: this recorder's flush was never called
        rec.flush()
        assert calls == list(range(rec.n_steps))  # the first flush always delivers (no delivery before)
        rec.flush(final=True)
    assert calls == list(range(rec.n_steps))  # nothing twice
