"""AudioGenX faithfulness with planted ground truth (issue 18): each test fails when one part of the
method is wrong — the cosine terms removed or sign-flipped, factual/counterfactual rows swapped, the
KL direction reversed, or the reference-code mode running the teacher-forced code path."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from agx_desktop.engine import teacher
from agx_desktop.engine.explain import explain
from agx_desktop.engine.explain.audiogenx import AudioGenXSettings, _loss
from agx_desktop.evaluation import metrics


# --------------------------------------------------------------------------- the objective

def test_loss_is_the_papers_objective_on_planted_latents():
    """−Σcos(e, ẽ^F) + Σcos(e, ẽ^CF) + α‖p‖₁ + β‖p‖₂ on latents whose cosines are known exactly."""
    cfg = AudioGenXSettings()
    target = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    factual = target * 2.0  # cos = 1 on every step
    orthogonal = torch.stack([-target[:, 1], target[:, 0]], dim=1)  # cos = 0
    p = torch.full((3, 4), 0.5)
    reg = cfg.alpha * 6.0 + cfg.beta * math.sqrt(3.0)
    assert float(_loss(cfg, target, factual, orthogonal, p, None)) == pytest.approx(-3.0 + 0.0 + reg, abs=1e-5)
    # counterfactual = the target itself: its cosines count +1 each; factual opposite: −(−1) each
    assert float(_loss(cfg, target, -target, target, p, None)) == pytest.approx(3.0 + 3.0 + reg, abs=1e-5)
    # a mixed case tells the two cosine terms apart
    half = torch.stack([target[:, 0] + 0 * target[:, 1], target[:, 1]], 1)
    cos_half = torch.nn.functional.cosine_similarity(target, half + orthogonal, dim=-1).sum()
    expected = -3.0 + float(cos_half) + reg
    assert float(_loss(cfg, target, factual, half + orthogonal, p, None)) == pytest.approx(expected, abs=1e-5)
    # focus keeps only the listed steps in the cosine terms, all steps in the norms
    focus = torch.tensor([2])
    assert float(_loss(cfg, target, factual, orthogonal, p, focus)) == pytest.approx(-1.0 + reg, abs=1e-5)


def test_loss_gradient_opens_the_mask_that_restores_the_target():
    """Planted: the factual latent is the target scaled by m[0] plus noise weighted by m[1]; the loss's
    gradient must push m[0] up (keep what reproduces e) and m[1] down."""
    cfg = AudioGenXSettings(alpha=0.0, beta=0.0)
    target = torch.tensor([[1.0, 0.0]])
    m = torch.tensor([[0.5, 0.5]], requires_grad=True)
    noise = torch.tensor([[0.0, 1.0]])
    factual = m[:, :1] * target + m[:, 1:] * noise
    counterfactual = (1 - m[:, :1]) * target + (1 - m[:, 1:]) * noise
    _loss(cfg, target, factual, counterfactual, m, None).backward()
    assert m.grad[0, 0] < 0 < m.grad[0, 1]  # descent raises m[0], lowers m[1]


# --------------------------------------------------------------------------- the metrics

class _MeanClassifier:
    """Two classes: p = (a, 1 − a) with a the audio's mean value."""

    name = "planted"

    def probs(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        a = float(np.mean(audio))
        return np.array([a, 1.0 - a])


def _planted_faithfulness(monkeypatch, kl_direction: str = "orig_to_sample") -> dict:
    """Regeneration replaced by a planted one: a sample under mask m sounds like 0.1 + 0.8·mean(m)
    (unmasked: 0.9, the original), so a 0.75 mask gives factual 0.7 and counterfactual 0.3."""
    def planted(model, take, masks, seed, max_batch=32, cancel=None):
        return [np.full((1, 64), 0.9 if m is None else 0.1 + 0.8 * float(np.mean(m)), np.float32) for m in masks]

    monkeypatch.setattr(metrics, "sample_with_masks", planted)
    mask = np.full((6, 3), 0.75)
    ex = SimpleNamespace(step_masks=mask, mask_size=lambda: float(mask.mean()))
    take = SimpleNamespace(audio=np.full((1, 64), 0.9, np.float32))
    model = SimpleNamespace(sample_rate=16000)
    return metrics.faithfulness(model, take, {"planted": ex}, _MeanClassifier(), n_samples=2,
                                kl_direction=kl_direction)


def _kl(p: list[float], q: list[float]) -> float:
    return float(sum(a * (math.log(a + metrics.EPS) - math.log(b + metrics.EPS)) for a, b in zip(p, q)))


def test_factual_and_counterfactual_rows_are_scored_as_such(monkeypatch):
    r = _planted_faithfulness(monkeypatch)
    s = r["methods"]["planted"]
    assert r["top1"] == 0
    assert s["fid_f"] == pytest.approx(0.2) and s["fid_cf"] == pytest.approx(0.6)
    assert s["kl_f"] == pytest.approx(_kl([0.9, 0.1], [0.7, 0.3]), rel=1e-5)
    assert s["kl_cf"] == pytest.approx(_kl([0.9, 0.1], [0.3, 0.7]), rel=1e-5)
    assert s["size"] == pytest.approx(0.75)
    assert r["floor"] == {"fid": pytest.approx(0.0), "kl": pytest.approx(0.0, abs=1e-9)}


def test_kl_direction_is_the_one_asked_for(monkeypatch):
    """orig_to_sample = KL(q_orig ‖ q_sample) (default); sample_to_orig = KL(q_sample ‖ q_orig), the
    reference code's KLDivLoss(log p_orig, p_sample). The planted distributions make them differ."""
    forward = _planted_faithfulness(monkeypatch)["methods"]["planted"]
    backward = _planted_faithfulness(monkeypatch, "sample_to_orig")["methods"]["planted"]
    assert backward["kl_f"] == pytest.approx(_kl([0.7, 0.3], [0.9, 0.1]), rel=1e-5)
    assert backward["kl_cf"] == pytest.approx(_kl([0.3, 0.7], [0.9, 0.1]), rel=1e-5)
    assert abs(forward["kl_f"] - backward["kl_f"]) > 0.01
    assert backward["fid_f"] == forward["fid_f"]
    assert metrics.kl_divergence(np.array([0.9, 0.1]), np.array([0.7, 0.3])) == pytest.approx(
        _kl([0.9, 0.1], [0.7, 0.3]), rel=1e-9)
    # Fid is the absolute change of p(top-1): a sample that raises it is not rewarded
    assert metrics.fidelity(np.array([0.6, 0.4]), np.array([0.8, 0.2])) == pytest.approx(0.2)
    with pytest.raises(metrics.ParameterError, match="KL direction"):
        _planted_faithfulness(monkeypatch, "both")


# --------------------------------------------------------------------------- the modes

def test_per_step_passes_have_no_history(tiny_model, tiny_take):
    """reference-code's passes: step s's latent is the LM on step s's token alone at position 0, and a
    mask on one step moves that step only; the teacher-forced pass moves later steps too."""
    inputs = teacher.prepare(tiny_model, tiny_take)
    S, L = inputs.n_steps, inputs.text_embeddings.shape[0]
    ones = torch.ones(S, L)
    poke = ones.clone()
    poke[3] = 0.0
    with torch.no_grad():
        alone, _ = teacher.forward_per_step(tiny_model, inputs, torch.stack([ones, poke]), batch=2)
        one_token = dataclass_replace_sequence(inputs, inputs.sequence[..., 5:6])
        direct, _ = teacher.forward(tiny_model, one_token, torch.ones(1, L))
        full, _ = teacher.forward(tiny_model, inputs, torch.stack([ones, poke]), batch=2)
    torch.testing.assert_close(alone[0, 5], direct[0, 0], atol=1e-5, rtol=1e-5)
    moved = (alone[1] - alone[0]).abs().amax(-1)
    assert moved[3] > 1e-3 and float(torch.cat([moved[:3], moved[4:]]).max()) == 0.0
    moved_full = (full[1] - full[0]).abs().amax(-1)
    assert moved_full[3] > 1e-3 and float(moved_full[4:].max()) > 1e-5  # history carries the mask on
    assert not torch.allclose(alone[0], full[0], atol=1e-4)  # with and without history differ


def dataclass_replace_sequence(inputs: teacher.TeacherInputs, sequence: torch.Tensor) -> teacher.TeacherInputs:
    import dataclasses
    return dataclasses.replace(inputs, sequence=sequence)


def test_reference_code_and_teacher_forced_modes_differ(tiny_model, tiny_take):
    """Same seed, same mask read-out (p): the per-step passes give other masks than the teacher-forced
    ones, while the legacy name ``reference`` is the teacher-forced ``paper`` mode bit for bit."""
    code = explain(tiny_model, tiny_take, epochs=3, seed=1, mode="reference-code", mask_used="p")
    paper = explain(tiny_model, tiny_take, epochs=3, seed=1, mode="paper")
    legacy = explain(tiny_model, tiny_take, epochs=3, seed=1, mode="reference")
    assert code.params["mode"] == "reference-code" and legacy.params["mode"] == "paper"
    np.testing.assert_array_equal(paper.step_masks, legacy.step_masks)
    assert np.abs(code.step_masks - paper.step_masks).max() > 1e-3
    assert code.params["lr"] == paper.params["lr"] == 1e-3 and code.params["epochs"] == 3
    assert code.extras["loss_history"][0] != pytest.approx(paper.extras["loss_history"][0], rel=1e-5)


def test_reference_code_reports_a_gumbel_sample_of_p(tiny_model, tiny_take):
    """mask_used='sample' (reference-code's default) reports a Gumbel sample of p,
    not p itself (a hard sample is 0/1); 'p' reports p (its step mean is the recorded p importance)."""
    sample = explain(tiny_model, tiny_take, epochs=3, seed=1, mode="reference-code")
    p = explain(tiny_model, tiny_take, epochs=3, seed=1, mode="reference-code", mask_used="p")
    assert sample.params["mask_used"] == "sample" and p.params["mask_used"] == "p"
    np.testing.assert_allclose(p.step_masks.mean(0), p.extras["p_importance"], atol=1e-6)
    np.testing.assert_allclose(sample.extras["p_importance"], p.extras["p_importance"], atol=1e-6)
    assert np.abs(sample.step_masks - p.step_masks).mean() > 0.05
    hard = explain(tiny_model, tiny_take, epochs=1, seed=1, mode="reference-code", hard=True)
    assert set(np.unique(hard.step_masks)) <= {0.0, 1.0}
    assert explain(tiny_model, tiny_take, epochs=1, seed=1).params["mask_used"] == "p"  # app default unchanged


def test_gumbel_temperature_sharpens_the_sample():
    """τ → 0 gives masks near 0/1, a large τ masks near 0.5: τ divides the noisy logits."""
    from agx_desktop.engine.explain.audiogenx import gumbel_mask
    p = torch.full((200,), 0.7)
    cold = gumbel_mask(p, 0.05, False, torch.Generator().manual_seed(0))
    hot = gumbel_mask(p, 20.0, False, torch.Generator().manual_seed(0))
    assert float((cold - 0.5).abs().mean()) > 0.4 and float((hot - 0.5).abs().mean()) < 0.1
