"""Issue 20 item 3a: the bundled model's speed-ups that must not change a single sample or mask value.

Each test runs the new path and the path it replaced, code for code, and asserts bit-identical output
(the speed itself is measured in benchmarks/, not here).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agx_desktop.engine import generation
from agx_desktop.engine.bundled import codec as C
from agx_desktop.engine.explain import audiogenx, explain
from agx_desktop.engine.explain import _audiogenx_nets as nets
from agx_desktop.engine.intervention import HiddenCapture
from agx_desktop.engine.model_inputs import conditions_for
from agx_desktop.engine.take import GenerationParams

PROMPT = "a dog barks then a bell rings"


def _old_sample(model, prompt, params, frames):
    """sample() as it was before inference_mode: no_grad around the same calls."""
    with torch.random.fork_rng(), model.threads(), torch.no_grad(), HiddenCapture(model.lm) as hidden:
        torch.manual_seed(int(params.seed))
        codes = generation._lm_generate(model, None, conditions_for(prompt), frames, params, lambda d, t: None)
        audio = generation.decode(model, codes[0])
    latents = torch.cat([h[:1] for h in hidden.outputs], dim=1)[0].float().cpu()
    return codes[0].cpu(), latents, audio


def test_sampling_under_inference_mode_equals_the_no_grad_path(tiny_model):
    params = GenerationParams(duration=1.0, seed=11, top_k=32)
    frames = generation.validate_duration(tiny_model, params.duration)
    codes, latents, audio = generation.sample(tiny_model, PROMPT, params, frames)
    old_codes, old_latents, old_audio = _old_sample(tiny_model, PROMPT, params, frames)
    assert torch.equal(codes, old_codes)
    assert torch.equal(latents, old_latents)
    assert np.array_equal(audio, old_audio)
    # what leaves inference_mode is an ordinary tensor: it can be edited in place and enter autograd
    assert not codes.is_inference() and not latents.is_inference()
    codes[0, 0] = codes[0, 0]
    assert (latents.requires_grad_(True) * 2).sum().requires_grad


def test_batched_rows_are_ordinary_tensors(tiny_model):
    params = GenerationParams(duration=0.4, seed=3, top_k=32)
    frames = generation.validate_duration(tiny_model, params.duration)
    rows = generation.sample_rows(tiny_model, PROMPT, [3, 4], params, frames)
    for codes, latents in rows:
        assert not codes.is_inference() and not latents.is_inference()
    one, _, _ = generation.sample(tiny_model, PROMPT, params, frames)
    assert torch.equal(rows[0][0], one)  # row 0 has seed 3's noise, as sample() with seed 3


def _old_griffin_lim(mag, n_iter=32, momentum=0.99, seed=0, length=None):
    """The decoder's Griffin-Lim as it was (random start), for the code-for-code comparison."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    phase = torch.rand(mag.shape, generator=g).to(mag.device) * 2 * math.pi
    angles = torch.polar(torch.ones_like(mag), phase)
    win = torch.hann_window(C.N_FFT)
    tprev = torch.zeros_like(angles)
    for _ in range(n_iter):
        inverse = torch.istft(mag * angles, C.N_FFT, C.STFT_HOP, window=win, length=length)
        rebuilt = torch.stft(inverse, C.N_FFT, C.STFT_HOP, window=win, center=True, return_complex=True)
        angles = rebuilt - (momentum / (1 + momentum)) * tprev
        tprev = rebuilt
        angles = angles / (angles.abs() + 1e-16)
    return torch.istft(mag * angles, C.N_FFT, C.STFT_HOP, window=win, length=length)


