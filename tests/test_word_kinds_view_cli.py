"""``agx explain --view sound`` (issue 18): the ranking grouped by kind, sound words first, with each
word's kind printed and the paper's scores unchanged; ``--view paper`` (the default) one list."""
from __future__ import annotations

import re


LINE = re.compile(r"^  (-?\d\.\d{3})  #*\s+(\S+)  \((sound|context|function)\)$")


def _rows(out):
    """(heading or None, word, value, kind) of each printed word line, in order."""
    rows, heading = [], None
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            rows.append((heading, m.group(2), float(m.group(1)), m.group(3)))
        elif line.startswith(" ") and line.rstrip().endswith(":") and not line.startswith("  "):
            heading = line.strip()
    return rows


def test_explain_view_sound_groups_the_same_scores_by_kind(cli, tmp_path):
    take = tmp_path / "dog"
    assert cli("generate", "a dog barks then a bell rings in the distance", "--duration", 1, "--seed", 5,
               "--out", take)[0] == 0
    code, out, _ = cli("explain", take, "--method", "random")
    paper = _rows(out)
    assert code == 0 and len(paper) == 10 and all(h is None for h, *_ in paper)
    assert [v for _, _, v, _ in paper] == sorted((v for _, _, v, _ in paper), reverse=True)  # one ranking
    kind_of = {word: kind for _, word, _, kind in paper}
    assert kind_of["then"] == kind_of["a"] == kind_of["in"] == "function"
    assert kind_of["distance"] == "context" and kind_of["dog"] == kind_of["bell"] == "sound"

    code, out, _ = cli("explain", take, "--method", "random", "--view", "sound")  # the stored explanation
    sound = _rows(out)
    assert code == 0 and "sound words first (the paper's scores, grouped by kind)" in out
    assert sorted((w, v) for _, w, v, _ in sound) == sorted((w, v) for _, w, v, _ in paper)  # same scores
    kinds = [kind for _, _, _, kind in sound]
    assert kinds == ["sound"] * 4 + ["context"] + ["function"] * 5  # sound words first, then context, function
    for heading, _, _, kind in sound:
        assert heading.startswith(f"{kind} words")
    for part in ("sound", "function"):  # each group ranked by score
        values = [v for _, _, v, kind in sound if kind == part]
        assert values == sorted(values, reverse=True)

    code, _, err = cli("explain", take, "--view", "content")
    assert code == 2 and "--view" in err
