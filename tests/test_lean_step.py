"""The lean transformer step (engine/lean_step.py) gives audiocraft's numbers bit for bit, is the one a
plain generation of the bundled model uses, and steps aside whenever something hooks the transformer."""
from __future__ import annotations

import contextlib
import copy

import numpy as np
import pytest
import torch

from agx_desktop.engine import generation, lean_step
from agx_desktop.engine.models import load_model
from agx_desktop.engine.take import GenerationParams


@pytest.fixture(scope="module")
def bundled():
    return load_model("bundled")


@contextlib.contextmanager
def _no_lean():
    yield False


@pytest.fixture
def without_lean(monkeypatch):
    """Run a block with audiocraft's own transformer forward (the lean step never installed)."""
    @contextlib.contextmanager
    def block():
        with monkeypatch.context() as m:
            m.setattr(generation, "lean_transformer", lambda lm, *args: _no_lean())
            yield
    return block


@pytest.fixture
def attention_calls(monkeypatch):
    """Counts calls of audiocraft's StreamingMultiheadAttention.forward (the path the lean step replaces)."""
    from audiocraft.modules.transformer import StreamingMultiheadAttention

    calls = {"n": 0}
    original = StreamingMultiheadAttention.forward

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        return original(self, *args, **kwargs)
    monkeypatch.setattr(StreamingMultiheadAttention, "forward", counted)
    return calls


def _same_take(a, b) -> None:
    assert torch.equal(a.codes, b.codes)
    assert torch.equal(a.latents, b.latents)
    assert np.array_equal(a.audio, b.audio)


@pytest.mark.parametrize("prompt,seed,duration,temperature", [
    ("a dog barks then a bell rings", 1, 2.0, 0.8),
    ("rain falling on a tin roof while thunder rumbles", 7, 1.0, 1.0),
    ("footsteps", 123, 1.5, 0.0),  # greedy: argmax of the very same logits
])
def test_plain_generate_is_audiocrafts_bit_for_bit(bundled, without_lean, attention_calls, prompt, seed, duration,
                                                   temperature):
    params = bundled.default_params(duration=duration, seed=seed)
    params = GenerationParams(**{**params.__dict__, "temperature": temperature})
    lean = generation.generate(bundled, prompt, params)
    assert attention_calls["n"] == 0, "a plain generation should never reach audiocraft's attention forward"
    with without_lean():
        plain = generation.generate(bundled, prompt, params)
    assert attention_calls["n"] > 0
    _same_take(lean, plain)


def test_batched_rows_and_continuations_are_the_same(bundled, without_lean, attention_calls):
    params = bundled.default_params(duration=1.2, seed=5)
    frames = generation.validate_duration(bundled, params.duration)
    parent = generation.generate(bundled, "a bell tolls twice", params)
    prompt_codes = parent.codes[:, :12]
    lean_rows = generation.sample_rows(bundled, "a bell tolls twice", [3, 4, 9], params, frames)
    lean_cont, _, _ = generation.sample(bundled, "a bell tolls twice", params, frames, prompt_codes=prompt_codes)
    calls_lean = attention_calls["n"]
    with without_lean():
        rows = generation.sample_rows(bundled, "a bell tolls twice", [3, 4, 9], params, frames)
        cont, _, _ = generation.sample(bundled, "a bell tolls twice", params, frames, prompt_codes=prompt_codes)
    for (a_codes, a_lat), (b_codes, b_lat) in zip(lean_rows, rows):
        assert torch.equal(a_codes, b_codes) and torch.equal(a_lat, b_lat)
    assert torch.equal(lean_cont, cont)
    assert torch.equal(cont, parent.codes)  # unchanged words continue into the parent's codes
    # the continuation's first call (12 positions at once) went to audiocraft's forward, the steps after it did not
    n_layers = len(bundled.lm.transformer.layers)
    assert calls_lean == 2 * n_layers


