"""Baseline explainers: shape, range, determinism, ground truth on a one-word model, exactness."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agx_desktop.engine.explain import METHODS, available_methods, explain
from agx_desktop.engine.explain._common import AttentionRecorder, lm_logits, step_targets, target_scores
from agx_desktop.engine.generation import generate
from agx_desktop.engine.take import GenerationParams
from agx_desktop.engine import teacher
from test_explain import _one_word_model

BASELINES = ["random", "gradcam-e", "gradcam-a", "atman", "chefer", "rollout", "deletion"]


def test_registered():
    for name in BASELINES + ["audiogenx"]:
        assert name in available_methods()


@pytest.mark.parametrize("method", BASELINES)
def test_shape_range_and_determinism(tiny_model, tiny_take, method):
    a = explain(tiny_model, tiny_take, method=method)
    b = explain(tiny_model, tiny_take, method=method)
    assert a.method == method
    assert a.step_masks.shape == (tiny_take.latents.shape[0], len(tiny_take.text.tokens))
    assert (a.step_masks >= 0).all() and (a.step_masks <= 1).all()
    assert np.array_equal(a.step_masks, b.step_masks)
    assert len(a.word_importance()) == len(tiny_take.words)
    assert a.to_json()["method"] == method and a.seconds >= 0


def test_random_depends_on_seed(tiny_model, tiny_take):
    a = explain(tiny_model, tiny_take, method="random", seed=1)
    b = explain(tiny_model, tiny_take, method="random", seed=2)
    assert not np.array_equal(a.step_masks, b.step_masks)
    assert 0.4 < a.mask_size() < 0.6


@pytest.mark.parametrize("method", ["gradcam-e", "gradcam-a", "atman", "chefer", "rollout", "deletion"])
def test_informative_token_ranks_first(method):
    model = _one_word_model(2)
    take = generate(model, "the loud thunder is in the distance", GenerationParams(duration=0.6, seed=2, top_k=32))
    ex = explain(model, take, method=method)
    imp = ex.word_importance()
    i = ex.words.index("thunder")
    assert imp[i] > np.delete(imp, i).max(), dict(zip(ex.words, imp.round(3)))


def test_gradcam_e_single_backward_equals_per_step_backward(tiny_model, tiny_take):
    """Row t of the last cross-attention only reaches output t, so one backward is exact."""
    inputs = teacher.prepare(tiny_model, tiny_take)
    targets = step_targets(tiny_model, tiny_take)
    grads = []
    with teacher.Frozen(tiny_model.lm), torch.enable_grad():
        for t in (3, 20):
            rec = AttentionRecorder(tiny_model.lm, self_attention=False, layers=[-1], grad=True)
            with rec:
                logits = lm_logits(tiny_model, inputs)
            target_scores(logits, targets)[0, t].backward()
            grads.append(rec.cross_maps[-1].grad[0, :, t].clone())
        rec = AttentionRecorder(tiny_model.lm, self_attention=False, layers=[-1], grad=True)
        with rec:
            logits = lm_logits(tiny_model, inputs)
        target_scores(logits, targets).sum().backward()
        full = rec.cross_maps[-1].grad[0]
    torch.testing.assert_close(full[:, 3], grads[0])
    torch.testing.assert_close(full[:, 20], grads[1])


@pytest.mark.parametrize("method", ["chefer", "gradcam-a"])
def test_per_step_batches_do_not_change_the_result(tiny_model, tiny_take, method):
    a = explain(tiny_model, tiny_take, method=method, chunk=1)
    b = explain(tiny_model, tiny_take, method=method, chunk=17)
    np.testing.assert_allclose(a.step_masks, b.step_masks, atol=1e-5)


def test_attention_capture_is_removed_and_matches_the_real_forward(tiny_model, tiny_take):
    inputs = teacher.prepare(tiny_model, tiny_take)
    with torch.no_grad():
        plain = lm_logits(tiny_model, inputs)
        with AttentionRecorder(tiny_model.lm) as rec:
            captured = lm_logits(tiny_model, inputs)
    torch.testing.assert_close(plain, captured, atol=1e-4, rtol=1e-4)
    assert len(rec.self_maps) == len(rec.cross_maps) == len(tiny_model.lm.transformer.layers)
    for layer in tiny_model.lm.transformer.layers:
        assert "forward" not in layer.self_attn.__dict__ and "forward" not in layer.cross_attention.__dict__


def test_unknown_parameter_and_cancel(tiny_model, tiny_take):
    from agx_desktop.engine.errors import AgxError, Cancelled, ParameterError
    from agx_desktop.engine.progress import CancelToken
    with pytest.raises(ParameterError, match="epochs") as err:
        explain(tiny_model, tiny_take, method="atman", epochs=3)
    assert isinstance(err.value, AgxError)  # the CLI and the app show it as a one-line message
    token = CancelToken()
    token.cancel()
    for method in BASELINES:
        with pytest.raises(Cancelled):
            METHODS[method](tiny_model, tiny_take, cancel=token)


# ----------------------------------------------------------------------------- AudioGenX speed modes

def test_fused_explainers_equal_the_per_step_ones():
    from agx_desktop.engine.explain.audiogenx import FusedStepExplainers, StepExplainers
    ref = StepExplainers(7, 16, 8, torch.Generator().manual_seed(0))
    U = torch.randn(5, 16)
    flat = FusedStepExplainers(ref, U)
    torch.testing.assert_close(flat(U), ref(U))


def test_quick_mode_stops_early_is_deterministic_and_finds_the_word():
    model = _one_word_model(2)
    take = generate(model, "the loud thunder is in the distance", GenerationParams(duration=0.6, seed=2, top_k=32))
    a = explain(model, take)  # default mode: quick
    b = explain(model, take, mode="quick")
    assert a.params["mode"] == "quick" and a.params["lr"] == 1e-2
    assert np.array_equal(a.step_masks, b.step_masks)
    assert 5 <= a.extras["epochs_run"] < 50
    imp = a.word_importance()
    i = a.words.index("thunder")
    assert imp[i] > np.delete(imp, i).max() + 0.2
    tok = take.text.tokens.index("thunder")
    assert (a.step_masks.argmax(axis=1) == tok).mean() > 0.8
