"""The world's event classifier: shapes, and (shipped weights) detection of clean synthetic events."""
import numpy as np
import pytest

from agx_desktop.engine.bundled import loader, world
from agx_desktop.engine.bundled.classifier import EventClassifier

shipped = pytest.mark.skipif(not (loader.BUNDLED_DIR / loader.CLASSIFIER_NAME).is_file(),
                             reason="shipped classifier not present")


def test_shapes_untrained():
    clf = EventClassifier().eval()
    p = clf.frame_probs(np.zeros(80000, dtype=np.float32))
    assert p.shape == (1, len(world.EVENTS), 125)
    probs = clf.event_probs(np.zeros(80000, dtype=np.float32), interval=(0, 2.5))
    assert set(probs) == set(world.EVENT_NAMES)


@shipped
@pytest.mark.parametrize("name", ["siren", "dog", "rain", "bell", "clock", "thunder"])
def test_detects_clean_event(name):
    clf = loader.load_classifier()
    sc = world.make_scene(np.random.default_rng(99), "single", [name], [()])
    assert clf.detect(sc.audio) == [name]


@shipped
def test_first_half_second_half():
    clf = loader.load_classifier()
    sc = world.make_scene(np.random.default_rng(7), "then", ["beep", "wind"], [(), ()])
    assert "beep" in clf.detect(sc.audio, interval=(0, 2.0)) and "wind" not in clf.detect(sc.audio, interval=(0, 2.0))
    assert "wind" in clf.detect(sc.audio, interval=(3.0, 5.0)) and "beep" not in clf.detect(sc.audio, interval=(3.0, 5.0))
