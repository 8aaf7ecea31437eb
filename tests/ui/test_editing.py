"""Editing where the user points (issue 17), driven through the window's actions and the session's
signals on the untrained 'bundled' stand-in: region regeneration from a selection, the prompt timeline,
the importance-guided edit (ranked candidates, cancel), and what the takes list says changed."""
from __future__ import annotations

import numpy as np

from uihelpers import wait_idle


def _chip(w, word):
    return next(c for c in w.words.chips.chips if c.original == word)


def test_region_regeneration_keeps_the_audio_before_the_selection_and_says_what_changed(generated, qtbot):
    w = generated
    base = w.session.current
    assert not w.commands.is_enabled("regenerate_region")  # no selection yet
    w.session.set_selection((0.5, 1.0))
    assert w.commands.is_enabled("regenerate_region")
    _chip(w, "dog").set_muted(True)
    _chip(w, "bell").replace_word("whistle")
    w.commands.trigger("regenerate_region")
    assert w.session.prompt == "a dog barks then a whistle rings"  # the prompt box follows the replaced word
    assert w.generation.prompt_edit.text() == "a dog barks then a whistle rings"
    wait_idle(qtbot, w)
    new = w.session.current
    assert new is not base and new.take.kind == "region" and new.take.parent == base.id
    start = int(round(new.take.edit["region"][0] * new.take.sample_rate))
    assert start > 0 and np.array_equal(new.take.audio[..., :start], base.take.audio[..., :start])
    label = w.history.row_of(new.id).text()
    assert "bell→whistle" in label and "mute dog" in label and "region 0.50–1.00 s" in label
    assert w.session.ab == {"A": base.id, "B": new.id}


def test_a_two_segment_timeline_generates_a_take_that_follows_it_and_explains(make_window, qtbot):
    w = make_window()
    w.session.set_params(duration=1.0, seed=2)
    w.commands.trigger("timeline")
    dialog = w.timeline_dialog
    dialog.set_segments([])
    dialog.add_row(0.0, 0.5, "a dog barks")
    dialog.add_row(0.5, 1.0, "a church bell rings")
    dialog.generate_btn.click()
    wait_idle(qtbot, w)
    item = w.session.current
    assert item is not None and item.take.kind == "timeline"
    assert [(s["start"], s["end"], s["text"]) for s in item.take.segments] == \
        [(0.0, 0.5, "a dog barks"), (0.5, 1.0, "a church bell rings")]
    assert "0–0.5 s: a dog barks | 0.5–1 s: a church bell rings" in w.history.row_of(item.id).text()
    assert w.generation.prompt_edit.text() == "0-0.5: a dog barks | 0.5-1: a church bell rings"
    w.generation.explainer.form.set_value("epochs", 2)
    w.commands.trigger("explain")
    wait_idle(qtbot, w)
    assert w.session.explanation_matches(item)
    # the heatmap draws each segment's words over its own time: blank outside, a label per segment
    tl = w.timeline
    assert tl.words == ["a", "dog", "barks.", "a", "church", "bell", "rings"]  # the joined prompt
    assert tl.segment_labels() == ["0–0.5 s: a dog barks", "0.5–1 s: a church bell rings"]
    dog, bell = 1, 5
    assert np.isfinite(tl.cell(0.25, dog)) and np.isnan(tl.cell(0.75, dog))
    assert np.isnan(tl.cell(0.25, bell)) and np.isfinite(tl.cell(0.75, bell))
    # an interval explanation of the second segment on such a take
    w.session.set_selection((0.6, 0.9))
    assert w.bars.mode == "interval" and len(w.bars.values) == 7 and np.isfinite(w.bars.values).all()
    # the first segment's words did not condition 0.6-0.9 s: 0 there; the second's are the interval's own
    np.testing.assert_array_equal(w.bars.values[:3], 0.0)
    np.testing.assert_allclose(w.bars.values[3:], item.explanation.word_importance((0.6, 0.9))[3:])
    w.session.set_selection((0.4, 0.6))  # across the boundary: every word was in play somewhere
    np.testing.assert_allclose(w.bars.values, item.explanation.word_importance((0.4, 0.6)))
    w.session.set_selection(None)
    # the same timeline typed in the prompt
    w.session.set_prompt("0-0.5: a dog barks | 0.5-1: a church bell rings")
    w.commands.trigger("generate")
    wait_idle(qtbot, w)
    typed = w.session.current
    assert typed is not item and typed.take.kind == "timeline" and len(typed.take.segments) == 2
    assert not w.session.explanation_matches(typed)  # Generate alone: not explained
    # Generate + Explain on a typed timeline: one take, explained in the same job (it once only generated)
    count = len(w.session.items)
    w.commands.trigger("generate_explain")
    wait_idle(qtbot, w)
    both = w.session.current
    assert len(w.session.items) == count + 1 and both.take.kind == "timeline"
    assert w.session.explanation_matches(both) and both.explanation.word_spans is not None
    from PySide6.QtWidgets import QProgressBar
    assert "Generate + explain timeline of 2 segments" in w.findChildren(QProgressBar)[0].format()


