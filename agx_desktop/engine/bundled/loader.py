"""Assemble and load the bundled model (resources/bundled/) from audiocraft's own classes.

Files (all safetensors, never pickle):
  config.json          architecture + codec + training provenance
  lm.safetensors       LMModel state dict (includes the conditioner's output projection)
  codec.safetensors    MelKMeansCodec buffers (normalisation, residual codebooks)
  classifier.safetensors  the world's event classifier (see classifier.py)
"""
from __future__ import annotations

import json
import pathlib
import typing as tp

import torch

BUNDLED_DIR: pathlib.Path = pathlib.Path(__file__).resolve().parents[3] / "resources" / "bundled"
CONFIG_NAME = "config.json"
LM_NAME = "lm.safetensors"
CODEC_NAME = "codec.safetensors"
CLASSIFIER_NAME = "classifier.safetensors"

DEFAULT_LM_CONFIG: tp.Dict[str, tp.Any] = {
    "n_q": 4, "card": 128, "dim": 192, "num_heads": 4, "num_layers": 4, "hidden_scale": 4,
    "max_tokens": 64, "cfg_coef": 3.0, "max_duration": 10.0,
}

_RESTORE = "restore it with `git checkout resources/bundled` (or reinstall agx-desktop)"


def _errors():
    from agx_desktop.engine.errors import CheckpointError

    return CheckpointError


def weights_present(folder: tp.Optional[pathlib.Path] = None) -> bool:
    folder = pathlib.Path(folder) if folder is not None else BUNDLED_DIR
    return all((folder / n).is_file() for n in (CONFIG_NAME, LM_NAME, CODEC_NAME))


