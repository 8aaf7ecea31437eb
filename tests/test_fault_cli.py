"""The tamper and fault cases of issue 15 at the CLI/engine boundary, each with the line a user sees.

A handful run through the real console script (``.venv/bin/agx`` in a subprocess: exit code 2,
exactly one stderr line, no "Traceback"); the rest in-process on the untrained stand-in model.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agx_desktop.engine import limits, models, take_folder
from agx_desktop.evaluation import store
from agx_desktop.engine.cli import run
from agx_desktop.engine.errors import CheckpointError, DurationError, ExplanationError, ParameterError, PromptError
from checkpoint_layout import write_hub_layout_checkpoint

AGX = Path(sys.executable).parent / "agx"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "AGX_THREADS": "1"}


def one_error_line(err: str) -> str:
    assert err.startswith("agx: error: ") and err.count("\n") == 1, err
    return err


def strict_json(path: Path):
    def refuse(name):
        raise AssertionError(f"{path} holds {name}")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.fixture
def take(cli, tmp_path):
    """A take made by the stand-in model (no explanation yet)."""
    folder = tmp_path / "dog"
    code, _, err = cli("generate", "a dog barks then a bell rings", "--duration", 0.5, "--seed", 3, "--out", folder)
    assert code == 0, err
    return folder


def _edit_meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / "take.json").read_text())
    meta.update(changes)
    (folder / "take.json").write_text(json.dumps(meta))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- numbers (item 3)

def test_edge_values_in_range_generate_a_strict_json_take(cli, tmp_path):
    out = tmp_path / "edge"
    code, _, err = cli("generate", "a dog barks", "--duration", 0.5, "--seed", limits.MAX_SEED, "--temperature", 0,
                       "--cfg", 0, "--top-p", 1, "--top-k", 0, "--weights", f"dog={limits.MAX_WORD_WEIGHT:g}",
                       "--out", out)
    assert code == 0, err
    meta = strict_json(out / "take.json")
    assert meta["params"] == {"duration": 0.5, "seed": limits.MAX_SEED, "top_k": 0, "top_p": 1.0,
                              "temperature": 0.0, "cfg_coef": 0.0}
    assert meta["word_weights"] == [1.0, limits.MAX_WORD_WEIGHT, 1.0]


@pytest.mark.parametrize("args,message", [
    (["--cfg", "nan"], "guidance (cfg) must be a finite number from 0 to 100, got nan"),
    (["--cfg", "1e300"], "got 1e+300"),
    (["--temperature", "inf"], "temperature must be a finite number"),
    (["--temperature", "nan"], "temperature must be a finite number"),
    (["--seed", str(2 ** 70)], f"seed must be an integer from 0 to 2**63-1 (9223372036854775807), got {2 ** 70}"),
    (["--weights", "dog=inf"], "the weight of 'dog' must be a finite number >= 0 and <= 10"),
    (["--weights", "dog=nan"], "the weight of 'dog'"),
    (["--weights", "dog=1e300"], "the weight of 'dog'"),
    (["--duration", "inf"], "duration must be a finite number of seconds above 0"),
])
def test_bad_numbers_are_refused_before_the_model_loads(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    code, _, err = cli("generate", "a dog barks", *args, "--out", tmp_path / "x")
    assert code == 2 and message in one_error_line(err)
    assert not (tmp_path / "x").exists()


def test_engine_api_refuses_non_finite_values_before_sampling(tiny_model, tiny_take):
    from agx_desktop.engine.explain import explain
    from agx_desktop.engine.generation import generate, regenerate
    from agx_desktop.engine.take import GenerationParams

    for field, value in [("temperature", float("nan")), ("cfg_coef", float("inf")), ("top_p", float("nan")),
                         ("seed", 2 ** 70), ("seed", 1.5), ("top_k", True)]:
        with pytest.raises(ParameterError, match=field.replace("cfg_coef", "cfg").replace("_", "-")):
            generate(tiny_model, "a dog barks", GenerationParams(duration=0.2, **{field: value}))
    with pytest.raises(DurationError, match="finite"):
        generate(tiny_model, "a dog barks", GenerationParams(duration=float("inf")))
    for bad in (float("nan"), float("inf"), 1e300, -1.0):
        with pytest.raises(ParameterError, match="weight of 'dog'"):
            generate(tiny_model, "a dog barks", GenerationParams(duration=0.2), word_weights=[1, bad, 1])
    with pytest.raises(PromptError, match="control characters"):
        generate(tiny_model, "a dog\x1b[2J barks", GenerationParams(duration=0.2))
    with pytest.raises(ParameterError, match="seed"):
        regenerate(tiny_model, tiny_take, "weighted", word_weights=[1.0] * len(tiny_take.words), seed=float("nan"))
    nan_mask = np.full((3, len(tiny_take.text.tokens)), np.nan, dtype=np.float32)
    with pytest.raises(ParameterError, match="finite"):
        generate(tiny_model, tiny_take.prompt, GenerationParams(duration=0.2), step_mask=nan_mask)
    for params, name in [({"epochs": float("nan")}, "epochs"), ({"tau": 0.0}, "tau"), ({"seed": -1}, "seed"),
                         ({"focus": (0.0, float("inf"))}, "focus"), ({"epochs": 10 ** 9}, "epochs")]:
        with pytest.raises(ParameterError, match=name):
            explain(tiny_model, tiny_take, **params)
    with pytest.raises(ParameterError, match="draws"):
        explain(tiny_model, tiny_take, method="occlusion", draws=float("inf"))


def test_an_explainer_that_returns_nan_is_one_line_not_a_nan_file(tiny_model, tiny_take, monkeypatch):
    from agx_desktop.engine import explain as explain_pkg
    real = explain_pkg.METHODS["random"]

    def nan_method(model, take, **kw):
        ex = real(model, take, **kw)
        ex.step_masks = np.full_like(ex.step_masks, np.nan)
        return ex
    monkeypatch.setitem(explain_pkg.METHODS, "random", nan_method)
    with pytest.raises(ExplanationError, match="non-finite"):
        explain_pkg.explain(tiny_model, tiny_take, method="random")


def test_corrupt_weights_give_one_line_not_a_sampler_traceback():
    import torch
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import LoadedModel
    from agx_desktop.engine.take import GenerationParams
    from agx_desktop.engine.standin import build_tiny_model

    gen = build_tiny_model(name="broken", seed=0, dim=32, num_layers=1, card=16, max_duration=4.0)
    with torch.no_grad():
        for p in gen.lm.parameters():
            p.fill_(float("nan"))
    model = LoadedModel("broken", gen, torch.device("cpu"), trained=False)
    with pytest.raises(CheckpointError, match="non-finite"):
        generate(model, "a dog barks", GenerationParams(duration=0.2))


# --------------------------------------------------------------------------- prompts and terminal text

def test_prompt_newlines_become_spaces_and_escapes_are_refused(cli, tmp_path):
    code, _, err = cli("generate", "a dog\nbarks\tloudly", "--duration", 0.5, "--out", tmp_path / "nl")
    assert code == 0, err
    assert strict_json(tmp_path / "nl" / "take.json")["prompt"] == "a dog barks loudly"
    code, _, err = cli("generate", "a dog\x1b]0;pwned\x07 barks", "--out", tmp_path / "esc")
    assert code == 2 and "control characters (\\x1b, \\x07)" in one_error_line(err) and "\x1b" not in err
    assert not (tmp_path / "esc").exists()


def test_words_with_terminal_escapes_in_a_tampered_take_are_shown_escaped(cli, take, capsys):
    from agx_desktop.engine.models import load_model
    evil = "a dog\x1b]0;pwned\x07 barks\x1b[2J then\u202e a bell rings"
    tampered = take_folder.load_take(take)
    model = load_model("bundled")
    tampered = dataclasses.replace(tampered, prompt=evil, text=model.text_tokens(evil))
    take_folder.save_take(tampered, take)
    code, out, err = cli("explain", take, "--method", "random")
    assert code == 0, err
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in out and raw not in err
    assert "\\x1b]0;pwned\\x07" in out and "\\u202e" in out
    # regenerating it refuses the prompt in one line instead of sampling from it
    code, _, err = cli("regenerate", take, "--weights", "1=0", "--out", take.parent / "again")
    assert code == 2 and "control characters" in one_error_line(err) and "\x1b" not in err


# --------------------------------------------------------------------------- explanations (item 4)

@pytest.mark.parametrize("content", ["{", "[]", '{"method": 3}', "garbage \x00\xff",
                                     "NaN-masks"])
def test_a_damaged_explanation_is_explained_again(cli, take, content):
    assert cli("explain", take, "--method", "random")[0] == 0
    path = take / "explanation.json"
    if content == "NaN-masks":
        doc = json.loads(path.read_text())
        doc["step_masks"][0][0] = float("nan")
        content = json.dumps(doc)  # Python writes NaN: not JSON
    path.write_text(content, encoding="utf-8", errors="surrogateescape")
    code, out, err = cli("explain", take, "--method", "random")
    assert code == 0, err
    assert "explaining again" in err and "importance over whole clip" in out
    doc = strict_json(path)  # rewritten, strict
    assert doc["method"] == "random" and np.isfinite(np.asarray(doc["step_masks"], dtype=float)).all()


def test_regenerate_factual_before_explaining_says_to_explain(cli, take, monkeypatch):
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    for variant in ("factual", "counterfactual"):
        code, _, err = cli("regenerate", take, "--variant", variant, "--out", take.parent / variant)
        assert code == 2 and f"run `agx explain {take}` first" in one_error_line(err)
        assert not (take.parent / variant).exists()


def test_regenerate_with_a_damaged_explanation_is_one_line(cli, take, monkeypatch):
    assert cli("explain", take, "--method", "random")[0] == 0
    (take / "explanation.json").write_text("{")
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    code, _, err = cli("regenerate", take, "--variant", "factual", "--out", take.parent / "f")
    assert code == 2 and "explanation.json" in one_error_line(err) and "agx explain" in err
    assert not (take.parent / "f").exists()


# --------------------------------------------------------------------------- the take's model field (item 5)

def test_a_take_naming_a_model_folder_needs_it_named_on_the_command_line(cli, take, tmp_path, monkeypatch):
    elsewhere = tmp_path / "some_folder"
    elsewhere.mkdir()
    _edit_meta(take, model=str(elsewhere))
    before = _snapshot(take)
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    want = f"this take was made by the model folder {elsewhere}; to load it, say so: --model {elsewhere}"
    code, _, err = cli("explain", take, "--method", "random")
    assert code == 2 and want in one_error_line(err)
    code, _, err = cli("regenerate", take, "--weights", "dog=0", "--out", tmp_path / "r")
    assert code == 2 and want in one_error_line(err)
    code, _, err = cli("explain", take, "--method", "random", "--model", tmp_path / "other")
    assert code == 2 and "not" in one_error_line(err) and f"--model {elsewhere}" in err
    assert _snapshot(take) == before and not (tmp_path / "r").exists()


def test_a_take_of_a_model_folder_explains_and_regenerates_when_named(cli, tmp_path):
    ckpt = tmp_path / "ckpt"
    write_hub_layout_checkpoint(ckpt)
    take = tmp_path / "t"
    assert cli("generate", "wind", "--model", ckpt, "--duration", 0.5, "--out", take)[0] == 0
    code, _, err = cli("explain", take, "--method", "random")
    assert code == 2 and f"--model {ckpt}" in one_error_line(err)
    code, out, err = cli("explain", take, "--method", "random", "--model", ckpt)
    assert code == 0 and "importance over whole clip" in out, err
    code, _, err = cli("regenerate", take, "--variant", "factual", "--model", ckpt, "--out", tmp_path / "f")
    assert code == 0, err
    assert strict_json(tmp_path / "f" / "take.json")["kind"] == "factual"


# --------------------------------------------------------------------------- evaluate (item 7)

@pytest.fixture
def captions(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("a dog barks\nrain falls\n")
    return f


def _eval(captions, out, *extra):
    return ["evaluate", captions, "--out", out, "--methods", "random", "--samples", 2, "--duration", 0.5,
            "--classifier", "_eval_helpers:make_classifier", *extra]


@pytest.fixture
def finished_run(cli, captions, tmp_path, monkeypatch):
    from _eval_helpers import synth_model
    model = synth_model()
    monkeypatch.setattr(models, "load_model", lambda *a, **k: model)
    out = tmp_path / "res"
    code, _, err = cli(*_eval(captions, out))
    assert code == 0, err
    return out


@pytest.mark.parametrize("damage,message", [
    (lambda out: (out / "run.json").write_text("{"), "run.json is damaged"),
    (lambda out: (out / "run.json").write_text("[1, 2]"), "run.json is damaged (not a JSON object)"),
    (lambda out: (out / "results.jsonl").write_text(
        (out / "results.jsonl").read_text().replace('"index": 1, ', "")), "line 2 is not a result record (no 'index')"),
    (lambda out: (out / "results.jsonl").write_text("hello\n" + (out / "results.jsonl").read_text()),
     "line 1 is not JSON"),
    (lambda out: (out / "results.jsonl").write_text(
        (out / "results.jsonl").read_text().replace('"fid_f": ', '"fid_f": "x", "was": ', 1)),
     "lacks numbers for fid_f"),
])
def test_evaluate_refuses_damaged_results_in_one_line_and_keeps_them(cli, captions, finished_run, monkeypatch,
                                                                     damage, message):
    damage(finished_run)
    before = _snapshot(finished_run)
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    code, _, err = cli(*_eval(captions, finished_run))
    assert code == 2 and message in one_error_line(err) and "--restart" in err
    assert _snapshot(finished_run) == before


def test_evaluate_out_a_file_is_one_line(cli, captions, tmp_path):
    f = tmp_path / "results_file"
    f.write_text("mine\n")
    code, _, err = cli(*_eval(captions, f))
    assert code == 2 and "is a file, not a results folder" in one_error_line(err)
    assert f.read_text() == "mine\n"
    code, _, err = cli(*_eval(captions, f / "below"))
    assert code == 2 and "is a file" in one_error_line(err)


def test_evaluate_drops_a_torn_last_line_with_a_notice_and_resumes(cli, captions, finished_run):
    lines = (finished_run / "results.jsonl").read_text().splitlines(keepends=True)
    (finished_run / "results.jsonl").write_text(lines[0] + lines[1][:40])  # crash while writing caption 2
    code, _, err = cli(*_eval(captions, finished_run))
    assert code == 0, err
    assert "dropped 1 incomplete line" in err and "resuming" in err
    records = store.load_results(finished_run)
    assert [r["index"] for r in records] == [0, 1]
    assert json.loads(lines[0]) == records[0]  # the finished caption was kept, not recomputed


# --------------------------------------------------------------------------- the safety net

def test_an_unexpected_error_is_one_internal_error_line(cli, tmp_path, monkeypatch, capsys):
    def boom(*a, **k):
        raise RuntimeError("something broke\nbadly \x1b[2J")
    monkeypatch.setattr(models, "list_models", boom)
    code, _, err = cli("models", "--offline")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("agx: internal error: RuntimeError: something broke\\x0abadly \\x1b[2J (please report; "
                          "run with AGX_DEBUG=1 for the traceback)")
    monkeypatch.setenv("AGX_DEBUG", "1")
    assert run(["models"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith("for the traceback)")


# --------------------------------------------------------------------------- the real console script

def test_console_script_faults_are_one_line_each(cli, take, tmp_path):
    """Through `.venv/bin/agx`: exit 2, exactly one stderr line, no traceback, nothing written.

    Argument errors return before torch is imported (fast); the two take-folder cases import the
    engine, so they run side by side."""
    work = tmp_path / "work"
    work.mkdir()
    tampered = tmp_path / "tampered"
    assert cli("generate", "rain", "--duration", 0.5, "--out", tampered)[0] == 0
    _edit_meta(tampered, model="/tmp/\x1b]0;pwned\x07")
    cases = [
        (["generate", "a dog barks", "--cfg", "nan", "--out", work / "x"], "guidance (cfg) must be a finite number"),
        (["generate", "a dog barks", "--seed", str(2 ** 70), "--out", work / "x"],
         "seed must be an integer from 0 to 2**63-1 (9223372036854775807), got 1180591620717411303424"),
        (["generate", "a dog barks", "--weights", "dog=inf", "--out", work / "x"], "the weight of 'dog'"),
        (["generate", "a dog\x1b[2J barks", "--out", work / "x"], "control characters (\\x1b)"),
        (["regenerate", take, "--variant", "factual", "--out", work / "x"], f"run `agx explain {take}` first"),
        (["explain", tampered], "to load it, say so: --model /tmp/\\x1b]0;pwned\\x07"),
    ]
    procs = [(args, message, subprocess.Popen([str(AGX), "--quiet", *map(str, args)], stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True, env=ENV))
             for args, message in cases]
    for args, message, proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 2, (args, err)
        assert "Traceback" not in err and "\x1b" not in err
        assert message in one_error_line(err), (args, err)
    assert list(work.iterdir()) == []
