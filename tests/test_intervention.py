"""The cross-attention intervention: exact when neutral, removes text when zero, leaves no trace."""
from __future__ import annotations

import pytest
import torch

from agx_desktop.engine import teacher
from agx_desktop.engine.intervention import (HiddenCapture, cross_attention_mask, cross_attention_modules,
                                             masked_cross_attention)
from agx_desktop.engine.models import LoadedModel
from agx_desktop.engine.take import GenerationParams
from agx_desktop.engine.standin import build_tiny_model


def _model(custom: bool, bias: bool, memory_efficient: bool = False) -> LoadedModel:
    gen = build_tiny_model(name="t", seed=3, dim=32, num_layers=2, card=32, custom=custom, bias_attn=bias,
                           memory_efficient=memory_efficient)
    if bias:  # audiocraft zero-initialises biases; make them matter
        for mod in cross_attention_modules(gen.lm):
            params = (mod.in_proj_bias, mod.out_proj.bias) if mod.custom else (mod.mha.in_proj_bias,
                                                                                 mod.mha.out_proj.bias)
            for p in params:
                torch.nn.init.normal_(p, std=0.5)
    return LoadedModel("t", gen, torch.device("cpu"))


def _logits_and_latents(model: LoadedModel, inputs, mask=None):
    lm = model.lm
    ctx = cross_attention_mask(lm, mask) if mask is not None else torch.no_grad()
    with torch.no_grad(), ctx, HiddenCapture(lm) as cap:
        logits = lm(inputs.sequence, [], condition_tensors=inputs.condition)
    return logits, cap.outputs[-1]


@pytest.fixture(params=[(False, False), (True, False), (True, True), (True, False, True)],
                ids=["mha", "custom", "custom-bias", "memory-efficient (audiogen-medium's setting)"])
def model_and_inputs(request):
    from agx_desktop.engine.generation import generate
    model = _model(*request.param)
    take = generate(model, "rain falls on a tin roof", GenerationParams(duration=0.4, seed=1, top_k=16))
    return model, teacher.prepare(model, take)


