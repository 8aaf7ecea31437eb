"""``agx generate --int8 / --bf16 / --threads N``: the speed settings reach the take's speed record;
none given, the take is the plain float32 one (no record)."""
from __future__ import annotations

import json

from cli_fixtures import agx  # noqa: F401  (fixture)


def _speed(folder):
    return json.loads((folder / "take.json").read_text()).get("speed")


def test_generate_speed_flags_reach_the_take(agx, tmp_path):  # noqa: F811
    code, out, err = agx("generate", "a dog barks", "--duration", 0.5, "--seed", 2, "--int8", "--threads", 1,
                         "--out", tmp_path / "fast")
    assert code == 0, err
    assert _speed(tmp_path / "fast") == {"precision": "float32", "threads": 1, "label": "int8+1 threads",
                                         "quantisation": "int8 dynamic (linear layers, attention in-projections)"}
    assert "int8+1 threads" in out  # the line that says what was written names the setting

    code, out, err = agx("generate", "a dog barks", "--duration", 0.5, "--seed", 2, "--bf16",
                         "--out", tmp_path / "bf16")
    assert code == 0, err
    speed = _speed(tmp_path / "bf16")
    assert speed["precision"] == "bf16 autocast" and speed["quantisation"] == "none" and speed["threads"] is None


def test_generate_without_speed_flags_records_none(agx, tmp_path):  # noqa: F811
    code, out, err = agx("generate", "a dog barks", "--duration", 0.5, "--seed", 2, "--out", tmp_path / "plain")
    assert code == 0, err
    assert _speed(tmp_path / "plain") is None and "threads" not in out


def test_threads_must_be_a_whole_number_from_one(agx, tmp_path):  # noqa: F811
    for bad in ("0", "-2", "1.5", "many"):
        code, _, err = agx("generate", "a dog barks", "--threads", bad, "--out", tmp_path / "x")
        assert code == 2 and "threads" in err and not (tmp_path / "x").exists()
