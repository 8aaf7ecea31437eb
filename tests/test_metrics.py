"""Faithfulness metrics: formulas, batched masked sampling, classifier loading."""
from __future__ import annotations

import numpy as np
import pytest

from agx_desktop.evaluation import metrics
from agx_desktop.engine.explain import explain
from agx_desktop.engine.generation import generate
from agx_desktop.engine.take import GenerationParams
from _eval_helpers import BandClassifier, synth_model


@pytest.fixture(scope="module")
def synth():
    model = synth_model()
    take = generate(model, "a dog barks then a bell rings", GenerationParams(duration=0.8, seed=3, top_k=32))
    return model, take


def test_fidelity_and_kl():
    p = np.array([0.1, 0.7, 0.2])
    q = np.array([0.3, 0.4, 0.3])
    assert metrics.fidelity(p, q) == pytest.approx(0.3)  # top-1 of the reference (class 1)
    assert metrics.fidelity(p, p) == 0.0
    assert metrics.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    expected = float(np.sum(p * np.log(p / q)))
    assert metrics.kl_divergence(p, q) == pytest.approx(expected, rel=1e-4)
    # multi-label probabilities are normalised into a distribution first
    assert metrics.kl_divergence(2 * p, 3 * q) == pytest.approx(expected, rel=1e-4)
    assert metrics.mean_se([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0 / np.sqrt(3)))


def test_masked_sampling_is_wired_and_deterministic(synth):
    model, take = synth
    steps, L = take.latents.shape[0], len(take.text.tokens)
    ones, zeros = np.ones((steps, L), np.float32), np.zeros((steps, L), np.float32)
    a = metrics.sample_with_masks(model, take, [None, zeros], seed=4)
    b = metrics.sample_with_masks(model, take, [ones, zeros], seed=4)
    np.testing.assert_array_equal(a[0], b[0])  # an all-ones mask is no intervention
    np.testing.assert_array_equal(a[1], b[1])  # same seed, same samples
    assert not np.array_equal(a[0], a[1])  # muting the text changes the audio
    assert a[0].shape == take.audio.shape


def test_faithfulness_scores(synth):
    model, take = synth
    exs = {m: explain(model, take, method=m) for m in ("random", "atman")}
    r = metrics.faithfulness(model, take, exs, BandClassifier(), n_samples=2, sample_seed=5)
    assert set(r["methods"]) == {"random", "atman"} and r["floor"] is not None
    for s in r["methods"].values():
        assert 0 <= s["fid_f"] <= 1 and 0 <= s["fid_cf"] <= 1 and s["kl_f"] >= 0 and s["kl_cf"] >= 0
        assert 0 <= s["size"] <= 1
    assert r == metrics.faithfulness(model, take, exs, BandClassifier(), n_samples=2, sample_seed=5)


def test_classifier_loading_messages():
    with pytest.raises(metrics.ClassifierUnavailable, match="bundled"):
        metrics.load_classifier("nope")
    with pytest.raises(metrics.ClassifierUnavailable, match="cannot be loaded"):
        metrics.load_classifier("_eval_helpers:broken_classifier")
    assert isinstance(metrics.load_classifier("_eval_helpers:make_classifier"), BandClassifier)
    try:
        import hear21passt  # noqa: F401
    except ImportError:
        with pytest.raises(metrics.ClassifierUnavailable, match="PaSST"):
            metrics.load_classifier("passt")


def test_bundled_classifier_when_present():
    from agx_desktop.engine.bundled.loader import BUNDLED_DIR, CLASSIFIER_NAME
    if not (BUNDLED_DIR / CLASSIFIER_NAME).is_file():
        pytest.skip("bundled classifier not trained yet")
    clf = metrics.load_classifier("bundled")
    p = clf.probs(np.zeros((1, 16000), np.float32), 16000)
    assert p.shape == (len(clf.class_names),) and ((p >= 0) & (p <= 1)).all()
