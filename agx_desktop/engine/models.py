"""Model registry: which models exist, where each comes from, whether it can be loaded now.

Every source ends as an audiocraft ``BaseGenModel`` (``AudioGen``/``MusicGen``) inside a
:class:`LoadedModel`; the rest of the engine only uses its ``lm`` and ``compression_model``.

Ids:
  * ``bundled`` — the default, shipped in ``resources/bundled`` (falls back to an untrained
    in-process model, labelled so, when those weights are absent);
  * ``facebook/audiogen-medium`` and the MusicGen ids — audiocraft's own loaders, downloaded to
    the Hugging Face cache on first use and usable offline afterwards;
  * a local folder in audiocraft's layout (``state_dict.bin`` + ``compression_state_dict.bin``).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import socket
import typing as tp
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import Cancelled, CheckpointError, ModelUnavailableError, PromptError, UnknownModelError
from .jobs import CancelToken, ProgressFn, check, report
from .text import TextTokens, align_tokens

if tp.TYPE_CHECKING:
    from .take import GenerationParams

BUNDLED_ID = "bundled"
LM_FILE, CODEC_FILE = "state_dict.bin", "compression_state_dict.bin"


@dataclass(frozen=True)
class HubModel:
    id: str
    family: str  # 'audiogen' | 'musicgen'
    text_encoder: str  # the HF id of the T5 it needs
    description: str


HUB_MODELS: dict[str, HubModel] = {m.id: m for m in [
    HubModel("facebook/audiogen-medium", "audiogen", "t5-large", "AudioGen 1.5B, 16 kHz sound effects (~3.6 GB)"),
    HubModel("facebook/musicgen-small", "musicgen", "t5-base", "MusicGen 300M, 32 kHz music (~1.2 GB)"),
    HubModel("facebook/musicgen-medium", "musicgen", "t5-base", "MusicGen 1.5B, 32 kHz music (~3.7 GB)"),
    HubModel("facebook/musicgen-large", "musicgen", "t5-base", "MusicGen 3.3B, 32 kHz music (~7 GB)"),
]}


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``agx models``."""

    id: str
    source: str
    description: str
    usable: bool
    status: str  # why it is (not) usable now
    trained: bool = True


def choose_device(preference: str | None = None) -> torch.device:
    """``preference`` if given ('cpu', 'cuda', 'cuda:1', 'mps'), else CUDA when available, else CPU."""
    pref = preference or os.environ.get("AGX_DEVICE")
    if pref:
        return torch.device(pref)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def codec_device_for(device: torch.device) -> torch.device:
    """Where the compression model runs: on Apple MPS it stays on the CPU (audiocraft users report
    garbled audio from EnCodec on MPS); elsewhere beside the LM."""
    return torch.device("cpu") if device.type == "mps" else device


# --------------------------------------------------------------------------- availability

def _hf_cached(repo_id: str, filename: str) -> bool:
    from huggingface_hub import try_to_load_from_cache
    found = try_to_load_from_cache(repo_id, filename)
    return isinstance(found, str) and os.path.exists(found)


