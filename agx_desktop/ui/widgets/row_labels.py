"""Which words get a label when there is no room to label them all (the heatmap's rows, the importance
bars' ticks): sound words first, then context words, then function words, each at least ``step`` rows
or bars from any other label, so labels never overlap. Labelling every ``step``-th word instead left
"dog" and "bell" of "a dog barks then a bell rings" unlabelled at 1280×720 ("a", "barks", "a", "rings"
shown)."""
from __future__ import annotations

import typing as tp

from agx_desktop.engine.word_kinds import CONTEXT, FUNCTION, prompt_word_kinds

_RANK = {FUNCTION: 2, CONTEXT: 1}  # every other kind (the sound words) ranks 0


def labelled_indices(words: tp.Sequence[str], step: int, kinds: tp.Sequence[str] | None = None) -> list[int]:
    """Indices of ``words`` to label, in order: greedily by kind (sound, context, function) then
    position, each at least ``step`` away from those already taken; all of them when ``step`` <= 1.
    ``kinds``: each word's kind when the caller has them (default: :func:`prompt_word_kinds`)."""
    n = len(words)
    if step <= 1:
        return list(range(n))
    kinds = list(kinds) if kinds is not None else prompt_word_kinds(list(words))
    taken: list[int] = []
    for i in sorted(range(n), key=lambda i: (_RANK.get(kinds[i], 0), i)):
        if all(abs(i - j) >= step for j in taken):
            taken.append(i)
    return sorted(taken)
