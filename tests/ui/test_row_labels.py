"""Which rows get a label when not all fit (ui/widgets/row_labels.py): the sound words, never two
labels closer than the spacing that keeps them apart."""
from __future__ import annotations

import pytest

from agx_desktop.ui.widgets.row_labels import labelled_indices

DOG = "a dog barks then a bell rings".split()


def test_every_row_when_there_is_room():
    assert labelled_indices(DOG, 1) == list(range(7))


def test_the_sound_words_are_labelled_first():
    chosen = [DOG[i] for i in labelled_indices(DOG, 2)]
    assert {"dog", "bell"} <= set(chosen)  # every 2nd row gave a, barks, a, rings


@pytest.mark.parametrize("step", [2, 3, 4, 7])
def test_labels_are_never_closer_than_the_step(step):
    words = "a large dog barks loudly while heavy rain falls on a tin roof and a distant church bell rings twice".split()
    chosen = labelled_indices(words, step)
    assert chosen == sorted(chosen) and chosen
    assert all(b - a >= step for a, b in zip(chosen, chosen[1:]))
    assert "dog" in [words[i] for i in chosen]  # the first sound word always is


def test_given_kinds_are_used_as_they_are():
    assert labelled_indices(["x", "y", "z"], 2, kinds=["function", "sound", "function"]) == [1]


def test_no_words_no_labels():
    from agx_desktop.engine.word_kinds import prompt_word_kinds
    assert prompt_word_kinds([]) == [] and labelled_indices([], 3) == []
