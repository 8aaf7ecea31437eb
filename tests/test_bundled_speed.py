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


def test_flat_explainers_gradient_buffer_equals_plain_autograd():
    ref = nets.StepExplainers(6, 16, 8, torch.Generator().manual_seed(0))
    U = torch.randn(5, 16)
    grads = []
    for reuse in (True, False):
        net = nets.FlatStepExplainers(ref, reuse_grad=reuse)
        for epoch in range(2):  # the buffer is reused on the second backward
            net.zero_grad(set_to_none=True)
            p = net(U)
            (p * torch.linspace(-1, 1, p.numel()).view_as(p)).sum().backward()
        grads.append({k: v.grad.clone() for k, v in net.named_parameters()})
        assert torch.equal(net(U), nets.FlatStepExplainers(ref, reuse_grad=not reuse)(U))
    for name in grads[0]:
        assert torch.equal(grads[0][name], grads[1][name]), name


class _OldTrace(audiogenx._Trace):
    """The trace before the stop rule's p was kept: compute() ran the explainers once more."""

    @property
    def final_p(self):
        return None

    @final_p.setter
    def final_p(self, value):
        pass


class _PlainFlat(nets.FlatStepExplainers):
    def __init__(self, ref, reuse_grad=True):
        super().__init__(ref, reuse_grad=False)


def test_quick_explanation_is_bit_identical_to_the_old_path(tiny_model, tiny_take, monkeypatch):
    new = explain(tiny_model, tiny_take)
    fast_new = explain(tiny_model, tiny_take, mode="fast", epochs=3)
    assert new.params["mode"] == "quick" and new.extras["epochs_run"] < new.params["epochs"]
    monkeypatch.setattr(audiogenx, "_Trace", _OldTrace)
    monkeypatch.setattr(nets, "FlatStepExplainers", _PlainFlat)
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