def test_griffin_lim_random_start_is_the_old_decoder():
    mag = torch.rand(1, C.N_FFT // 2 + 1, 41, generator=torch.Generator().manual_seed(5)) * 3
    for iters in (0, 3, 8):
        new = C.griffin_lim(mag, n_iter=iters, length=40 * C.STFT_HOP)
        assert torch.equal(new, _old_griffin_lim(mag, n_iter=iters, length=40 * C.STFT_HOP))


def test_phase_advance_start_is_deterministic_and_steady_per_bin():
    phase = C.initial_phase((1, C.N_FFT // 2 + 1, 30), "advance")
    assert torch.equal(phase, C.initial_phase((1, C.N_FFT // 2 + 1, 30), "advance"))
    step = torch.remainder(phase[0, :, 1:] - phase[0, :, :-1], 2 * math.pi)
    expected = torch.remainder(2 * math.pi * torch.arange(C.N_FFT // 2 + 1) * C.STFT_HOP / C.N_FFT, 2 * math.pi)
    for s in (1, 10, 28):  # the same advance at every hop (angles compared on the circle)
        assert torch.allclose(torch.cos(step[:, s]), torch.cos(expected).float(), atol=1e-4)
        assert torch.allclose(torch.sin(step[:, s]), torch.sin(expected).float(), atol=1e-4)


class _PlainFlat(torch.nn.Module):
    """The fast/quick explainers as they were before FusedStepExplainers: the first layers as one
    [d, steps·hidden] matrix, everything through plain autograd (with torch's fused Adam beside)."""

    def __init__(self, ref):
        super().__init__()
        steps, dim, hidden = ref.w1.shape
        self.steps, self.hidden = steps, hidden
        self.w1 = torch.nn.Parameter(ref.w1.detach().permute(1, 0, 2).reshape(dim, steps * hidden).contiguous())
        for name in ("b1", "prelu", "w2", "b2"):
            setattr(self, name, torch.nn.Parameter(getattr(ref, name).detach().clone()))

    def forward(self, tokens):
        h = (tokens @ self.w1).view(tokens.shape[0], self.steps, self.hidden).transpose(0, 1) + self.b1
        h = torch.where(h >= 0, h, self.prelu * h)
        return torch.sigmoid(torch.bmm(h, self.w2) + self.b2).squeeze(-1)


def _plain_pair(ref, lr=5e-3, weight_decay=1e-3):
    plain = _PlainFlat(ref)
    return plain, torch.optim.Adam(plain.parameters(), lr=lr, weight_decay=weight_decay, fused=True)


@pytest.mark.parametrize("steps,length,dim,hidden,chunk", [(6, 5, 16, 8, 4), (7, 3, 16, 32, 1), (7, 12, 16, 32, 4),
                                                           (128, 9, 192, 512, None), (130, 23, 192, 512, 4),
                                                           (128, 2, 192, 512, None)])
def test_fused_explainers_train_like_autograd_and_adam(steps, length, dim, hidden, chunk):
    """Eight epochs with a decaying learning rate: the same p every epoch and the same weights after,
    chunked or not (7 steps in chunks of 4 leave a short last chunk; 130 the bundled shape's 2 extra).
    Bit for bit wherever the BLAS rounds the first layer's product alike in both layouts (checked
    here on the same shapes: true for 4+ tokens with MKL); to float rounding where it does not."""
    g = torch.Generator().manual_seed(steps + length)
    ref = nets.StepExplainers(steps, dim, hidden, g)
    U = torch.randn(length, dim, generator=g)
    w = torch.randn(dim, steps * hidden, generator=g)
    exact = torch.equal(U @ w, torch.nn.functional.linear(U, w.t().contiguous()))
    if length >= 4:
        assert exact  # the case the bundled model's prompts are in
    # inexact: p (what the loss and the user see) to 1e-4; the weights are not compared, since Adam's m/√v
    # turns a rounding-sized gradient difference into a step of up to lr on a weight whose gradient is ~0
    same = torch.equal if exact else (lambda a, b: torch.allclose(a, b, rtol=0, atol=1e-4))
    plain, plain_opt = _plain_pair(ref)
    fused = nets.FusedStepExplainers(ref, U, chunk_steps=chunk)
    fused_opt = fused.optimizer(lr=5e-3, weight_decay=1e-3)
    for epoch in range(8):
        weights = torch.randn(steps, length, generator=g)
        for net, opt in ((plain, plain_opt), (fused, fused_opt)):
            p = net(U)
            opt.zero_grad(set_to_none=True)
            (p * weights).sum().backward()
            opt.step()
            opt.param_groups[0]["lr"] *= 0.95
            if net is plain:
                want = p
        assert same(p, want), epoch
    assert same(fused(U), plain(U))
    if exact:
        w1 = plain.w1.detach().view(dim, steps, hidden).permute(1, 2, 0).reshape(steps * hidden, dim)
        assert torch.equal(fused.w1, w1)
        for name in ("b1", "prelu", "w2", "b2"):
            assert torch.equal(getattr(fused, name), getattr(plain, name)), name


def test_fused_explainers_keep_float64_and_follow_the_param_group():
    """A float64 net stays float64 (and matches the plain path to float64 rounding); Adam's settings are read
    from param_groups at every step for w1 too, as for the other weights."""
    g = torch.Generator().manual_seed(5)
    ref = nets.StepExplainers(5, 16, 8, g).double()
    U = torch.randn(6, 16, generator=g, dtype=torch.float64)
    plain, plain_opt = _plain_pair(ref)
    fused = nets.FusedStepExplainers(ref, U, chunk_steps=2)
    fused_opt = fused.optimizer(lr=5e-3, weight_decay=1e-3)
    assert fused.w1.dtype == fused.first.dtype == torch.float64
    for opt in (plain_opt, fused_opt):
        opt.param_groups[0].update(weight_decay=0.5, betas=(0.5, 0.9), eps=1e-3)
    for epoch in range(4):
        weights = torch.randn(5, 6, generator=g, dtype=torch.float64)
        for net, opt in ((plain, plain_opt), (fused, fused_opt)):
            p = net(U)
            opt.zero_grad(set_to_none=True)
            (p * weights).sum().backward()
            opt.step()
    torch.testing.assert_close(fused(U), plain(U), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="float64"):
        nets.FusedStepExplainers(ref, U.float())


def test_fused_explainers_refuse_other_tokens_and_a_step_without_backward():
    ref = nets.StepExplainers(3, 8, 4, torch.Generator().manual_seed(0))
    U = torch.randn(4, 8)
    fused = nets.FusedStepExplainers(ref, U)
    with pytest.raises(ValueError, match="other tokens"):
        fused(torch.randn(4, 8))
    with pytest.raises(RuntimeError, match="backward"):
        fused.optimizer(lr=1e-3, weight_decay=0.0).step()
    with pytest.raises(ValueError, match=r"\[L, 8\]"):
        nets.FusedStepExplainers(ref, torch.randn(4, 5))


class _OldTrace(audiogenx._Trace):
    """The trace before the stop rule's p was kept: compute() ran the explainers once more."""

    @property
    def final_p(self):
        return None

    @final_p.setter
    def final_p(self, value):
        pass


def _old_explainer_net(run, generator):
    """audiogenx._explainer_net for fast/quick before FusedStepExplainers: plain autograd, torch's fused Adam."""
    ref = nets.StepExplainers(run.inputs.n_steps, run.inputs.text_embeddings.shape[1], run.settings.hidden, generator)
    return _plain_pair(ref, lr=run.settings.lr, weight_decay=run.settings.weight_decay)


def test_quick_explanation_is_bit_identical_to_the_old_path(tiny_model, tiny_take, monkeypatch):
    new = explain(tiny_model, tiny_take)
    fast_new = explain(tiny_model, tiny_take, mode="fast", epochs=3)
    assert new.params["mode"] == "quick" and new.extras["epochs_run"] < new.params["epochs"]
    monkeypatch.setattr(audiogenx, "_Trace", _OldTrace)
    monkeypatch.setattr(audiogenx, "_explainer_net", _old_explainer_net)
    old = explain(tiny_model, tiny_take)
    assert np.array_equal(new.step_masks, old.step_masks)
    assert new.extras["loss_history"] == old.extras["loss_history"]
    assert new.extras["epochs_run"] == old.extras["epochs_run"]
    assert new.extras["p_importance"] == old.extras["p_importance"]
    fast_old = explain(tiny_model, tiny_take, mode="fast", epochs=3)
    assert np.array_equal(fast_new.step_masks, fast_old.step_masks)


@pytest.mark.parametrize("steps,length", [(1, 300), (2, None), (2, 160), (7, None), (41, 40 * C.STFT_HOP), (126, 125 * C.STFT_HOP),
                                          (501, 80000), (33, 17 * C.STFT_HOP + 3)])
def test_istft_is_torchs_bit_for_bit(steps, length):
    """The decoder's own istft (precomputed envelope, block overlap-add) gives torch.istft's samples
    exactly, batched or not, for lengths inside the frames; past them it is torch's own (zero padding)."""
    g = torch.Generator().manual_seed(steps)
    spec = torch.polar(torch.rand(2, C.N_FFT // 2 + 1, steps, generator=g),
                       torch.rand(2, C.N_FFT // 2 + 1, steps, generator=g) * 2 * math.pi)
    win = torch.hann_window(C.N_FFT)
    want = torch.istft(spec, C.N_FFT, C.STFT_HOP, window=win, length=length)
    got = C.istft(spec, length)
    assert got.shape == want.shape
    assert torch.equal(got, want)
    past = (steps - 1) * C.STFT_HOP + C.N_FFT  # reaches past the last frame: torch pads with zeros
    assert torch.equal(C.istft(spec, past), torch.istft(spec, C.N_FFT, C.STFT_HOP, window=win, length=past))
