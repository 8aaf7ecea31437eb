"""``agx region`` / ``agx timeline`` / ``agx regenerate --from`` (engine/edit_cli.py) through ``agx``'s
own runner and command table."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf



from cli_fixtures import agx, take  # noqa: E402,F401  (fixtures)


def test_region_keeps_the_audio_before_it_and_records_the_edit(agx, take, tmp_path):
    out = tmp_path / "whistle"
    code, stdout, err = agx("region", take, "--from", 0.4, "--to", 0.8, "--replace", "bell=whistle",
                            "--weights", "bell=2", "dog=0", "--tail", "splice", "--out", out)
    assert code == 0, err
    assert "bell→whistle" in stdout and "region 0.40–0.80 s" in stdout
    meta = json.loads((out / "take.json").read_text())
    parent = json.loads((take / "take.json").read_text())
    assert meta["kind"] == "region" and meta["parent"] == parent["id"]
    assert meta["prompt"] == "a dog barks then a whistle rings"
    assert meta["word_weights"] == [1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0]  # bell=2 went to what replaced it
    assert meta["edit"]["region"] == [0.4, 0.8] and meta["edit"]["replace"] == {"bell": "whistle"}
    assert meta["edit"]["weights"] == {"bell": 2.0, "dog": 0.0} and meta["edit"]["tail"] == "splice"
    a, _ = sf.read(take / "audio.wav", dtype="float32")
    b, _ = sf.read(out / "audio.wav", dtype="float32")
    n0, n1 = int(0.4 * 16000), int(0.8 * 16000)
    assert np.array_equal(a[:n0], b[:n0]) and np.array_equal(a[n1:], b[n1:])


def test_timeline_typed_as_in_the_app_s_prompt(agx, tmp_path):
    """"0-0.5: a dog barks | 0.5-1: a bell rings" (the app's prompt-box form) is two segments, not one
    0.5 s segment whose words hold the rest (as it was read before)."""
    out = tmp_path / "line"
    code, stdout, err = agx("timeline", "0-0.5: a dog barks | 0.5-1: a bell rings", "--seed", 2, "--out", out)
    assert code == 0, err
    meta = json.loads((out / "take.json").read_text())
    assert [(s["start"], s["end"], s["text"]) for s in meta["segments"]] == \
        [(0.0, 0.5, "a dog barks"), (0.5, 1.0, "a bell rings")]
    code, _, err = agx("timeline", "0-0.5: a dog barks | then a bell", "--out", tmp_path / "x")
    assert code == 2 and "must look like START-END: WORDS" in err and len(err.strip().splitlines()) == 1


def test_timeline_from_arguments_and_from_a_file(agx, tmp_path):
    out = tmp_path / "line"
    code, stdout, err = agx("timeline", "0-0.5: a dog barks", "0.5-1: a bell rings", "--seed", 2, "--out", out)
    assert code == 0, err
    meta = json.loads((out / "take.json").read_text())
    assert meta["kind"] == "timeline" and meta["params"]["duration"] == 1.0
    assert [s["text"] for s in meta["segments"]] == ["a dog barks", "a bell rings"]
    tsv = tmp_path / "line.tsv"
    tsv.write_text("0\t0.5\ta dog barks\n0.5\t1\ta bell rings\n", encoding="utf-8")
    code, _, err = agx("timeline", "--file", tsv, "--seed", 2, "--out", tmp_path / "line2")
    assert code == 0, err
    a, _ = sf.read(out / "audio.wav", dtype="float32")
    b, _ = sf.read(tmp_path / "line2" / "audio.wav", dtype="float32")
    assert np.array_equal(a, b)


def test_explain_interval_of_a_timeline_take_gives_0_to_words_of_segments_it_does_not_touch(agx, tmp_path):
    """`agx explain --interval` (printout and explanation.json) agrees with the app: the first segment's
    words were not in the text the model attended to over 0.6-1 s, so their importance there is 0."""
    out = tmp_path / "line"
    assert agx("timeline", "0-0.5: a dog barks", "0.5-1: a bell rings", "--seed", 2, "--out", out)[0] == 0
    code, stdout, err = agx("explain", out, "--method", "random", "--interval", 0.6, 1.0)
    assert code == 0, err
    doc = json.loads((out / "explanation.json").read_text())
    assert doc["word_spans"] == [[0.0, 0.5]] * 3 + [[0.5, 1.0]] * 3
    assert doc["importance"][:3] == [0.0, 0.0, 0.0] and min(doc["importance"][3:]) > 0
    printed = {line.split()[-2]: float(line.split()[0]) for line in stdout.splitlines()[1:] if line.strip()}
    assert printed["dog"] == 0.0 and printed["bell"] > 0
    per_frame = np.asarray(doc["per_frame"])  # the heatmap: a segment's words only where it conditioned
    delay = len(doc["step_masks"]) - per_frame.shape[0]  # codebooks - 1: the delay pattern's extra steps
    assert delay >= 1
    assert not per_frame[25:, :3].any()  # no step of the first segment predicts a frame after 0.5 s
    assert not per_frame[:25 - delay, 3:].any()  # nor one of the second a frame before 0.5 s - delay
    assert per_frame[25 - delay:25, 3:].all() and per_frame[25 - delay:25, :3].all()  # both, at the boundary


@pytest.mark.parametrize("args,message", [
    (["region", "{take}", "--out", "{tmp}/x"], "--from"),
    (["region", "{take}", "--from", "0.5", "--replace", "snow=rain", "--out", "{tmp}/x"], "not a word of the prompt"),
    (["region", "{take}", "--from", "0.5", "--replace", "bell", "--out", "{tmp}/x"], "WORD=NEW"),
    (["region", "{take}", "--from", "0.5", "--weights", "snow=0", "--out", "{tmp}/x"], "not a word of the prompt"),
    (["region", "{take}", "--from", "2", "--out", "{tmp}/x"], "region start"),
    (["region", "{take}", "--from", "0.5", "--crossfade", "nan", "--out", "{tmp}/x"], "crossfade"),
    (["timeline", "a dog barks", "--out", "{tmp}/x"], "START-END"),
    (["timeline", "0-0.5: a dog", "0.6-1: a bell", "--out", "{tmp}/x"], "no gap or overlap"),
    (["timeline", "--out", "{tmp}/x"], "either as arguments"),
])
def test_bad_input_exits_2_with_one_line(agx, take, tmp_path, args, message):
    code, out, err = agx(*[a.replace("{tmp}", str(tmp_path)).replace("{take}", str(take)) for a in args])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("segments,message", [
    (["0-0.5: a dog", "0.6-1: a bell"], "no gap or overlap"),
    (["0-0.5: a dog", "0.5-1:   "], "has no words"),
])
def test_a_timeline_s_layout_is_refused_before_any_model_loads(agx, tmp_path, monkeypatch, segments, message):
    """Gaps, overlaps and empty segments need no model: said in one line without loading one (a hub
    model takes minutes to load)."""
    from agx_desktop.engine import cli_args

    def no_load(*_a, **_k):
        raise AssertionError("a model was loaded before the segments were checked")
    monkeypatch.setattr(cli_args, "load_announced", no_load)
    code, _, err = agx("timeline", *segments, "--out", tmp_path / "x")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args", [
    ["region", "{take}", "--from", "0.5", "--replace", "bell=whistle", "--out", "{take}"],
    ["regenerate", "{take}", "--weights", "dog=0", "--out", "{take}/"],
    ["regenerate", "{take}", "--from", "0.5", "--weights", "dog=0", "--out", "{take}"],
])
def test_a_derived_take_is_never_written_over_its_own_parent(agx, take, tmp_path, args):
    """--out naming the take being edited replaced it (its audio and explanation gone, the new take's
    parent nowhere): refused in one line, the take byte for byte as it was."""
    before = {p.name: p.read_bytes() for p in take.iterdir() if p.is_file()}
    code, _, err = agx(*[a.replace("{take}", str(take)) for a in args])
    assert code == 2 and "--out is the take" in err and "give another folder" in err
    assert len(err.strip().splitlines()) == 1, err
    assert {p.name: p.read_bytes() for p in take.iterdir() if p.is_file()} == before


def test_agx_regenerate_from_runs_the_region_code(agx, take, tmp_path):
    """``agx regenerate TAKE --from S`` is the region command (the issue's spelling), and refuses a mask
    variant with a region in one line."""
    code, stdout, err = agx("regenerate", take, "--from", 0.5, "--weights", "dog=0", "--out", tmp_path / "r")
    assert code == 0, err
    meta = json.loads((tmp_path / "r" / "take.json").read_text())
    assert meta["kind"] == "region" and meta["edit"]["region"] == [0.5, 1.0] and meta["edit"]["weights"] == {"dog": 0.0}
    code, _, err = agx("regenerate", take, "--variant", "factual", "--from", 0.5, "--out", tmp_path / "f")
    assert code == 2 and "--variant factual" in err and err.count("\n") == 1
    assert not (tmp_path / "f").exists()