def test_interventions_put_audiocrafts_forward_back(bundled, without_lean, attention_calls):
    """An intervention (word weights) replaces the cross-attentions' forward: the lean step steps aside and
    the take is the one audiocraft's forward gives under it."""
    params = bundled.default_params(duration=1.0, seed=11)
    generation.generate(bundled, "a siren wails", params)
    assert attention_calls["n"] == 0
    weighted = generation.generate(bundled, "a siren wails", params, word_weights=[1.0, 0.0, 2.0])
    assert attention_calls["n"] > 0
    with without_lean():
        _same_take(weighted, generation.generate(bundled, "a siren wails", params, word_weights=[1.0, 0.0, 2.0]))


def test_the_live_map_reads_the_lean_step(bundled, without_lean, attention_calls):
    """The live map's forward hooks on the cross-attentions are called by the lean step with the arguments
    the module call would pass: the same live rows and the same take as on audiocraft's forward."""
    params = bundled.default_params(duration=1.0, seed=11)

    def live_take():
        rows = []
        take = generation.generate(bundled, "a siren wails", params,
                                   on_live=lambda step, scores: rows.append((step, scores.copy())))
        return take, rows
    lean_take, lean_rows = live_take()
    assert attention_calls["n"] == 0 and lean_rows
    with without_lean():
        plain_take, plain_rows = live_take()
    assert attention_calls["n"] > 0
    _same_take(lean_take, plain_take)
    assert [s for s, _ in lean_rows] == [s for s, _ in plain_rows]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(lean_rows, plain_rows))


def test_lean_step_is_only_installed_where_it_reproduces(bundled, tiny_model):
    with lean_step.lean_transformer(tiny_model.lm) as on:  # torch's MultiheadAttention (custom=False)
        assert on is False and "forward" not in tiny_model.lm.transformer.__dict__
    lm = copy.deepcopy(bundled.lm)
    with lean_step.lean_transformer(lm) as on:
        assert on is True and "forward" in lm.transformer.__dict__
    assert "forward" not in lm.transformer.__dict__
    lm.transformer.layers[1].norm_first = False
    assert not lean_step.supports(lm.transformer)
    lm = copy.deepcopy(bundled.lm)
    for hooked in (lm.transformer.layers[0].self_attn, lm.transformer.layers[0].norm1):  # not a cross-attention
        handle = hooked.register_forward_hook(lambda *a: None)
        with lean_step.lean_transformer(lm) as on:
            assert on is False
        handle.remove()
    handle = lm.transformer.layers[0].cross_attention.register_forward_pre_hook(lambda *a: None)
    with lean_step.lean_transformer(lm) as on:
        assert on is False
    handle.remove()
    handle = lm.transformer.layers[0].cross_attention.register_forward_hook(lambda *a: None)
    with lean_step.lean_transformer(lm) as on:  # a plain forward hook on a cross-attention: called by the lean step
        assert on is True
    handle.remove()


def test_forward_is_removed_on_error(bundled):
    lm = copy.deepcopy(bundled.lm)
    with pytest.raises(RuntimeError, match="boom"):
        with lean_step.lean_transformer(lm):
            raise RuntimeError("boom")
    assert "forward" not in lm.transformer.__dict__


def test_einsum_fallback_gives_the_same_take(bundled, monkeypatch):
    """Where matmul did not reproduce einsum bit for bit, the lean step uses einsum: same take either way."""
    params = bundled.default_params(duration=1.0, seed=2)
    assert lean_step._matmul_is_einsum() in (True, False)
    with_matmul = generation.generate(bundled, "a clock ticks", params)
    monkeypatch.setattr(lean_step, "_MATMUL_IS_EINSUM", False)
    with_einsum = generation.generate(bundled, "a clock ticks", params)
    _same_take(with_matmul, with_einsum)


def test_autocast_keeps_audiocrafts_forward(bundled):
    """bf16 autocast (a speed setting) changes which ops run in bf16; the lean step does not reproduce that,
    so under autocast it is not installed (and the float cross-attention K/V cache serves wide LMs)."""
    lm = copy.deepcopy(bundled.lm)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with lean_step.lean_transformer(lm) as on:
            assert on is False and "forward" not in lm.transformer.__dict__