def _hub_reachable(timeout: float = 2.0) -> bool:
    """True if huggingface.co answers on 443 within ``timeout`` and offline mode is not forced."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_files_missing(m: HubModel) -> list[str]:
    missing = [f"{m.id}/{f}" for f in (LM_FILE, CODEC_FILE) if not _hf_cached(m.id, f)]
    if not _hf_cached(m.text_encoder, "config.json"):
        missing.append(f"{m.text_encoder} (text encoder)")
    return missing


def _bundled_present() -> bool:
    try:
        from .bundled.loader import weights_present
    except ImportError:
        return False
    return weights_present()


def is_local_checkpoint(model_id: str) -> bool:
    return os.path.isdir(os.path.expanduser(model_id))


def list_models(check_network: bool = True) -> list[ModelInfo]:
    """Every known model with its source and whether it can be loaded right now."""
    rows = []
    if _bundled_present():
        rows.append(ModelInfo(BUNDLED_ID, "resources/bundled (shipped with the app)",
                              "small AudioGen-architecture model trained on the procedural sound world",
                              True, "ready (offline)"))
    else:
        rows.append(ModelInfo(BUNDLED_ID, "built in-process from a fixed seed",
                              "UNTRAINED stand-in: makes noise, for trying the app and tests",
                              True, "ready (offline, untrained)", trained=False))
    reachable: bool | None = None
    for m in HUB_MODELS.values():
        missing = _hub_files_missing(m)
        if not missing:
            rows.append(ModelInfo(m.id, "Hugging Face cache", m.description, True, "cached (offline)"))
            continue
        if reachable is None:
            reachable = _hub_reachable() if check_network else False
        status = "downloads on first use" if reachable else "not cached and huggingface.co unreachable"
        rows.append(ModelInfo(m.id, "Hugging Face hub", m.description, bool(reachable), status))
    return rows


# --------------------------------------------------------------------------- loaded model

def move_text_encoders(lm: tp.Any, device: torch.device) -> None:
    """Make the LM's text conditioners follow it to ``device``.

    Checkpoints are built on the CPU (in float32) and then moved, but ``Module.to`` leaves two
    things behind: audiocraft's ``T5Conditioner`` keeps its frozen T5 outside the module tree
    (``__dict__['t5']``, so it is never saved) and remembers the device it was built for, where
    ``tokenize`` puts its inputs. Left alone, T5 runs on the CPU and ``forward`` multiplies CUDA
    embeddings by a CPU mask, which fails. Our ``MiniLMConditioner`` is deliberately left where
    it is: its encoder is shared by every loaded copy of the bundled model, is small, and its
    projection already moves the states to the LM's device.
    """
    provider = lm.condition_provider
    provider.device = device
    for cond in provider.conditioners.values():
        encoder = cond.__dict__.get("t5")
        if isinstance(encoder, torch.nn.Module):
            cond.__dict__["t5"] = encoder.to(device)
            cond.device = device


class LoadedModel:
    """A generation model ready to use, with what the engine needs to know about its text side."""

    def __init__(self, model_id: str, gen: tp.Any, device: torch.device, trained: bool = True,
                 codec_device: torch.device | None = None) -> None:
        self.id = model_id
        self.gen = gen
        self.device = device
        self.codec_device = codec_device or device
        self.trained = trained
        self.lm = gen.lm.to(device).eval()
        move_text_encoders(self.lm, device)
        self.compression_model = gen.compression_model.to(self.codec_device).eval()

    @property
    def sample_rate(self) -> int:
        return int(self.compression_model.sample_rate)

    @property
    def frame_rate(self) -> float:
        return float(self.compression_model.frame_rate)

    @property
    def max_duration(self) -> float:
        return float(self.gen.max_duration)

    @property
    def card(self) -> int:
        return int(self.lm.card)

    @property
    def text_conditioner(self) -> tp.Any:
        conds = self.lm.condition_provider.conditioners
        if "description" not in conds:
            raise ValueError(f"model {self.id} has no 'description' text conditioner")
        return conds["description"]

    @property
    def max_text_tokens(self) -> int:
        cond = self.text_conditioner
        if hasattr(cond, "max_tokens"):
            return int(cond.max_tokens)
        tok = getattr(cond, "t5_tokenizer", None)
        return int(getattr(tok, "model_max_length", 512)) if tok is not None else 512

    def token_strings(self, prompt: str) -> list[str]:
        """One string per position of the conditioner's output for ``prompt``."""
        cond = self.text_conditioner
        if hasattr(cond, "token_strings"):
            return list(cond.token_strings(prompt))
        tok = getattr(cond, "t5_tokenizer", None)
        if tok is not None:
            ids = tok([prompt], return_tensors="pt", padding=True)["input_ids"][0].tolist()
            return list(tok.convert_ids_to_tokens(ids))
        return [prompt]  # lookup-table conditioners (NoopTokenizer) see the prompt as one token

    def text_tokens(self, prompt: str) -> TextTokens:
        """Validate ``prompt`` and align its tokens with its words.

        Raises:
            PromptError: empty/whitespace prompt, or more tokens than the encoder accepts.
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise PromptError("the prompt is empty: describe the sound, e.g. 'a dog barks in the rain'")
        tokens = self.token_strings(prompt)
        limit = self.max_text_tokens
        if len(tokens) > limit:
            raise PromptError(f"the prompt is {len(tokens)} tokens long; model {self.id} accepts at most "
                              f"{limit}: shorten it")
        return align_tokens(prompt, tokens, special={"</s>", "<pad>", "[CLS]", "[SEP]", "[PAD]"})

    def default_params(self, **overrides: tp.Any) -> "GenerationParams":
        """This model's recommended sampling, with ``overrides`` (None = keep the default).

        Read from audiocraft's ``generation_params``: AudioGen/MusicGen checkpoints get audiocraft's
        own defaults (top-k 250, temperature 1.0, guidance 3.0); the bundled model gets those of its
        ``config.json`` (temperature 0.8 and no top-k, see its model card). ``agx evaluate`` does not
        use this: its protocol fixes the sampling, so results stay comparable across models.
        """
        from .take import GenerationParams
        g = getattr(self.gen, "generation_params", None) or {}
        base = GenerationParams()
        vals: dict[str, tp.Any] = {"top_k": int(g.get("top_k", base.top_k)), "top_p": float(g.get("top_p", base.top_p)),
                                   "temperature": float(g.get("temp", base.temperature)),
                                   "cfg_coef": float(g.get("cfg_coef", base.cfg_coef))}
        if not g.get("use_sampling", True):
            vals["temperature"] = 0.0  # greedy, as audiocraft does without sampling
        vals.update({k: v for k, v in overrides.items() if v is not None})
        return GenerationParams(**vals)

    @functools.cached_property
    def fingerprint(self) -> str:
        """A short hash of the weights (names, shapes and a sample of values at fp16 precision).

        Takes record it, so a take made by other weights under the same id (a retrained
        ``bundled``, the untrained stand-in) is refused with a clear message instead of failing
        deep inside the LM. Sampling keeps it cheap for billion-parameter models.
        """
        digest = hashlib.sha1()
        for module in (self.lm, self.compression_model):
            for name, tensor in module.state_dict().items():
                flat = tensor.detach().reshape(-1)
                sample = flat[:: max(1, flat.numel() // 64)][:64].to("cpu", torch.float16)
                digest.update(f"{name}{tuple(tensor.shape)}".encode())
                digest.update(sample.numpy().tobytes())
        return digest.hexdigest()[:16]

    @property
    def num_threads(self) -> int:
        """CPU threads for this model's work: 1 for small models.

        A small LM's per-step ops take microseconds; splitting them over threads costs more than it
        gains and, when other processes share the cores, OpenMP spin-waits slow every op by ~50×
        (measured here: 1 s of tiny-model generation took 0.13 s on 1 thread, 8 s on 2 under load).
        ``AGX_THREADS`` overrides.
        """
        env = os.environ.get("AGX_THREADS")
        if env:
            return max(1, int(env))
        if self.device.type != "cpu" or int(self.lm.dim) >= 1024:
            return torch.get_num_threads()
        return 1

    @property
    def fast_bf16(self) -> bool:
        """Whether bf16 autocast speeds this model's teacher-forced passes up on its device.

        Only for float32 LMs on CPUs with AMX tiles (Sapphire Rapids and later) and large LMs
        (dim ≥ 1024), where GEMMs dominate: there a bf16 GEMM ran 5.8× faster than float32 and a
        teacher-forced forward+backward of audiogen-medium's shape 2.2× faster. Small models stay
        in float32: their cost is elementwise work and Python overhead, which bf16 only slows.
        CUDA stays float32 too: on an H100 the passes (batch 2, ~250 steps) are too small for
        bf16 to pay: a quick epoch at audiogen-medium's shape took 0.107 s in float32 against
        0.118 s under autocast, setup 1.7 s against 2.3 s, and the bundled model's whole quick
        explanation 0.24 s against 0.48 s (``benchmarks/results/cuda.md``).
        ``AGX_BF16=0`` turns it off, ``AGX_BF16=1`` forces it.
        """
        env = os.environ.get("AGX_BF16")
        if env in ("0", "1"):
            return env == "1"
        if next(self.lm.parameters()).dtype != torch.float32:
            return False
        if self.device.type == "cpu" and int(self.lm.dim) >= 1024:
            amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
            return bool(amx and amx())
        return False

    @contextlib.contextmanager
    def threads(self) -> tp.Iterator[None]:
        """Run the body with :attr:`num_threads` intra-op threads, restoring the previous count."""
        before = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def __repr__(self) -> str:
        return f"LoadedModel({self.id!r}, device={self.device}, trained={self.trained})"


# --------------------------------------------------------------------------- loading

LoadStep = tp.Callable[[str], None]
"""Called with what a model load starts doing next; it may raise :class:`Cancelled` to stop there."""


def _no_step(what: str) -> None:
    pass


class _LoadSteps:
    """Turns the load's named stages into ``progress(what, i, total)`` calls and checks ``cancel``
    before each one, so a long load (a hub download, a T5 build) can be followed and stopped between
    stages. ``total`` is set by the path the load takes (bundled, hub, folder)."""

    def __init__(self, progress: ProgressFn | None, cancel: CancelToken | None) -> None:
        self.progress, self.cancel = progress, cancel
        self.done, self.total = 0, 1

    def expect(self, total: int) -> None:
        self.total = max(int(total), self.done + 1)

    def __call__(self, what: str) -> None:
        check(self.cancel)
        self.total = max(self.total, self.done + 1)
        report(self.progress, what, self.done, self.total)
        self.done += 1

    def finish(self) -> None:
        check(self.cancel)
        report(self.progress, "model ready", self.total, self.total)


def _safe_load(path: Path) -> dict:
    """``torch.load`` restricted to tensors and plain containers (never arbitrary pickles)."""
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: a checkpoint folder needs {LM_FILE} and {CODEC_FILE}")
    try:
        pkg = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, disallowed pickle global...
        raise CheckpointError(f"{path} is corrupt or not a plain weights file ({type(exc).__name__}): "
                              "re-download or re-export it") from exc
    if not isinstance(pkg, dict) or ("best_state" not in pkg and "pretrained" not in pkg):
        raise CheckpointError(f"{path} is not an audiocraft checkpoint (no 'best_state'): wrong file?")
    return pkg


def _build_from_pkg(pkg: dict, kind: str, device: torch.device) -> tp.Any:
    """Rebuild an audiocraft model from a checkpoint dict, as audiocraft's own loaders do."""
    from omegaconf import OmegaConf
    from audiocraft.models import builders
    from audiocraft.models.encodec import CompressionModel
    from audiocraft.models.loaders import _delete_param

    if kind == "codec" and "pretrained" in pkg:
        return CompressionModel.get_pretrained(pkg["pretrained"], device=device)
    cfg = OmegaConf.create(pkg["xp.cfg"])
    cfg.device = str(device)
    if kind == "codec":
        model = builders.get_compression_model(cfg)
    else:
        cfg.dtype = "float32" if device.type == "cpu" else "float16"
        for name in ("conditioners.self_wav.chroma_stem.cache_path", "conditioners.args.merge_text_conditions_p",
                     "conditioners.args.drop_desc_p"):
            _delete_param(cfg, name)
        model = builders.get_lm_model(cfg)
        model.cfg = cfg
    model.load_state_dict(pkg["best_state"])
    return model.eval()


