"""Word spans of a timeline take's explanation: a word's importance and heatmap come from the steps where
its segment conditioned the model (delay pattern included), and a take folder whose segments do not add
up to the take's words (take.json edited by hand or by another tool) must not make every interval of its
explanation raise."""
from __future__ import annotations

import numpy as np
import pytest

from agx_desktop.engine.take import GenerationParams
from agx_desktop.engine.timeline import Segment, fill_word_spans, generate_timeline, word_spans

P = GenerationParams(duration=1.0, seed=3, top_k=32)


def test_segments_that_do_not_add_up_to_the_takes_words_give_no_spans(tiny_model, tmp_path):
    from agx_desktop.engine import take_folder
    from agx_desktop.engine.explain import explain
    take = generate_timeline(tiny_model, [Segment(0.0, 0.5, "a dog barks"), Segment(0.5, 1.0, "a bell rings")], P)
    assert word_spans(take) == [(0.0, 0.5)] * 3 + [(0.5, 1.0)] * 3
    explanation = explain(tiny_model, take, method="audiogenx", epochs=1)
    explanation.word_spans = None  # as an explanation.json written before word_spans existed
    folder = take_folder.save_take(take, tmp_path / "take")
    take_folder.save_explanation(explanation, folder)
    meta = take_folder.load_take(folder)
    meta.segments[1]["text"] = "a bell rings twice"  # 7 words of segments for the take's 6
    loaded = take_folder.load_explanation(folder, meta)  # fills the spans from the take, as the app's store does
    assert loaded.word_spans is None  # unknown: every word over the whole take, as before spans existed
    values = loaded.word_importance((0.6, 0.9))  # the app's bars for a selected interval
    assert values.shape == (6,) and np.isfinite(values).all()
    fill_word_spans(loaded, meta)
    assert loaded.per_frame_words().shape[1] == 6


def test_explaining_such_a_take_gives_an_explanation_its_views_can_use(tiny_model):
    """Explaining a take whose segments were edited out of step with its words succeeded, but the
    explanation recorded one span per segment word: its interval importance and its word x time map (the
    app's bars and heatmap, and writing explanation.json) raised a numpy broadcast error."""
    from agx_desktop.engine.explain import explain
    take = generate_timeline(tiny_model, [Segment(0.0, 0.5, "a dog barks"), Segment(0.5, 1.0, "a bell rings")], P)
    take.segments[1]["text"] = "a bell rings twice"
    explanation = explain(tiny_model, take, method="audiogenx", epochs=1)
    assert explanation.word_spans is None
    assert explanation.word_importance((0.6, 0.9)).shape == (6,)
    assert explanation.per_frame_words().shape[1] == 6 and explanation.to_json((0.6, 0.9))["word_spans"] is None


def _planted(delay: int = 1) -> "Explanation":
    """An explanation of a 2-segment timeline at 10 frames/s, 1 s (10 frames, ``delay`` + 1 codebooks):
    step s predicts frames s - k; words 0-1 condition steps 0-4, words 2-3 steps 5 to the end. Word 0's
    mask is 1.0 where it is attended and 0.2 elsewhere (an unconstrained value of nothing), word 2's 0.8
    where attended and 0.0 elsewhere."""
    from agx_desktop.engine.explanation import Explanation
    from agx_desktop.engine.text import TextTokens
    steps = 10 + delay
    masks = np.zeros((steps, 4))
    masks[:5, 0], masks[5:, 0] = 1.0, 0.2
    masks[5:, 2] = 0.8
    text = TextTokens(prompt="dog barks bell rings", tokens=["dog", "barks", "bell", "rings"],
                      token_word=[0, 1, 2, 3], words=["dog", "barks", "bell", "rings"],
                      word_spans=[(0, 3), (4, 9), (10, 14), (15, 20)])
    frames = [[f for f in (s - k for k in range(delay + 1)) if 0 <= f < 10] for s in range(steps)]
    return Explanation(method="planted", model_id="none", prompt=text.prompt, take_id="t" * 12, text=text,
                       step_masks=masks,
                       step_frames=frames, n_frames=10, frame_rate=10.0,
                       word_spans=[(0.0, 0.5)] * 2 + [(0.5, 1.0)] * 2)


def test_a_words_importance_averages_only_the_steps_its_segment_conditioned():
    e = _planted()
    whole = e.word_importance()
    assert whole[0] == 1.0 and abs(whole[2] - 0.8) < 1e-12  # not diluted by the other segment's steps
    assert list(e.word_importance((0.0, 0.3))) == [1.0, 0.0, 0.0, 0.0]  # steps 0-3: only segment 1's
    assert list(e.word_importance((0.7, 1.0))[:2]) == [0.0, 0.0]  # steps 7-10: only segment 2's
    # frame 4 (0.4-0.5 s) is predicted by step 4 (codebook 0, segment 1) and step 5 (codebook 1, segment 2)
    near = e.word_importance((0.4, 0.5))
    assert near[0] == 1.0 and abs(near[2] - 0.8) < 1e-12
    heat = e.per_frame_words()
    assert (heat[:5, 0] == 1.0).all() and not heat[5:, 0].any()
    assert abs(heat[4, 2] - 0.8) < 1e-12 and not heat[:4, 2].any() and np.allclose(heat[5:, 2], 0.8)


def test_without_spans_every_step_counts_as_in_eq_7():
    e = _planted()
    e.word_spans = None
    assert abs(e.word_importance()[0] - (5 * 1.0 + 6 * 0.2) / 11) < 1e-12


def test_the_contrast_view_compares_a_word_with_its_own_attended_steps_only():
    """"vs. rest of clip" for a timeline take: the rest's value of a word is over the steps where its
    segment conditioned the model, not the other segment's (where its mask acted on nothing)."""
    from agx_desktop.engine.word_kinds import interval_contrast
    e = _planted()
    contrast = interval_contrast(e, (0.0, 0.3))  # steps 0-3 inside; the rest: steps 4-10
    assert abs(contrast[0] - 0.0) < 1e-12  # 1.0 inside, 1.0 at step 4 (its only attended step outside)
    assert abs(contrast[2] + 0.8) < 1e-12  # not attended inside (0), 0.8 where attended outside


def test_the_share_form_divides_each_step_among_the_words_attended_there():
    """Round 7's candidate contrast form (measured, not the app's): a step's shares are over the words its segment conditioned the model
    with; a word's mean share runs over its own attended steps, inside and outside the interval."""
    from agx_desktop.engine.word_kinds import interval_contrast, step_word_shares
    e = _planted()
    words = e.text.tokens_to_words(e.step_masks, e.word_aggregation)
    active = e.active_steps()
    shares = step_word_shares(e)
    for s in range(e.n_steps):
        on = np.flatnonzero(active[s])
        assert shares[s, on].sum() == pytest.approx(1.0)
        np.testing.assert_allclose(shares[s, on], words[s, on] / words[s, on].sum())
        assert not shares[s, ~active[s]].any()  # a word outside its segment takes no share of the step
    inside = e.steps_for_interval((0.0, 0.3))
    rest = np.setdiff1d(np.arange(e.n_steps), inside)
    contrast = interval_contrast(e, (0.0, 0.3), form="share")
    for w in range(len(e.words)):
        mine_in, mine_out = inside[active[inside, w]], rest[active[rest, w]]
        expected = (shares[mine_in, w].mean() if mine_in.size else 0.0) - (shares[mine_out, w].mean() if mine_out.size else 0.0)
        assert contrast[w] == pytest.approx(expected)
