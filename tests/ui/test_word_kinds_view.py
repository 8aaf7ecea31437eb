"""The importance bars' "Sound words first" view and the interval-contrast variant (issue 18), as the user
sees them: bar labels, order and values, group labels, chip tooltips, the checkbox's label, the remembered
choice. The explanation is planted (known masks) on a real take of the untrained stand-in, so the paper's
ranking is known: "then" on top of "a dog barks then a bell rings", as the paper's method often puts it."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from uihelpers import wait_idle

from agx_desktop.engine.word_kinds import interval_contrast

WORDS = ["a", "dog", "barks", "then", "a", "bell", "rings"]


def _plant(ex):
    """Masks: "then" 0.9 everywhere (the paper's top word), "bell" 0.6, "dog" 0.7 in the first half's
    steps and 0.2 after, the rest 0.1."""
    assert list(ex.words) == WORDS
    masks = np.full_like(ex.step_masks, 0.1)

    def tokens(i):
        return [t for t, w in enumerate(ex.text.token_word) if w == i]
    masks[:, tokens(3)] = 0.9
    masks[:, tokens(5)] = 0.6
    masks[:, tokens(1)] = 0.2
    masks[np.ix_(ex.steps_for_interval((0.0, ex.duration / 2)), tokens(1))] = 0.7
    return dataclasses.replace(ex, step_masks=masks)


@pytest.fixture
def then_on_top(generated):
    w = generated
    item = w.session.current
    w.session.set_explanation(item, _plant(item.explanation))
    ex = item.explanation
    assert int(np.argmax(ex.word_importance())) == 3  # the paper's ranking: "then" first
    return w, ex


def _group_labels(bars):
    return [label.textItem.toPlainText() for label, _, _ in bars._group_labels]


def _texts_apart(bars):
    """No group label overlaps a value text, and every value text lies inside the plot (seen at 1280x720:
    a label touching the top value, a negative value's text cut by the axis)."""
    from PySide6.QtWidgets import QApplication
    QApplication.processEvents()  # the plot lays out and repaints as the user would see it
    vb = bars.getPlotItem().vb
    view = vb.mapRectToScene(vb.boundingRect())
    values = [t.sceneBoundingRect() for t in bars.labels]
    groups = [label.sceneBoundingRect() for label, _, _ in bars._group_labels if label.textItem.toPlainText()]
    assert all(not g.intersects(v) for g in groups for v in values)
    assert all(view.contains(r) for r in values + groups), (view, [r for r in values + groups if not view.contains(r)])


def _choose(w, text):
    combo = w.importance.view_combo
    combo.setCurrentIndex(combo.findText(text))


def test_sound_view_ranks_sound_words_first_and_keeps_then_apart_with_its_value(then_on_top):
    w, ex = then_on_top
    bars, paper = w.bars, ex.word_importance()
    # default: the paper's view, every word in prompt order with its Eq. 7 value
    assert w.importance.view_combo.currentText() == "All words (paper)"
    assert bars.words == WORDS and _group_labels(bars) == []
    np.testing.assert_allclose(bars.values, paper)

    _choose(w, "Sound words first")
    # sound words ranked by score, then function words; "then" shown (not hidden) with the same value
    assert bars.words == ["bell", "dog", "barks", "rings", "then", "a", "a"]
    assert bars.groups == ["sound"] * 4 + ["function"] * 3
    assert _group_labels(bars) == ["sound", "function"]
    assert bars.values[4] == pytest.approx(paper[3]) and bars.values[4] == bars.values.max()
    np.testing.assert_allclose(sorted(bars.values), sorted(paper))  # the same scores, regrouped
    assert [text.textItem.toPlainText() for text in bars.labels][4] == f"{paper[3]:.2f}"
    ticks = [t for _, t in bars.getAxis("bottom")._tickLevels[0]]
    assert ticks[0] == "bell" and ticks[4] == "then"
    assert "then: 0.90 · function word" in bars.toolTip()
    _texts_apart(bars)
    # the chips say each word's kind; the values are the paper's
    chips = w.words.chips.chips
    assert chips[3].toolTip() == "then (function word: ranked apart, score kept): importance 0.90"
    assert chips[1].toolTip().startswith("dog (sound word: what sounds): importance")
    w.session.set_active_words([])  # no word under the playhead (its white frame would cover the kind's)
    assert "dotted" in chips[3].styleSheet() and "dotted" not in chips[1].styleSheet()

    _choose(w, "All words (paper)")  # back: the paper's order and the chips as before
    assert bars.words == WORDS and _group_labels(bars) == []
    np.testing.assert_allclose(bars.values, paper)
    assert chips[3].toolTip() == "then (function word): importance 0.90"


def test_context_words_form_their_own_group(make_window, qtbot):
    w = make_window()
    w.session.set_prompt("a dog barks in the distance")
    w.session.set_params(duration=1.0, seed=3)
    w.generation.explainer.form.set_value("epochs", 1)
    w.commands.trigger("generate_explain")
    wait_idle(qtbot, w)
    _choose(w, "Sound words first")
    bars = w.bars
    assert bars.groups[bars.words.index("distance")] == "context"
    assert set(bars.words[:2]) == {"dog", "barks"} and bars.groups[:2] == ["sound", "sound"]
    assert _group_labels(bars)[1] in ("context", "ctx", "")  # shortened where its one bar is narrow
    chip = w.words.chips.chips[5]
    assert chip.toolTip().startswith("distance (context word: how, where or when it is heard; ranked apart")


def test_contrast_variant_is_labelled_and_shows_interval_minus_rest(then_on_top):
    w, ex = then_on_top
    box, bars = w.importance.contrast_box, w.bars
    assert not box.isEnabled() and not box.isChecked()  # needs a selection; off by default
    assert "variant" in box.text()
    assert "departs from the paper" in box.toolTip() and "minus" in box.toolTip()
    first = (0.0, ex.duration / 2)
    w.session.set_selection(first)
    assert box.isEnabled() and not box.isChecked()
    np.testing.assert_allclose(bars.values, ex.word_importance(first))  # the paper's interval importance

    box.setChecked(True)
    contrast = interval_contrast(ex, first)
    np.testing.assert_allclose(bars.values, contrast)
    assert "variant" in bars.getPlotItem().titleLabel.text and "rest of clip" in bars.getPlotItem().titleLabel.text
    assert "contrast with the rest of the clip (variant) " in w.words.chips.chips[1].toolTip()
    # what the first half needs more than the rest: "dog" (0.7 here, 0.2 after), not "then" (0.9 everywhere)
    assert bars.words[int(np.argmax(bars.values))] == "dog"
    _choose(w, "Sound words first")
    assert bars.words[0] == "dog" and bars.values[0] == pytest.approx(contrast[1])
    assert bars.values.min() < 0  # "bell": less needed here than after; its text below its bar, in view
    _texts_apart(bars)

    box.setChecked(False)
    _choose(w, "All words (paper)")
    np.testing.assert_allclose(bars.values, ex.word_importance(first))
    assert "variant" not in bars.getPlotItem().titleLabel.text


def test_the_view_choice_is_remembered(make_window, data_dir):
    from agx_desktop.ui.settings import Settings, load_settings
    assert Settings().word_view == "paper"
    w = make_window()
    assert w.importance.view_combo.currentText() == "All words (paper)"
    _choose(w, "Sound words first")
    w.save_settings()
    assert load_settings().word_view == "sound"
    again = make_window()
    assert again.importance.view_combo.currentText() == "Sound words first" and again.bars.view == "sound"
    assert Settings.from_dict({"word_view": 3}).word_view == "paper"  # a malformed value: the default
