"""Word deletion chosen in the window (issue 18's variant): the heatmap is titled with the method's own
label and its map shows where deleting a word moves the take."""
from __future__ import annotations

import numpy as np

from uihelpers import wait_idle


def test_word_deletion_explains_in_the_window(make_window, qtbot):
    from agx_desktop.engine.explain import METHODS
    w = make_window()
    assert w.timeline.heat.titleLabel.text.startswith("Word importance over time")  # nothing explained: no method
    w.session.set_prompt("a dog barks then a bell rings")
    w.session.set_params(duration=2.0, seed=3)
    w.session.set_explainer("deletion", METHODS["deletion"].Settings())
    w.commands.trigger("generate_explain")
    wait_idle(qtbot, w)
    ex = w.session.current.explanation
    assert ex is not None and ex.method == "deletion"
    assert w.timeline.heat_state == "explained"
    assert w.timeline.heat.titleLabel.text.startswith("Word deletion word importance over time")
    image = w.timeline.heat_img.image
    assert image is not None and np.nanmax(image) > 0  # some word moves the take somewhere