def load_checkpoint_folder(folder: str | Path, device: torch.device, name: str | None = None,
                           family: str = "audiogen", step: LoadStep = _no_step) -> tp.Any:
    """Load a folder holding ``state_dict.bin`` + ``compression_state_dict.bin`` (the hub's layout).

    Returns audiocraft's ``MusicGen`` when ``family`` says so or the checkpoint's config names the
    musicgen solver, else ``AudioGen``; the maximum duration is the training segment length.
    """
    from audiocraft.models import AudioGen, MusicGen

    folder = Path(folder).expanduser()
    step(f"reading {LM_FILE}")
    lm_pkg = _safe_load(folder / LM_FILE)
    step(f"reading {CODEC_FILE}")
    codec_pkg = _safe_load(folder / CODEC_FILE)
    try:
        step("building the compression model")
        codec = _build_from_pkg(codec_pkg, "codec", device)
        step("building the language model and text encoder")
        lm = _build_from_pkg(lm_pkg, "lm", device)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{folder} does not match an audiocraft model ({exc.__class__.__name__}: "
                              f"{str(exc).splitlines()[0][:200]})") from exc
    cfg = getattr(lm, "cfg", None)
    solver = str(cfg.get("solver", "")) if cfg is not None else ""
    if "musicgen" in solver:
        family = "musicgen"
    cls = MusicGen if family == "musicgen" else AudioGen
    default = 30.0 if family == "musicgen" else 10.0
    try:  # the longest clip the LM was trained on is the longest it generates in one go
        max_duration = float(cfg.dataset.segment_duration) if cfg is not None else default
    except Exception:
        max_duration = default
    gen = cls(name or str(folder), codec, lm, max_duration=default)
    gen.max_duration = max_duration  # set after: audiocraft's constructor asserts max_duration > its stride
    return gen


