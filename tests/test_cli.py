"""``agx`` end to end on the in-process model: generate → explain → interval → regenerate, and errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_generate_explain_interval_regenerate(cli, tmp_path):
    take = tmp_path / "dog"
    code, out, _ = cli("generate", "a dog barks then a bell rings", "--duration", 1, "--seed", 5, "--out", take)
    assert code == 0 and "untrained" in out
    assert {"audio.wav", "take.json", "tensors.safetensors"} <= set(os.listdir(take))
    assert json.loads((take / "take.json").read_text())["seed"] == 5

    code, out, _ = cli("explain", take, "--epochs", 2)
    assert code == 0 and "importance over whole clip" in out
    doc = json.loads((take / "explanation.json").read_text())
    assert doc["words"] == ["a", "dog", "barks", "then", "a", "bell", "rings"] and doc["interval"] is None
    assert doc["params"]["epochs"] == 2

    code, out, _ = cli("explain", take, "--interval", 0.2, 0.6)  # re-uses the stored masks
    doc2 = json.loads((take / "explanation.json").read_text())
    assert code == 0 and doc2["interval"] == [0.2, 0.6] and doc2["step_masks"] == doc["step_masks"]
    code, out, _ = cli("explain", take, "--epochs", 2, "--interval", 0.1, 0.5)  # the same settings: re-used
    doc3 = json.loads((take / "explanation.json").read_text())
    assert code == 0 and doc3["step_masks"] == doc["step_masks"] and doc3["interval"] == [0.1, 0.5]
    code, out, _ = cli("explain", take, "--epochs", 1)  # another setting asked for: explained again, not re-used
    doc4 = json.loads((take / "explanation.json").read_text())
    assert code == 0 and doc4["params"]["epochs"] == 1 and doc4["extras"]["epochs_run"] == 1

    for variant in ("factual", "counterfactual"):
        code, out, _ = cli("regenerate", take, "--variant", variant, "--out", tmp_path / variant)
        assert code == 0 and json.loads((tmp_path / variant / "take.json").read_text())["kind"] == variant
    code, out, _ = cli("regenerate", take, "--weights", "dog=0", "bell=2", "--out", tmp_path / "w")
    meta = json.loads((tmp_path / "w" / "take.json").read_text())
    assert code == 0 and meta["word_weights"] == [1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0]


@pytest.mark.parametrize("args,message", [
    (["generate", "   ", "--out", "{tmp}/x"], "prompt is empty"),
    (["generate", "rain", "--duration", "0", "--out", "{tmp}/x"], "above 0"),
    (["generate", "rain", "--duration", "99", "--out", "{tmp}/x"], "maximum"),
    (["generate", "rain", "--model", "nope/model", "--out", "{tmp}/x"], "unknown model"),
    (["generate", "rain", "--weights", "snow=0", "--out", "{tmp}/x"], "not a word of the prompt"),
    (["explain", "{tmp}"], "not a take folder"),
    (["explain", "{tmp}/missing"], "not a folder"),
])
def test_bad_input_exits_2_with_one_line(cli, tmp_path, args, message):
    code, out, err = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert code == 2
    assert err.startswith("agx: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_explain_with_another_model_or_method_or_interval(cli, tmp_path):
    take = tmp_path / "t"
    assert cli("generate", "wind", "--duration", 0.5, "--out", take)[0] == 0
    code, _, err = cli("explain", take, "--model", "facebook/audiogen-medium", "--epochs", 1)
    assert code == 2 and "made by model 'bundled'" in err
    code, _, err = cli("explain", take, "--method", "lime")
    assert code == 2 and "audiogenx" in err
    code, _, err = cli("explain", take, "--interval", 0.4, 0.1, "--epochs", 1)
    assert code == 2 and "before its end" in err
    assert not (take / "explanation.json").exists()


def test_console_script_help_and_models():
    agx = Path(sys.executable).parent / "agx"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([str(agx), "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "generate" in out.stdout and "explain" in out.stdout
    out = subprocess.run([str(agx), "models", "--offline"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "bundled" in out.stdout and "facebook/audiogen-medium" in out.stdout
    assert "Traceback" not in out.stderr


def test_quiet_prints_no_bar_at_all(tmp_path):
    """--quiet: not ours, and not the libraries' either (transformers' "Loading weights" bar for the text
    encoder was printed before); the command's result line only."""
    agx = Path(sys.executable).parent / "agx"
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    env.update(HF_HUB_OFFLINE="1", AGX_DATA_DIR=str(tmp_path / "data"))
    out = subprocess.run([str(agx), "--quiet", "generate", "wind", "--duration", "0.5", "--out", str(tmp_path / "t")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.startswith("wrote ")
    assert out.stderr == ""


def test_explain_by_occlusion_and_its_bad_draws(cli, tmp_path):
    take = tmp_path / "t"
    assert cli("generate", "wind then rain", "--duration", 0.5, "--out", take)[0] == 0
    code, out, _ = cli("explain", take, "--method", "occlusion", "--draws", 1)
    doc = json.loads((take / "explanation.json").read_text())
    assert code == 0 and doc["method"] == "occlusion" and doc["params"]["draws"] == 1
    assert doc["extras"]["reproduced"] is True and "importance over whole clip" in out
    code, _, err = cli("explain", take, "--method", "occlusion", "--draws", 0, "--retrain")
    assert code == 2 and "draws must be" in err and err.count("\n") == 1
    code, out, _ = cli("explain", take, "--method", "occlusion", "--coalitions", "shapley", "--permutations", 2,
                       "--retrain")
    doc = json.loads((take / "explanation.json").read_text())
    assert code == 0 and doc["params"]["coalitions"] == "shapley" and doc["params"]["permutations"] == 2
    assert doc["extras"]["reproduced"] is True
    code, _, err = cli("explain", take, "--method", "occlusion", "--coalitions", "shapley", "--permutations", 0,
                       "--retrain")
    assert code == 2 and "permutations must be" in err


def test_options_of_another_method_are_named_as_ignored(cli, tmp_path):
    """--epochs trains AudioGenX; word deletion trains nothing: the explanation is made, and one note says
    the option was not used (silently dropping it would let a user believe it was)."""
    take = tmp_path / "t"
    assert cli("generate", "wind then rain", "--duration", 0.5, "--out", take)[0] == 0
    code, _, err = cli("explain", take, "--method", "deletion", "--epochs", 5, "--mode", "paper")
    doc = json.loads((take / "explanation.json").read_text())
    assert code == 0 and doc["method"] == "deletion" and "epochs" not in doc["params"]
    assert "--epochs, --mode do not apply to --method deletion; ignored" in err
    code, _, err = cli("explain", take, "--method", "deletion", "--retrain")
    assert code == 0 and "do not apply" not in err and "does not apply" not in err
    code, _, err = cli("explain", take, "--epochs", 2, "--retrain")  # AudioGenX's own option: no note
    assert code == 0 and "apply" not in err


def test_bad_explainer_settings_exit_2(cli, tmp_path):
    take = tmp_path / "t"
    assert cli("generate", "wind", "--duration", 0.5, "--out", take)[0] == 0
    code, _, err = cli("explain", take, "--epochs", 0)
    assert code == 2 and "epochs must be >= 1" in err and err.count("\n") == 1
    assert not (take / "explanation.json").exists()


def test_generate_samples_with_the_models_defaults_unless_told(cli, tmp_path, monkeypatch):
    """Sampling flags left out take the model's recommendation (bundled ships temperature 0.8 in its
    config.json); flags given, 0 included, win."""
    from agx_desktop.engine.models import load_model

    def params(name, *flags):
        assert cli("generate", "wind", "--duration", 0.5, "--out", tmp_path / name, *flags)[0] == 0
        return json.loads((tmp_path / name / "take.json").read_text())["params"]

    p = params("plain")
    assert (p["temperature"], p["top_k"], p["cfg_coef"]) == (1.0, 250, 3.0)  # the stand-in: audiocraft's
    model = load_model("bundled")  # the cached model the CLI uses
    monkeypatch.setitem(model.gen.generation_params, "temp", 0.8)
    monkeypatch.setitem(model.gen.generation_params, "top_k", 50)
    p = params("model")
    assert (p["temperature"], p["top_k"]) == (0.8, 50)
    p = params("mine", "--temperature", 1.2, "--top-k", 0, "--cfg", 2)
    assert (p["temperature"], p["top_k"], p["cfg_coef"]) == (1.2, 0, 2.0)
