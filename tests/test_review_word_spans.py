"""Word spans of a timeline take's explanation (review): a take folder whose segments do not add up to
the take's words (take.json edited by hand or by another tool; nothing checks it on load) must not make
every interval of its explanation raise."""
from __future__ import annotations

import numpy as np

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
