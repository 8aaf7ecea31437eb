"""Loading the bundled model: safetensors round trip, clear errors on missing/corrupt files."""
import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from agx_desktop.engine.bundled import loader
from agx_desktop.engine.errors import CheckpointError

TINY = {"dim": 32, "num_heads": 2, "num_layers": 1, "hidden_scale": 2, "max_duration": 5.0}


@pytest.fixture()
def tiny_folder(tmp_path):
    torch.manual_seed(0)
    lm = loader.build_lm(TINY)
    codec = loader.build_codec()
    torch.nn.init.normal_(codec.codebooks)
    save_file({k: v.contiguous() for k, v in lm.state_dict().items()}, str(tmp_path / loader.LM_NAME))
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()}, str(tmp_path / loader.CODEC_NAME))
    (tmp_path / loader.CONFIG_NAME).write_text(json.dumps({"lm": TINY}))
    return tmp_path, lm


def test_round_trip(tiny_folder):
    folder, lm = tiny_folder
    assert loader.weights_present(folder)
    model = loader.load_bundled_model(folder=folder)
    for k, v in lm.state_dict().items():
        assert torch.equal(model.lm.state_dict()[k], v), k
    assert model.name == "bundled" and model.sample_rate == 16000 and model.frame_rate == 25
    assert model.max_duration == 5.0
    assert not model.lm.training and not model.compression_model.training
    assert model.lm.condition_provider.conditioners["description"].max_tokens == 64
    for layer in model.lm.transformer.layers:
        ca = layer.cross_attention
        assert ca.custom and not ca.memory_efficient and not hasattr(ca, "in_proj_bias") or ca.in_proj_bias is None
    model.set_generation_params(duration=0.4)
    wav = model.generate(["a dog barks then a bell rings"])
    assert wav.shape == (1, 1, 6400)


def test_missing_file_names_it_and_how_to_restore(tiny_folder):
    folder, _ = tiny_folder
    (folder / loader.LM_NAME).unlink()
    assert not loader.weights_present(folder)
    with pytest.raises(CheckpointError) as e:
        loader.load_bundled_model(folder=folder)
    msg = str(e.value)
    assert loader.LM_NAME in msg and "git checkout resources/bundled" in msg and "\n" not in msg


@pytest.mark.parametrize("name", [loader.LM_NAME, loader.CODEC_NAME, loader.CONFIG_NAME])
def test_corrupt_file(tiny_folder, name):
    folder, _ = tiny_folder
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError) as e:
        loader.load_bundled_model(folder=folder)
    assert name in str(e.value) and "reinstall" in str(e.value)


def test_pickle_is_never_loaded(tiny_folder):
    folder, _ = tiny_folder
    torch.save({"x": torch.zeros(1)}, folder / loader.LM_NAME)  # a pickle in place of safetensors
    with pytest.raises(CheckpointError):
        loader.load_bundled_model(folder=folder)


def test_bundled_dir_is_in_resources():
    assert loader.BUNDLED_DIR.parts[-2:] == ("resources", "bundled")


@pytest.mark.skipif(not loader.weights_present(), reason="shipped weights not present")
def test_shipped_model_loads_and_copy_is_checked(tmp_path):
    dst = tmp_path / "bundled"
    shutil.copytree(loader.BUNDLED_DIR, dst)
    model = loader.load_bundled_model(folder=dst)
    model.set_generation_params(duration=0.4)
    assert model.generate(["rain falls"]).shape == (1, 1, 6400)