def test_guided_edit_shows_ranked_candidates_as_takes_and_cancels_cleanly(generated, qtbot):
    w = generated
    base = w.session.current
    assert list(w.guided.intents) == ["dog", "barks", "bell", "rings"]  # content words only
    assert _chip(w, "then").function_word and not _chip(w, "dog").function_word
    w.guided.set_intent("bell", "none")
    w.guided.candidates_spin.setValue(2)
    w.guided.rounds_spin.setValue(1)
    w.commands.trigger("guided_edit")
    wait_idle(qtbot, w)
    labels = w.guided.ranked_labels()
    assert len(labels) == 2 and labels[0].startswith("#1 ") and labels[1].startswith("#2 ")
    assert all("score" in label and "bell" in label for label in labels)
    best = w.session.ab["B"]
    assert w.session.ab["A"] == base.id and w.session.items[best].take.parent == base.id
    assert w.history.row_of(best).text().splitlines()[1] == labels[0]
    n_takes = len(w.session.items)
    # cancel a longer run: nothing is added and the app says so
    w.session.set_current(base.id)
    w.guided.rounds_spin.setValue(3)
    w.commands.trigger("guided_edit")
    qtbot.waitUntil(lambda: w.runner.busy, timeout=10000)
    w.commands.trigger("cancel")
    wait_idle(qtbot, w)
    assert len(w.session.items) == n_takes and w.guided.ranked_labels() == labels
    assert w.statusBar().currentMessage().startswith("Cancelled: Guided edit")


def test_guided_dock_lists_each_round_as_it_finishes(generated, qtbot):
    w = generated
    seen: list[tuple[bool, list[list[str]]]] = []  # (job still running, the dock's rounds) at each round's signal
    w.controller.guided_round.connect(lambda _r: seen.append((w.runner.busy, w.guided.round_texts())))
    w.guided.set_intent("bell", "none")
    w.guided.candidates_spin.setValue(2)
    w.guided.rounds_spin.setValue(2)
    w.commands.trigger("guided_edit")
    wait_idle(qtbot, w)
    assert seen and seen[0][0]  # round 1 shown while the loop was still running
    for k, (_busy, rounds) in enumerate(seen, 1):
        assert len(rounds) == k  # each round appears when it finishes
        head, *candidates = rounds[-1]
        assert head.startswith(f"Round {k}/2 · ") and "best score" in head
        assert ("✓ intent met" in head) == (k == len(seen) and "✓ met" in w.guided.ranked_labels()[0])
        assert len(candidates) == 2 and candidates[0].startswith("#1 ") and "score" in candidates[0]
        assert all("bell" in c for c in candidates)
    assert len(w.guided.round_texts()) == len(seen) and len(w.guided.ranked_labels()) == 2 * len(seen)


def test_heatmap_row_labels_of_a_20_word_prompt_never_overlap_at_1280x720(make_window, qtbot):
    from PySide6.QtCore import QPointF

    w = make_window()
    w.resize(1280, 720)
    qtbot.waitUntil(lambda: w.size().toTuple() == (1280, 720))
    prompt = ("a large dog barks loudly while heavy rain falls on a tin roof and a distant church bell "
              "rings twice")
    assert len(prompt.split()) == 20
    w.session.set_prompt(prompt)
    w.session.set_params(duration=1.0, seed=1)
    w.generation.explainer.form.set_value("epochs", 2)
    w.commands.trigger("generate_explain")
    wait_idle(qtbot, w)
    tl = w.timeline
    assert len(tl.words) == 20
    rects = tl.label_rects()
    assert rects and all(not a.intersects(b) for (_, a), (_, b) in zip(rects, rects[1:]))
    from agx_desktop.ui.widgets.row_labels import labelled_indices
    assert [text for text, _ in rects] == [tl.words[i] for i in labelled_indices(tl.words, tl.label_step)]
    if tl.label_step > 1:  # thinned out: the title says so, and every row still names its word on hover
        assert "some rows labelled (sound words first)" in tl.heat.titleLabel.text
        labelled = {text for text, _ in rects}
        assert {"dog", "rain"} <= labelled and labelled & {"church", "bell"}  # the sounds, not every k-th word
        assert not labelled & {"a", "on", "and"}
    vb = tl.heat.getViewBox()
    for i, word in enumerate(tl.words):
        tl._on_hover(vb.mapViewToScene(QPointF(0.5, 20 - i - 0.5)))
        assert tl.heat_img.toolTip().startswith(f"{word} · 0.50 s · importance")
    # the importance bars under the heatmap: word ticks thinned the same way, never overlapping
    bars = w.bars
    ticks = bars.getAxis("bottom")._tickLevels[0]
    assert [t for _, t in ticks] == [bars.words[i][:12] for i in labelled_indices(bars.words, bars.label_step())]
    fm, bvb = bars.fontMetrics(), bars.getPlotItem().vb
    spans = sorted((bvb.mapViewToScene(QPointF(i, 0)).x() - fm.horizontalAdvance(t) / 2,
                    bvb.mapViewToScene(QPointF(i, 0)).x() + fm.horizontalAdvance(t) / 2) for i, t in ticks)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert all(f"{word}: " in bars.toolTip() for word in tl.words)
