"""`agx evaluate`: caption-file input, resumability, tables, bad input."""
from __future__ import annotations

import json

import pytest

from agx_desktop.engine import models
from agx_desktop.evaluation import memory, protocol, store, tables
from agx_desktop.engine.cli import run
from agx_desktop.engine.errors import UnknownMethodError
from _eval_helpers import synth_model

CLF = "_eval_helpers:make_classifier"
FAST = ["--methods", "random,atman,audiogenx", "--epochs", "2", "--samples", "2", "--duration", "0.5",
        "--classifier", CLF, "--quiet"]


@pytest.fixture
def tiny_registry(monkeypatch):
    model = synth_model()
    monkeypatch.setattr(models, "load_model", lambda *a, **k: model)
    return model


def _args(captions, out, *extra):
    return ["--quiet", "evaluate", str(captions), "--out", str(out)] + [a for a in FAST if a != "--quiet"] + list(extra)


def test_read_captions(tmp_path):
    with pytest.raises(protocol.EvaluationError, match="not found"):
        protocol.read_captions(tmp_path / "missing.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(protocol.EvaluationError, match="no captions"):
        protocol.read_captions(empty)
    f = tmp_path / "c.txt"
    f.write_text("a dog barks\n\n  \nrain falls\n")
    assert protocol.read_captions(f) == (["a dog barks", "rain falls"], 2)


def test_unknown_method_lists_the_known_ones():
    with pytest.raises(UnknownMethodError, match="gradcam-e.*rollout"):
        protocol.parse_methods("audiogenx,nope")


def test_bad_input_exit_codes(tmp_path, capsys, tiny_registry):
    assert run(["evaluate", str(tmp_path / "none.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "caption file not found" in capsys.readouterr().err
    f = tmp_path / "c.txt"
    f.write_text("a dog barks\n")
    assert run(["evaluate", str(f), "--out", str(tmp_path / "o"), "--methods", "nope"]) == 2
    assert "use one of" in capsys.readouterr().err
    out = tmp_path / "o2"
    assert run(["evaluate", str(f), "--out", str(out), "--classifier", "_eval_helpers:broken_classifier"]) == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("agx: error:")]
    assert len(errors) == 1 and "cannot be loaded" in errors[0]
    assert not (out / "table1.md").exists()  # nothing presented as a result


def test_run_resume_and_tables(tmp_path, capsys, tiny_registry, monkeypatch):
    f = tmp_path / "c.txt"
    f.write_text("a dog barks\n\nrain falls on a roof\nthunder then a bell\n")
    out = tmp_path / "res"
    # crash (Ctrl-C) during the second caption: the first one is kept, tables are PARTIAL
    real = protocol.evaluate_caption
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(protocol, "evaluate_caption", flaky)
    assert run(_args(f, out)) == 130
    assert "interrupted" in capsys.readouterr().err
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["caption"] == "a dog barks"
    assert "PARTIAL: 1 of 3" in (out / "table1.md").read_text()
    # a torn half-written line (crash mid-write) is ignored
    with open(out / "results.jsonl", "a") as fh:
        fh.write('{"index": 1, "capt')
    # resume: only the two missing captions run
    monkeypatch.setattr(protocol, "evaluate_caption", real)
    seen = []
    monkeypatch.setattr(protocol, "evaluate_caption",
                        lambda model, cap, i, *a, **k: seen.append(cap) or real(model, cap, i, *a, **k))
    assert run(_args(f, out)) == 0
    assert seen == ["rain falls on a roof", "thunder then a bell"]
    records = store.load_results(out)
    assert [r["index"] for r in records] == [0, 1, 2]
    t1 = (out / "table1.md").read_text()
    assert "complete: 3 of 3" in t1 and "PARTIAL" not in t1
    for label in ("Random mask", "AtMan", "AudioGenX", "floor"):
        assert label in t1
    assert "±" in t1
    csv1 = (out / "table1.csv").read_text().splitlines()
    assert csv1[0].startswith("method,n,fid_f") and len(csv1) == 1 + 1 + 3
    assert b"\r\r" not in (out / "table1.csv").read_bytes()  # CSV line ends written as given
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".lock"]  # no temp files left
    t2 = (out / "table2.md").read_text()
    assert "seconds per explanation" in t2 and "AudioGenX" in t2
    rec = records[0]["methods"]["audiogenx"]
    assert rec["seconds"] > 0 and "peak_mb" in rec and len(rec["words"]) == len(records[0]["words"])
    # a finished run is not redone; other settings are refused
    seen.clear()
    assert run(_args(f, out)) == 0 and seen == []
    assert run(_args(f, out, "--seed", "9")) == 2
    assert "other settings" in capsys.readouterr().err
    # the same model name with other weights (a retrained model) is refused, not mixed in
    retrained = synth_model(seed=1)
    monkeypatch.setattr(models, "load_model", lambda *a, **k: retrained)
    assert retrained.fingerprint != tiny_registry.fingerprint
    assert run(_args(f, out)) == 2
    err = capsys.readouterr().err
    assert "other weights" in err and retrained.fingerprint in err and tiny_registry.fingerprint in err
    assert len(store.load_results(out)) == 3


def test_shards_share_one_result(tmp_path, tiny_registry):
    f = tmp_path / "c.txt"
    f.write_text("a dog barks\nrain falls\nthunder rolls\n")
    out = tmp_path / "res"
    assert run(_args(f, out, "--shard", "1/2", "--methods", "random")) == 1  # other shard not done yet
    assert "PARTIAL: 1 of 3" in (out / "table1.md").read_text()
    assert run(_args(f, out, "--shard", "0/2", "--methods", "random")) == 0
    assert [r["index"] for r in store.load_results(out)] == [1, 0, 2]
    assert "complete: 3 of 3" in (out / "table1.md").read_text()
    assert run(_args(f, out, "--shard", "2/2")) == 2


def test_peak_memory_sees_a_freed_allocation():
    import torch
    with memory.PeakMemory() as m:
        x = torch.ones(20_000_000)  # 76 MB
        del x
    assert m.peak_mb > 60


def test_redo_recomputes_only_stale_methods(tmp_path, tiny_registry):
    """After a change of AudioGenX's settings, --redo recomputes it in finished captions, keeps the rest."""
    f = tmp_path / "c.txt"
    f.write_text("a dog barks\nrain falls on a roof\n")
    out = tmp_path / "res"
    assert run(_args(f, out)) == 0
    recs = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert recs[0]["methods"]["audiogenx"]["settings"]["tol"] == 0.02  # resolved defaults are recorded
    # simulate a record made under an older default (and one from before settings were recorded)
    recs[0]["methods"]["audiogenx"]["settings"]["tol"] = 0.01
    recs[0]["methods"]["audiogenx"]["fid_cf"] = 123.0
    del recs[1]["methods"]["audiogenx"]["settings"]
    kept = {i: r["methods"]["atman"] for i, r in enumerate(recs)}
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    settings = json.loads((out / "run.json").read_text())
    assert "61.5" in tables.write_tables(out, recs, ["random", "atman", "audiogenx"], 2, settings)["table1_md"]
    assert run(_args(f, out, "--redo", "audiogenx")) == 0
    new = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(new) == 2
    for i, r in enumerate(new):
        assert r["methods"]["atman"] == kept[i]  # untouched
        assert r["methods"]["audiogenx"]["settings"]["tol"] == 0.02
        assert r["methods"]["audiogenx"]["fid_cf"] != 123.0
    table = (out / "table1.md").read_text()
    assert "61.5" not in table and "AudioGenX minus each method, paired per caption" in table
    assert "| AtMan | " in table.split("paired per caption")[1]
    # nothing stale any more: a second --redo recomputes nothing
    before = (out / "results.jsonl").read_text()
    assert run(_args(f, out, "--redo", "audiogenx")) == 0
    assert (out / "results.jsonl").read_text() == before
    assert run(_args(f, out, "--redo", "rollout")) == 2  # not among --methods


def test_a_run_from_before_the_method_options_resumes_and_other_options_are_refused(tmp_path, capsys, tiny_registry,
                                                                                   monkeypatch):
    f = tmp_path / "c.txt"
    f.write_text("a dog barks\nrain falls\n")
    out = tmp_path / "res"
    assert run(_args(f, out, "--limit", "1")) == 0
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["epochs"] == 2 and run_json["method_params"] == {}
    del run_json["method_params"]  # as an older agx wrote it
    (out / "run.json").write_text(json.dumps(run_json))
    real, seen = protocol.evaluate_caption, []
    monkeypatch.setattr(protocol, "evaluate_caption",
                        lambda model, cap, i, *a, **k: seen.append(cap) or real(model, cap, i, *a, **k))
    assert run(_args(f, out)) == 0 and seen == ["rain falls"]
    capsys.readouterr()
    assert run(_args(f, out, "--atman-chunk", "4")) == 2
    assert "other settings (method_params)" in capsys.readouterr().err
    assert run(_args(f, out, "--atman-chunk", "0")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --atman-chunk: chunk must be >= 1" in err


def test_audiogenx_modes_are_named_by_their_mode_and_the_old_name_still_works():
    """The teacher-forced mode is 'paper' now: its tables say so, and audiogenx-reference (its old name)
    still runs it, labelled the same way."""
    assert protocol.method_call("audiogenx-paper", {})[1]["mode"] == "paper"
    assert protocol.method_call("audiogenx-reference", {})[1]["mode"] == "paper"
    assert protocol.method_call("audiogenx-reference-code", {"audiogenx": {"epochs": 3}})[1] == {
        "epochs": 3, "mode": "reference-code"}
    assert tables.label("audiogenx-reference") == tables.label("audiogenx-paper") == "AudioGenX (paper mode)"
    assert tables.label("audiogenx-reference-code") == "AudioGenX (reference-code mode)"
    assert protocol.parse_methods("audiogenx-reference,audiogenx-reference-code") == [
        "audiogenx-reference", "audiogenx-reference-code"]


def test_kl_direction_reaches_the_scores_and_is_recorded(tmp_path, capsys, tiny_registry):
    """--kl-direction sample_to_orig gives the reference code's KL(sample ‖ orig), says so in the table,
    and a results folder made with the other direction is not mixed in."""
    from agx_desktop.evaluation import cli, metrics
    assert cli.KL_DIRECTIONS == metrics.KL_DIRECTIONS
    f = tmp_path / "c.txt"
    f.write_text("a dog barks\n")
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(_args(f, a, "--methods", "random")) == 0
    assert run(_args(f, b, "--methods", "random", "--kl-direction", "sample_to_orig")) == 0
    ra, rb = store.load_results(a)[0]["methods"]["random"], store.load_results(b)[0]["methods"]["random"]
    assert ra["fid_f"] == rb["fid_f"] and ra["kl_f"] != rb["kl_f"]  # same samples, the other reading of them
    assert json.loads((b / "run.json").read_text())["kl_direction"] == "sample_to_orig"
    assert "KL(sample ‖ orig)" in (b / "table1.md").read_text()
    assert "KL(orig ‖ sample)" in (a / "table1.md").read_text()
    capsys.readouterr()
    assert run(_args(f, a, "--methods", "random", "--kl-direction", "sample_to_orig")) == 2
    assert "other settings (kl_direction)" in capsys.readouterr().err