def _load_hub(m: HubModel, device: torch.device, step: LoadStep = _no_step) -> tp.Any:
    from huggingface_hub import snapshot_download  # noqa: F401  (import errors surface early)

    missing = _hub_files_missing(m)
    if missing and not _hub_reachable():
        raise ModelUnavailableError(
            f"{m.id} is not in the Hugging Face cache (missing: {', '.join(missing)}) and huggingface.co "
            "cannot be reached: connect once to download it, or copy ~/.cache/huggingface from a machine that has it")
    with _hub_offline(not missing):  # everything cached: never wait on the network
        try:
            from huggingface_hub import hf_hub_download
            verb = "downloading" if missing else "finding"
            step(f"{verb} {LM_FILE}")
            lm_path = hf_hub_download(m.id, LM_FILE)
            step(f"{verb} {CODEC_FILE}")
            hf_hub_download(m.id, CODEC_FILE)
        except Cancelled:
            raise
        except Exception as exc:
            raise ModelUnavailableError(f"could not fetch {m.id}: {exc.__class__.__name__}: {str(exc)[:200]}") from exc
        return load_checkpoint_folder(Path(lm_path).parent, device, name=m.id, family=m.family, step=step)


@contextlib.contextmanager
def _hub_offline(enabled: bool) -> tp.Iterator[None]:
    """Force huggingface_hub (and transformers, which asks it) into offline mode for the body.

    The environment variable is read once at import, so the module constant is switched too.
    """
    if not enabled:
        yield
        return
    from huggingface_hub import constants
    before_const, before_env = constants.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")
    constants.HF_HUB_OFFLINE = True
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before_const
        if before_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before_env