def test_lm_forward_is_lean_only_while_nothing_hooks_it(bundled, without_lean):
    """The LM's own forward is replaced with the lean transformer (embeddings and heads without module
    calls) and put back on exit; a pre-hook on the LM (the interventions') sends calls to audiocraft's."""
    lm = copy.deepcopy(bundled.lm)
    with lean_step.lean_transformer(lm) as on:
        assert on and "forward" in lm.__dict__
    assert "forward" not in lm.__dict__
    params = bundled.default_params(duration=1.0, seed=3)
    calls = []
    handle = bundled.lm.emb[0].register_forward_hook(lambda mod, args, out: calls.append(1))
    try:
        hooked = generation.generate(bundled, "a door creaks", params)
    finally:
        handle.remove()
    assert calls, "a hooked embedding must be called as a module"
    with without_lean():
        _same_take(hooked, generation.generate(bundled, "a door creaks", params))


def test_a_hook_added_mid_generation_hands_the_state_back(bundled, without_lean, attention_calls):
    """If something hooks the transformer after the lean step has run some steps, audiocraft's forward
    takes the remaining steps from the keys/values handed back in its own form: the same take."""
    params = bundled.default_params(duration=1.0, seed=21)
    handles = []

    def progress(stage, done, total):
        if stage == "generate" and done == 10 and not handles:
            handles.append(bundled.lm.transformer.layers[2].self_attn.register_forward_hook(lambda *a: None))
    try:
        mixed = generation.generate(bundled, "an engine idles", params, progress=progress)
    finally:
        for h in handles:
            h.remove()
    n_layers = len(bundled.lm.transformer.layers)
    steps = mixed.codes.shape[-1] + 3  # the delay pattern's extra steps
    assert 0 < attention_calls["n"] < 2 * n_layers * steps  # some steps lean, the rest audiocraft's
    with without_lean():
        _same_take(mixed, generation.generate(bundled, "an engine idles", params))


def test_key_value_buffers_grow_without_changing_the_take(bundled, without_lean, monkeypatch):
    """Buffers sized too small at first (here 4 positions) double as the steps come: the same take."""
    params = bundled.default_params(duration=2.0, seed=8)
    real = lean_step.lean_transformer
    monkeypatch.setattr(generation, "lean_transformer", lambda lm, steps=None: real(lm, 4))
    grown = generation.generate(bundled, "wind blows through trees", params)
    monkeypatch.setattr(generation, "lean_transformer", real)
    with without_lean():
        _same_take(grown, generation.generate(bundled, "wind blows through trees", params))


def test_not_installed_for_weights_off_the_cpu(bundled):
    """On another device the lean step would fall back at every call; it is not installed at all, so
    the float cross-attention K/V cache keeps serving wide LMs there (a meta-device copy stands in)."""
    lm = copy.deepcopy(bundled.lm).to("meta")
    with lean_step.lean_transformer(lm) as on:
        assert on is False and "forward" not in lm.transformer.__dict__ and "forward" not in lm.__dict__


def test_a_streaming_session_left_open_goes_on_with_audiocrafts_forward(bundled):
    """Leaving the lean step inside a streaming session hands the keys/values back: audiocraft's forward
    takes the next positions as if it had made the earlier ones."""
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(2, 1, 192, generator=g) for _ in range(4)]
    source = torch.randn(2, 5, 192, generator=g)

    def run(lean_for: int) -> list[torch.Tensor]:
        lm = copy.deepcopy(bundled.lm)
        out = []
        with torch.inference_mode(), lm.transformer.streaming():
            with lean_step.lean_transformer(lm) as on:
                assert on
                for x in xs[:lean_for]:
                    out.append(lm.transformer(x, cross_attention_src=source))
            for x in xs[lean_for:]:
                out.append(lm.transformer(x, cross_attention_src=source))
        return out
    reference, mixed = run(0), run(2)
    assert all(torch.equal(a, b) for a, b in zip(reference, mixed))