def read_config(folder: tp.Optional[pathlib.Path] = None) -> tp.Dict[str, tp.Any]:
    folder = pathlib.Path(folder) if folder is not None else BUNDLED_DIR
    path = folder / CONFIG_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise _errors()(f"bundled model config missing: {path}; {_RESTORE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _errors()(f"bundled model config is corrupt: {path} ({e.__class__.__name__}); {_RESTORE}") from None


def load_safetensors(path: pathlib.Path) -> tp.Dict[str, torch.Tensor]:
    """Read a safetensors file; a missing or corrupt file raises CheckpointError naming it."""
    from safetensors.torch import load_file

    path = pathlib.Path(path)
    if not path.is_file():
        raise _errors()(f"bundled model weights missing: {path}; {_RESTORE}")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises SafetensorError / OSError on bad headers or truncation
        raise _errors()(f"bundled model weights are corrupt: {path} ({e.__class__.__name__}); {_RESTORE}") from None


def build_lm(cfg: tp.Dict[str, tp.Any], cfg_dropout: float = 0.0):
    """A fresh (untrained) LMModel with the bundled architecture."""
    from audiocraft.models.lm import LMModel
    from audiocraft.modules.codebooks_patterns import DelayedPatternProvider
    from audiocraft.modules.conditioners import ConditionFuser, ConditioningProvider

    from .conditioner import MiniLMConditioner

    c = {**DEFAULT_LM_CONFIG, **cfg}
    cond = MiniLMConditioner(output_dim=c["dim"], max_tokens=c["max_tokens"])
    provider = ConditioningProvider({"description": cond})
    fuser = ConditionFuser(fuse2cond={"cross": ["description"], "prepend": [], "sum": []})
    pattern = DelayedPatternProvider(n_q=c["n_q"], delays=[0, 1, 2, 3][: c["n_q"]])
    lm = LMModel(pattern, provider, fuser, n_q=c["n_q"], card=c["card"], dim=c["dim"],
                 num_heads=c["num_heads"], num_layers=c["num_layers"], hidden_scale=c["hidden_scale"],
                 norm="layer_norm", norm_first=True, bias_proj=True, bias_ff=True, bias_attn=False,
                 cross_attention=True, causal=True, custom=True, memory_efficient=False,
                 positional_embedding="sin", dropout=0.0,
                 cfg_dropout=cfg_dropout, cfg_coef=c["cfg_coef"], two_step_cfg=False)
    return lm


def build_codec(codec_state: tp.Optional[tp.Dict[str, torch.Tensor]] = None, cfg: tp.Optional[dict] = None):
    from .codec import MelKMeansCodec

    cc = (cfg or {}).get("codec", {})
    codec = MelKMeansCodec(n_q=cc.get("n_q", 4), bins=cc.get("bins", 128), gl_iters=cc.get("gl_iters", 32))
    if codec_state is not None:
        codec.load_state_dict(codec_state)
    return codec


# The app's default sampling for this model (LoadedModel.default_params). No top-k: the codec has only
# 128 codes. Temperature 0.8: at 1.0 the model adds an event nobody named in 6.8% of (caption, event)
# pairs, at 0.8 in 3.6%, with recall 92.1% (model card, 200 held-out captions).
GENERATION_DEFAULTS = {"use_sampling": True, "top_k": 0, "top_p": 0.0, "temperature": 0.8, "cfg_coef": 3.0}


def _clamp_top_k(lm) -> None:
    """audiocraft's default top_k (250) exceeds this model's 128 codes and would crash torch.topk:
    clamp it on this instance (top_k >= card means plain sampling, which is what it asks for)."""
    if "_sample_next_token" in lm.__dict__:
        return
    orig = lm._sample_next_token
    card = lm.card

    def _sample_next_token(*args, **kwargs):
        # signature: (sequence, cfg_conditions, unconditional_state, use_sampling, temp, top_k, ...)
        if len(args) > 5 and args[5] is not None and args[5] > card:
            args = args[:5] + (0,) + args[6:]
        if kwargs.get("top_k") is not None and kwargs["top_k"] > card:
            kwargs["top_k"] = 0
        return orig(*args, **kwargs)

    lm._sample_next_token = _sample_next_token


def assemble(lm, codec, max_duration: float = 10.0, generation: tp.Optional[dict] = None):
    """Wrap LM + codec as ``audiocraft.models.AudioGen(name='bundled')`` in eval mode."""
    from audiocraft.models import AudioGen

    lm.eval()
    codec.eval()
    _clamp_top_k(lm)
    model = AudioGen(name="bundled", compression_model=codec, lm=lm, max_duration=max_duration)
    g = {**GENERATION_DEFAULTS, **(generation or {})}
    model.set_generation_params(duration=min(5.0, max_duration), use_sampling=g["use_sampling"],
                                top_k=g["top_k"], top_p=g["top_p"], temperature=g["temperature"],
                                cfg_coef=g["cfg_coef"])
    return model


def load_bundled_model(device: tp.Union[str, torch.device] = "cpu", folder: tp.Optional[pathlib.Path] = None,
                       step: tp.Callable[[str], None] = lambda what: None):
    """Load the shipped model as an ``audiocraft.models.AudioGen`` (offline, safetensors only).

    ``step`` is called before each of its three stages (progress and cancel: see ``load_model``).

    Raises:
        CheckpointError: a weights/config file is missing or corrupt (message names the file).
    """
    folder = pathlib.Path(folder) if folder is not None else BUNDLED_DIR
    step("reading the weights")
    cfg = read_config(folder)
    lm_state = load_safetensors(folder / LM_NAME)
    codec_state = load_safetensors(folder / CODEC_NAME)
    step("building the language model and text encoder")
    lm = build_lm(cfg.get("lm", {}))
    try:
        lm.load_state_dict(lm_state, strict=True)
        step("building the compression model")
        codec = build_codec(codec_state, cfg)
    except (RuntimeError, KeyError) as e:
        raise _errors()(f"bundled model weights do not match {folder / CONFIG_NAME}: "
                        f"{str(e).splitlines()[0]}; {_RESTORE}") from None
    lm = lm.to(device)
    codec = codec.to(device)
    for cond in lm.condition_provider.conditioners.values():
        cond.device = device
        cond.__dict__["encoder"] = cond.encoder.to(device)
    model = assemble(lm, codec, max_duration=float(cfg.get("lm", {}).get("max_duration", 10.0)),
                     generation=cfg.get("generation"))
    return model


def load_classifier(device: tp.Union[str, torch.device] = "cpu", folder: tp.Optional[pathlib.Path] = None):
    """The shipped event classifier (see classifier.py)."""
    from .classifier import EventClassifier

    folder = pathlib.Path(folder) if folder is not None else BUNDLED_DIR
    cfg = read_config(folder)
    state = load_safetensors(folder / CLASSIFIER_NAME)
    clf = EventClassifier(**cfg.get("classifier", {}).get("arch", {}))
    try:
        clf.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise _errors()(f"classifier weights do not match: {folder / CLASSIFIER_NAME}; {_RESTORE}") from None
    return clf.to(device).eval()