_CACHE: dict[tuple[str, str], LoadedModel] = {}


def load_model(model_id: str = BUNDLED_ID, device: str | torch.device | None = None,
               use_cache: bool = True, *, progress: ProgressFn | None = None,
               cancel: CancelToken | None = None) -> LoadedModel:
    """Load a model by id (see module docstring), on CUDA when available unless told otherwise.

    On Apple MPS the compression model stays on the CPU (audiocraft users report garbled audio
    otherwise). Loaded models are cached per (id, device).

    ``progress(what, i, total)`` is called before each stage of the load (reading, downloading,
    building, moving to the device) and once more with ``"model ready"``; ``cancel`` is checked
    before each stage. A cancelled load raises :class:`Cancelled` and leaves the cache as it was.

    Raises:
        UnknownModelError, ModelUnavailableError, CheckpointError, Cancelled.
    """
    dev = device if isinstance(device, torch.device) else choose_device(device)
    key = (model_id, str(dev))
    if use_cache and key in _CACHE:
        report(progress, "model ready", 1, 1)
        return _CACHE[key]
    codec_dev = codec_device_for(dev)
    trained = True
    step = _LoadSteps(progress, cancel)
    if model_id == BUNDLED_ID:
        if _bundled_present():
            from .bundled.loader import load_bundled_model
            step.expect(4)
            gen = load_bundled_model("cpu", step=step)
        else:
            from .tiny import build_tiny_model
            step.expect(2)
            step("building the untrained stand-in model")
            gen, trained = build_tiny_model(name=BUNDLED_ID, seed=1234, dim=128, num_layers=2, card=256), False
    elif model_id in HUB_MODELS:
        step.expect(7)
        gen = _load_hub(HUB_MODELS[model_id], torch.device("cpu"), step=step)
    elif is_local_checkpoint(model_id):
        step.expect(5)
        gen = load_checkpoint_folder(model_id, torch.device("cpu"), step=step)
    else:
        known = ", ".join([BUNDLED_ID, *HUB_MODELS])
        raise UnknownModelError(f"unknown model '{model_id}': use one of {known}, or a folder with {LM_FILE} "
                                f"and {CODEC_FILE}")
    step(f"moving to {dev}")
    loaded = LoadedModel(model_id, gen, dev, trained=trained, codec_device=codec_dev)
    step.finish()
    if use_cache:
        _CACHE[key] = loaded
    return loaded
