"""Model registry: ids, local checkpoints in the hub's layout, safe loading, offline errors."""
from __future__ import annotations

import pickle
import time

import pytest
import torch

from agx_desktop.engine import models
from agx_desktop.engine.errors import CheckpointError, ModelUnavailableError, UnknownModelError
from agx_desktop.engine.generation import generate
from agx_desktop.engine.take import GenerationParams
from checkpoint_layout import write_hub_layout_checkpoint


def test_list_models_names_every_source():
    rows = {r.id: r for r in models.list_models(check_network=False)}
    assert rows["bundled"].trained and rows["bundled"].source.startswith("resources/bundled")
    assert rows["stand-in"].usable and not rows["stand-in"].trained  # listed by its own id, never as 'bundled'
    assert "untrained" in rows["stand-in"].description
    for hub_id in ("facebook/audiogen-medium", "facebook/musicgen-small"):
        assert hub_id in rows and rows[hub_id].source.startswith("Hugging Face")


def test_stand_in_is_deterministic():
    a = models.load_model("stand-in", "cpu", use_cache=False)
    b = models.load_model("stand-in", "cpu", use_cache=False)
    assert not a.trained and a.id == "stand-in"
    for pa, pb in zip(a.lm.state_dict().values(), b.lm.state_dict().values()):
        assert torch.equal(pa, pb)


def test_unknown_model_lists_known_ids():
    with pytest.raises(UnknownModelError) as err:
        models.load_model("facebook/nope")
    assert "bundled" in str(err.value) and "facebook/audiogen-medium" in str(err.value)


def test_hub_model_offline_fails_fast_with_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache
    monkeypatch.setattr(models, "_hf_cached", lambda repo, f: False)
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        models.load_model("facebook/audiogen-medium", use_cache=False)
    assert time.perf_counter() - start < 5
    msg = str(err.value)
    assert "\n" not in msg and "facebook/audiogen-medium" in msg and "t5-large" in msg and "download" in msg


def test_local_checkpoint_round_trip_in_hub_layout(tmp_path):
    """A folder in audiocraft's layout loads through our safe loader and through audiocraft's own."""
    from audiocraft.models.loaders import load_lm_model

    folder = tmp_path / "ckpt"
    write_hub_layout_checkpoint(folder, seed=1)
    model = models.load_model(str(folder), "cpu", use_cache=False)
    theirs = load_lm_model(str(folder), device="cpu")
    for (k, a), (k2, b) in zip(model.lm.state_dict().items(), theirs.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    take = generate(model, "wind howls", GenerationParams(duration=0.5, seed=3, top_k=8))
    assert take.audio.shape == (1, 8000) and take.model_id == str(folder)
    assert models.is_local_checkpoint(str(folder))


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="state_dict.bin is missing"):
        models.load_model(str(tmp_path), use_cache=False)
    (tmp_path / "state_dict.bin").write_bytes(b"not a checkpoint at all")
    (tmp_path / "compression_state_dict.bin").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        models.load_model(str(tmp_path), use_cache=False)


class Evil:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


def test_pickled_code_is_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"xp.cfg": {}, "best_state": {}, "x": Evil()}, tmp_path / "state_dict.bin", pickle_protocol=2)
    torch.save({"xp.cfg": {}, "best_state": {}}, tmp_path / "compression_state_dict.bin")
    with pytest.raises(CheckpointError):
        models.load_model(str(tmp_path), use_cache=False)
    assert not (tmp_path / "PWNED").exists()


def test_device_choice(monkeypatch):
    monkeypatch.delenv("AGX_DEVICE", raising=False)
    assert models.choose_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert models.choose_device().type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert models.choose_device().type == "cuda"
    monkeypatch.setenv("AGX_DEVICE", "cpu")
    assert models.choose_device().type == "cpu"


def test_mps_keeps_the_codec_on_cpu():
    assert models.codec_device_for(torch.device("mps")).type == "cpu"
    assert models.codec_device_for(torch.device("cuda")).type == "cuda"
    assert models.codec_device_for(torch.device("cpu")).type == "cpu"


def test_cached_hub_model_loads_offline_with_its_t5(tmp_path):
    """facebook/audiogen-medium + t5-large in the local HF cache (tiny, real formats) load offline.

    Runs in a subprocess: huggingface_hub reads HF_HUB_CACHE when it is imported.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = f"""
import sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
import hub_cache
hub_cache.populate({str(tmp_path)!r})
from agx_desktop.engine.models import load_model, list_models
rows = {{r.id: r for r in list_models(check_network=False)}}
assert rows['facebook/audiogen-medium'].usable, rows['facebook/audiogen-medium']
start = time.perf_counter()
stages = []
m = load_model('facebook/audiogen-medium', progress=lambda what, i, n: stages.append(what))
print('LOAD_SECONDS', time.perf_counter() - start)
print('STAGES', '|'.join(stages))
from agx_desktop.engine.generation import generate
from agx_desktop.engine.take import GenerationParams
from agx_desktop.engine.explain import explain
take = generate(m, 'a dog barks then a bell rings', GenerationParams(duration=0.5, top_k=16))
print('TOKENS', take.text.tokens)
print('TOKEN_WORD', take.text.token_word)
ex = explain(m, take, epochs=2)
print('WORDS', len(ex.word_importance()))
# the T5 lives outside the module tree: moving the model must take it (and tokenize's device) along
import torch
from agx_desktop.engine.models import LoadedModel
cond = m.lm.condition_provider.conditioners['description']
moved = LoadedModel('x', m.gen, torch.device('meta'))
print('T5_MOVED', next(cond.t5.parameters()).device, cond.device, moved.lm.condition_provider.device)
"""
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "0"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    assert float(lines["LOAD_SECONDS"]) < 30  # no network waits
    assert "'▁dog'" in lines["TOKENS"] or "'dog'" in lines["TOKENS"]
    assert "None" in lines["TOKEN_WORD"] and "6" in lines["TOKEN_WORD"]  # </s> has no word; 'rings' is word 6
    assert lines["WORDS"] == "7"
    assert lines["T5_MOVED"] == "meta meta meta"
    assert lines["STAGES"].split("|") == ["finding state_dict.bin", "finding compression_state_dict.bin",
                                          "reading state_dict.bin", "reading compression_state_dict.bin",
                                          "building the compression model",
                                          "building the language model and text encoder", "moving to cpu",
                                          "model ready"]


def test_musicgen_checkpoint_explains_like_audiogen(tmp_path):
    """MusicGen has the same LM architecture: loading, generation and the explainer work unchanged."""
    from audiocraft.models import MusicGen
    from agx_desktop.engine.explain import explain

    folder = tmp_path / "musicgen"
    write_hub_layout_checkpoint(folder, seed=4, solver="musicgen", sample_rate=32000)
    model = models.load_model(str(folder), "cpu", use_cache=False)
    assert isinstance(model.gen, MusicGen) and model.sample_rate == 32000 and model.max_duration == 2.0
    take = generate(model, "lofi piano", GenerationParams(duration=0.5, seed=1, top_k=8))
    assert take.audio.shape == (1, 16000)
    ex = explain(model, take, epochs=2)
    assert ex.step_masks.shape == (take.latents.shape[0], len(take.text.tokens))


def test_shipped_bundled_model_refuses_prompts_it_would_truncate():
    from agx_desktop.engine.bundled.loader import weights_present
    from agx_desktop.engine.errors import PromptError

    if not weights_present():
        pytest.skip("resources/bundled weights are not in this checkout")
    model = models.load_model("bundled", "cpu")
    assert model.trained
    limit = model.max_text_tokens
    with pytest.raises(PromptError, match=f"at most {limit}"):
        model.text_tokens(" ".join(["rain"] * (limit + 5)))
    tokens = model.text_tokens("A dog barks then a bell rings")
    assert tokens.words[tokens.token_word[3]] == "barks" and tokens.token_word[0] is None  # [CLS]


def test_default_params_follow_the_model(tiny_model, monkeypatch):
    """audiocraft's generation_params → GenerationParams; greedy models sample at temperature 0."""
    d = tiny_model.default_params(duration=1.0, seed=4)
    assert (d.duration, d.seed, d.top_k, d.temperature, d.cfg_coef) == (1.0, 4, 250, 1.0, 3.0)
    assert tiny_model.default_params(temperature=0.5, top_k=None).temperature == 0.5
    monkeypatch.setitem(tiny_model.gen.generation_params, "use_sampling", False)
    assert tiny_model.default_params().temperature == 0.0


def test_bundled_default_sampling_is_its_config():
    from agx_desktop.engine.bundled import loader
    if not loader.weights_present():
        pytest.skip("shipped weights not present")
    d = models.load_model("bundled", "cpu", use_cache=False).default_params()
    g = loader.read_config()["generation"]
    assert (d.temperature, d.top_k, d.cfg_coef) == (g["temperature"], g["top_k"], g["cfg_coef"]) == (0.8, 0, 3.0)


def test_load_reports_each_stage_and_can_be_cancelled_between_them(tmp_path):
    """A load says what it is doing (reading, building, moving) and stops at the next stage when
    cancelled: the cache then holds nothing, and a later load of the same folder works."""
    from agx_desktop.engine.errors import Cancelled
    from agx_desktop.engine.progress import CancelToken

    folder = tmp_path / "ckpt"
    write_hub_layout_checkpoint(folder, seed=2)
    seen: list[tuple[str, int, int]] = []
    model = models.load_model(str(folder), "cpu", use_cache=False, progress=lambda *a: seen.append(a))
    assert [s[0] for s in seen] == ["reading state_dict.bin", "reading compression_state_dict.bin",
                                    "building the compression model",
                                    "building the language model and text encoder", "moving to cpu", "model ready"]
    assert [s[1] for s in seen] == [0, 1, 2, 3, 4, 5] and {s[2] for s in seen} == {5}
    assert model.lm is not None

    token = CancelToken()

    def cancel_while_building(what: str, done: int, total: int) -> None:
        if what.startswith("building the compression"):
            token.cancel()  # the user presses Cancel while the codec is being built
    key = (str(folder), "cpu")
    models._CACHE.pop(key, None)
    with pytest.raises(Cancelled):
        models.load_model(str(folder), "cpu", progress=cancel_while_building, cancel=token)
    assert key not in models._CACHE
    again = models.load_model(str(folder), "cpu")
    assert models._CACHE[key] is again
    models._CACHE.pop(key, None)


def test_bundled_load_reports_its_stages():
    from agx_desktop.engine.bundled import loader
    if not loader.weights_present():
        pytest.skip("shipped weights not present")
    seen: list[tuple[str, int, int]] = []
    models.load_model("bundled", "cpu", use_cache=False, progress=lambda *a: seen.append(a))
    assert [s[0] for s in seen] == ["reading the weights", "building the language model and text encoder",
                                    "building the compression model", "moving to cpu", "model ready"]
    assert seen[-1][1:] == (4, 4)


def test_max_duration_before_a_model_is_loaded():
    """The duration range the app offers while a model loads: its family's longest clip."""
    assert models.max_duration("facebook/audiogen-medium") == 10.0
    assert models.max_duration("facebook/musicgen-small") == 30.0
    assert models.max_duration(models.BUNDLED_ID) == 10.0
    assert models.max_duration("/some/checkpoint/folder") == 10.0