def test_all_ones_mask_changes_nothing(model_and_inputs):
    model, inputs = model_and_inputs
    logits, lat = _logits_and_latents(model, inputs)
    L = inputs.text_embeddings.shape[0]
    for mask in (torch.ones(L), torch.ones(inputs.n_steps, L), torch.ones(1, inputs.n_steps, L)):
        logits_m, lat_m = _logits_and_latents(model, inputs, mask)
        torch.testing.assert_close(lat_m, lat, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(logits_m, logits, atol=1e-5, rtol=1e-5)


def test_all_zeros_mask_removes_the_text(model_and_inputs):
    """Zero mask == cross-attention output replaced by out_proj(0): the text contributes nothing."""
    model, inputs = model_and_inputs
    L = inputs.text_embeddings.shape[0]
    _, lat_zero = _logits_and_latents(model, inputs, torch.zeros(L))

    def no_text(mod, args, kwargs, output):
        x, w = output
        out_proj = mod.out_proj if mod.custom else mod.mha.out_proj
        return out_proj(torch.zeros_like(x)), w

    handles = [m.register_forward_hook(no_text, with_kwargs=True) for m in cross_attention_modules(model.lm)]
    try:
        _, lat_ref = _logits_and_latents(model, inputs)
    finally:
        for h in handles:
            h.remove()
    torch.testing.assert_close(lat_zero, lat_ref, atol=1e-5, rtol=1e-5)
    # and it is a real change: the text mattered before
    _, lat = _logits_and_latents(model, inputs)
    assert (lat - lat_zero).abs().max() > 1e-3


def test_model_is_restored_after_exit(model_and_inputs):
    model, inputs = model_and_inputs
    lm = model.lm
    before_logits, before_lat = _logits_and_latents(model, inputs)
    with pytest.raises(RuntimeError, match="boom"):
        with cross_attention_mask(lm, torch.rand(inputs.text_embeddings.shape[0])):
            raise RuntimeError("boom")
    for mod in cross_attention_modules(lm):
        assert "forward" not in mod.__dict__
    assert not lm._forward_pre_hooks and not lm.out_norm._forward_hooks
    after_logits, after_lat = _logits_and_latents(model, inputs)
    assert torch.equal(before_logits, after_logits) and torch.equal(before_lat, after_lat)


def test_per_token_mask_equals_scaled_values_without_bias():
    """With no in-projection bias, a per-token mask is the same as scaling each value vector."""
    model = _model(custom=True, bias=False)
    mod = cross_attention_modules(model.lm)[0]
    torch.manual_seed(0)
    q, kv = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    m = torch.rand(7)
    with torch.no_grad():
        ours = masked_cross_attention(mod, q, kv, kv, m.view(1, 1, -1))
        ref = mod(q, kv, kv * m.view(1, -1, 1))[0]
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_per_step_rows_follow_streaming_offsets(tiny_model):
    """During streaming generation, step s uses row s of a [steps, L] mask."""
    from agx_desktop.engine.generation import generate
    params = GenerationParams(duration=0.3, seed=4, top_k=16)
    base = generate(tiny_model, "a bell rings", params)
    steps, L = base.latents.shape[0], len(base.text.tokens)
    mask = torch.ones(steps, L)
    mask[5:, :] = 0.0  # text removed from step 5 on
    masked = generate(tiny_model, "a bell rings", params, step_mask=mask.numpy())
    # steps before 5 see the same inputs and the same mask rows: same latents
    torch.testing.assert_close(masked.latents[:5], base.latents[:5], atol=1e-5, rtol=1e-5)
    assert (masked.latents[5] - base.latents[5]).abs().max() > 1e-4


def test_mask_shape_errors(tiny_model, tiny_take):
    inputs = teacher.prepare(tiny_model, tiny_take)
    with pytest.raises(ValueError, match="text tokens"):
        with cross_attention_mask(tiny_model.lm, torch.ones(99)):
            tiny_model.lm(inputs.sequence, [], condition_tensors=inputs.condition)
    with pytest.raises(ValueError, match="mask must be"):
        with cross_attention_mask(tiny_model.lm, torch.ones(1, 1, 1, 1)):
            pass


def test_bf16_weights_run_close_to_float32_and_are_restored(model_and_inputs):
    """The quick explainer's bf16 path: GEMM weights cast once, attention weights kept float32."""
    model, inputs = model_and_inputs
    lm = model.lm
    before = {n: (p, p.detach().clone()) for n, p in lm.named_parameters()}
    mask = torch.rand(2, inputs.n_steps, inputs.text_embeddings.shape[0], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = teacher.latents(model, inputs, mask, batch=2)
    seen: list[torch.dtype] = []
    mods = cross_attention_modules(lm)
    with torch.no_grad(), teacher.Bf16Weights(lm), torch.autocast("cpu", dtype=torch.bfloat16):
        assert all(p.dtype == torch.bfloat16 for n, p in lm.transformer.named_parameters()
                   if n.endswith("in_proj_weight") or (n.endswith("weight") and "linear" in n))
        assert all(p.dtype == torch.float32 for n, p in lm.named_parameters() if "norm" in n or "emb" in n)
        q = torch.randn(1, 3, lm.dim)
        kv = inputs.text_embeddings.unsqueeze(0)
        masked_cross_attention(mods[0], q, kv, kv, on_weights=lambda w: (seen.append(w.dtype), w)[1])
        out = teacher.latents(model, inputs, mask, batch=2).float()
    assert seen == [torch.float32]
    cos = torch.nn.functional.cosine_similarity(out, ref, dim=-1)
    assert cos.min() > 0.99, float(cos.min())
    for n, p in lm.named_parameters():  # the same float32 Parameter objects, values untouched
        assert p is before[n][0] and p.dtype == torch.float32 and torch.equal(p, before[n][1]), n


def test_bf16_weights_never_leave_a_half_swapped_model(tiny_model, monkeypatch):
    """A failure while casting (out of memory, Ctrl-C) restores what was already swapped."""
    lm = tiny_model.lm
    before = {n: p for n, p in lm.named_parameters()}
    real, calls = torch.Tensor.to, {"n": 0}

    def failing_to(self, *a, **k):
        if a and a[0] is torch.bfloat16:
            calls["n"] += 1
            if calls["n"] == 3:
                raise MemoryError("simulated")
        return real(self, *a, **k)

    monkeypatch.setattr(torch.Tensor, "to", failing_to)
    with pytest.raises(MemoryError):
        with teacher.Bf16Weights(lm):
            pass
    monkeypatch.undo()
    assert calls["n"] == 3
    assert all(p is before[n] and p.dtype == torch.float32 for n, p in lm.named_parameters())
    ctx = teacher.Bf16Weights(lm)
    with ctx:
        with pytest.raises(RuntimeError, match="re-entrant"):
            ctx.__enter__()
    assert all(p is before[n] for n, p in lm.named_parameters())


def test_float64_attention_keeps_its_precision():
    gen = build_tiny_model(name="t", seed=3, dim=32, num_layers=1, card=32, custom=True)
    mod = cross_attention_modules(gen.lm.double())[0]
    seen: list[torch.dtype] = []
    q, kv = torch.randn(1, 3, 32, dtype=torch.float64), torch.randn(1, 4, 32, dtype=torch.float64)
    out = masked_cross_attention(mod, q, kv, kv, on_weights=lambda w: (seen.append(w.dtype), w)[1])
    assert seen == [torch.float64] and out.dtype == torch.float64
