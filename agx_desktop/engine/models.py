"""Model registry: which models exist, where each comes from, whether it can be loaded now.

Every source ends as an audiocraft ``BaseGenModel`` (``AudioGen``/``MusicGen``) inside a
:class:`LoadedModel`; the rest of the engine only uses its ``lm`` and ``compression_model``.

Ids:
  * ``bundled`` — the default, shipped in ``resources/bundled``; if a file of it is missing, loading
    it fails with a message naming the file and how to restore it (never a silent substitute);
  * ``stand-in`` — an untrained model built in-process from a fixed seed, for tests and offline
    demos; used only when asked for by this name;
  * ``facebook/audiogen-medium`` and the MusicGen ids — audiocraft's own loaders, downloaded to
    the Hugging Face cache on first use and usable offline afterwards;
  * a local folder in audiocraft's layout (``state_dict.bin`` + ``compression_state_dict.bin``).

Loading never unpickles an arbitrary object, whatever the environment says: checkpoint files are
read with ``torch.load(weights_only=True)`` passed explicitly (torch lets
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` override only a call that leaves ``weights_only`` unset), a
checkpoint's ``pretrained`` redirect is followed only to a known codec id (never to a path), and
only text conditioners that load nothing but a named T5 are built.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import pickle
import re
import socket
import typing as tp
from dataclasses import dataclass
from pathlib import Path

from .errors import (Cancelled, CheckpointError, ModelUnavailableError, ParameterError, PromptError,
                     UnknownModelError)
from .progress import CancelToken, ProgressFn, check, report
from .text import TextTokens, align_tokens
from .safetext import one_line

if tp.TYPE_CHECKING:
    import torch
    from .speed import SpeedSettings
    from audiocraft.models.encodec import CompressionModel
    from audiocraft.models.genmodel import BaseGenModel
    from audiocraft.models.lm import LMModel
    from audiocraft.modules.conditioners import TextConditioner

    from .take import GenerationParams

BUNDLED_ID = "bundled"
STAND_IN_ID = "stand-in"
LM_FILE, CODEC_FILE = "state_dict.bin", "compression_state_dict.bin"

_ALIASES: dict[str, str] = {}
"""Test seam: an id that is built as another registry entry under its own name. The test suites map
``bundled`` to ``stand-in`` (fast, deterministic); nothing in the app or CLI writes it."""

CODEC_REDIRECTS: dict[str, str] = {
    "facebook/encodec_32khz": "EnCodec 32 kHz (MusicGen's codec)",
    "facebook/encodec_24khz": "EnCodec 24 kHz",
}
"""The only ``pretrained`` values a ``compression_state_dict.bin`` may name: Hugging Face EnCodec
models, read by transformers (safetensors, or ``torch.load(weights_only=True)`` passed explicitly)
and wrapped by audiocraft's own ``HFEncodecCompressionModel``. Any other value (a path, a DAC id,
an unknown repo) is refused: audiocraft would ``torch.load`` it with torch's default."""

TEXT_CONDITIONERS = ("t5", "lut")
"""Conditioner types a checkpoint folder may use: T5 (a name from audiocraft's fixed list, loaded by
transformers) and a lookup table (loads nothing). Chroma and CLAP conditioners would load further
files named by the config (demucs, CLAP checkpoints, embedding caches) with plain ``torch.load``."""


@dataclass(frozen=True)
class HubModel:
    id: str
    family: str  # 'audiogen' | 'musicgen'
    text_encoder: str  # the HF id of the T5 it needs
    description: str
    codec: str | None = None  # the HF EnCodec its compression_state_dict.bin redirects to, if any


HUB_MODELS: dict[str, HubModel] = {m.id: m for m in [
    HubModel("facebook/audiogen-medium", "audiogen", "t5-large", "AudioGen 1.5B, 16 kHz sound effects (~3.6 GB)"),
    HubModel("facebook/musicgen-small", "musicgen", "t5-base", "MusicGen 300M, 32 kHz music (~1.2 GB)",
             "facebook/encodec_32khz"),
    HubModel("facebook/musicgen-medium", "musicgen", "t5-base", "MusicGen 1.5B, 32 kHz music (~3.7 GB)",
             "facebook/encodec_32khz"),
    HubModel("facebook/musicgen-large", "musicgen", "t5-base", "MusicGen 3.3B, 32 kHz music (~7 GB)",
             "facebook/encodec_32khz"),
]}

#: The longest clip (s) of each family unless its checkpoint says otherwise (audiocraft's training segments).
FAMILY_MAX_DURATION: dict[str, float] = {"audiogen": 10.0, "musicgen": 30.0}


def max_duration(model_id: str) -> float:
    """The longest take ``model_id`` makes, known before it is loaded: its family's (AudioGen's for
    the bundled model and checkpoint folders). A loaded model's own ``max_duration`` (its training
    segment) is the exact value."""
    family = HUB_MODELS[model_id].family if model_id in HUB_MODELS else "audiogen"
    return FAMILY_MAX_DURATION[family]


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``agx models``."""

    id: str
    source: str
    description: str
    usable: bool
    status: str  # why it is (not) usable now
    trained: bool = True


_DEVICE_RE = re.compile(r"(cpu|mps|cuda(?::[0-9]{1,4})?)")
MAX_THREADS = 1024


def choose_device(preference: str | torch.device | None = None) -> torch.device:
    """``preference`` if given ('cpu', 'cuda', 'cuda:1', 'mps'), else ``AGX_DEVICE``, else CUDA when
    available, else CPU.

    A named device is checked here, so that a typo or a GPU this machine lacks is one line before
    anything is built, not a traceback from deep inside torch.

    Raises:
        ParameterError: not a device name, or that device does not exist on this machine.
    """
    import torch
    if isinstance(preference, torch.device):
        return _check_available(preference, "--device")
    if preference is not None and not isinstance(preference, str):
        raise ParameterError(f"unknown device {one_line(repr(preference), 40)}: use cpu, cuda, cuda:N or mps")
    origin, text = "--device", (preference or "").strip()
    if not text:
        origin, text = "AGX_DEVICE", os.environ.get("AGX_DEVICE", "").strip()
    if not text:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = text.lower()
    if not _DEVICE_RE.fullmatch(name):
        where = "" if origin == "--device" else " in AGX_DEVICE"
        raise ParameterError(f"unknown device {one_line(repr(text), 40)}{where}: use cpu, cuda, cuda:N or mps")
    return _check_available(torch.device(name), origin)


def _check_available(dev: torch.device, origin: str) -> torch.device:
    import torch
    fix = "use --device cpu" if origin == "--device" else "set AGX_DEVICE=cpu or unset it"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "no GPU found" if torch.version.cuda else "this torch is built without CUDA"
            raise ParameterError(f"CUDA is not available on this machine (torch {torch.__version__}, {why}): {fix}")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            fix = ("use --device cuda:0 or --device cpu" if origin == "--device"
                   else "set AGX_DEVICE=cuda:0 or cpu, or unset it")
            have = f"it has {count}: cuda:0 to cuda:{count - 1}" if count > 1 else f"it has {count}: cuda:0"
            raise ParameterError(f"there is no CUDA device {dev.index} on this machine ({have}): {fix}")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if not (mps is not None and mps.is_available()):
            raise ParameterError(f"MPS is not available on this machine (torch {torch.__version__}; it needs "
                                 f"Apple silicon and macOS 12.3 or later): {fix}")
    elif dev.type != "cpu":
        raise ParameterError(f"unknown device '{dev}': use cpu, cuda, cuda:N or mps")
    return dev


def threads_override() -> int | None:
    """``AGX_THREADS`` as a thread count, or None when it is unset or empty.

    Raises:
        ParameterError: not a whole number from 1 to MAX_THREADS (one line naming the variable).
    """
    raw = os.environ.get("AGX_THREADS")
    if raw is None or not raw.strip():
        return None
    try:
        count = int(raw.strip())
    except ValueError:
        raise ParameterError(f"AGX_THREADS={one_line(repr(raw), 40)} is not a whole number: set it to a thread "
                             "count such as 2, or unset it") from None
    if not 1 <= count <= MAX_THREADS:
        raise ParameterError(f"AGX_THREADS={count} is out of range: set it to a thread count from 1 to "
                             f"{MAX_THREADS} (e.g. 2), or unset it")
    return count


def codec_device_for(device: torch.device) -> torch.device:
    """Where the compression model runs: on Apple MPS it stays on the CPU (audiocraft users report
    garbled audio from EnCodec on MPS); elsewhere beside the LM."""
    import torch
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
    if m.codec and not _hf_cached(m.codec, "config.json"):
        missing.append(f"{m.codec} (codec)")
    return missing


def _bundled_missing() -> list[str]:
    """Paths of the bundled model's files that are not there (empty when it can be loaded)."""
    from .bundled.loader import missing_files
    return missing_files()


def is_local_checkpoint(model_id: str) -> bool:
    try:
        return os.path.isdir(os.path.expanduser(model_id))
    except (OSError, ValueError):  # a NUL byte, a name too long for the filesystem
        return False


def list_models(check_network: bool = True) -> list[ModelInfo]:
    """Every known model with its source and whether it can be loaded right now."""
    rows = []
    missing = _bundled_missing()
    status = "ready (offline)" if not missing else \
        f"missing {', '.join(Path(f).name for f in missing)}: git checkout resources/bundled, or reinstall"
    rows.append(ModelInfo(BUNDLED_ID, "resources/bundled (shipped with the app)",
                          "small AudioGen-architecture model trained on the procedural sound world",
                          not missing, status))
    rows.append(ModelInfo(STAND_IN_ID, "built in-process from a fixed seed",
                          "untrained, for tests/offline demos: makes noise",
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

def move_text_encoders(lm: LMModel, device: torch.device) -> None:
    """Make the LM's text conditioners follow it to ``device``.

    Checkpoints are built on the CPU (in float32) and then moved, but ``Module.to`` leaves two
    things behind: audiocraft's ``T5Conditioner`` keeps its frozen T5 outside the module tree
    (``__dict__['t5']``, so it is never saved) and remembers the device it was built for, where
    ``tokenize`` puts its inputs. Left alone, T5 runs on the CPU and ``forward`` multiplies CUDA
    embeddings by a CPU mask, which fails. Our ``MiniLMConditioner`` is deliberately left where
    it is: its encoder is shared by every loaded copy of the bundled model, is small, and its
    projection already moves the states to the LM's device.
    """
    import torch
    provider = lm.condition_provider
    provider.device = device
    for cond in provider.conditioners.values():
        encoder = cond.__dict__.get("t5")
        if isinstance(encoder, torch.nn.Module):
            cond.__dict__["t5"] = encoder.to(device)
            cond.device = device


class LoadedModel:
    """A generation model ready to use, with what the engine needs to know about its text side."""

    def __init__(self, model_id: str, gen: BaseGenModel, device: torch.device, trained: bool = True,
                 codec_device: torch.device | None = None) -> None:
        from .speed import SpeedSettings
        self.id = model_id
        self.gen = gen
        self.device = device
        self.codec_device = codec_device or device
        self.trained = trained
        self.lm = gen.lm.to(device).eval()
        move_text_encoders(self.lm, device)
        self.compression_model = gen.compression_model.to(self.codec_device).eval()
        self.speed = SpeedSettings()  # all off: see with_speed
        self.float_lm = self.lm  # the float32 LM a with_speed copy derives from (its own lm unless int8)

    def sampling_copy(self, settings: SpeedSettings,
                      on_quantise: tp.Callable[[], None] | None = None) -> "LoadedModel":
        """The model to sample with under ``settings``: itself when they are all off, else its
        :meth:`with_speed` copy, made once and kept for the next take (the last settings asked for; an
        int8 copy takes ~30 s to quantise at AudioGen-medium's size). int8 runs on the CPU only: a model
        elsewhere samples without it, under the other settings (its takes record what they used).
        ``on_quantise`` is called before an int8 copy is made (a progress line)."""
        if settings.int8 and self.device.type != "cpu":
            settings = dataclasses.replace(settings, int8=False)
        if settings.is_default:
            return self
        kept = self.__dict__.get("_sampling")
        if kept is not None and kept[0] == settings:
            return kept[1]
        if settings.int8 and on_quantise is not None:
            on_quantise()
        fast = self.with_speed(settings)
        self.__dict__["_sampling"] = (settings, fast)
        return fast

    def with_speed(self, settings: SpeedSettings) -> "LoadedModel":
        """This model sampling under ``settings`` (:mod:`.speed`); ``self`` is left as it is.

        int8 quantises a copy of the LM (CPU only); the codec and text encoder are shared. The copy
        keeps this model's fingerprint: same weights, other arithmetic (so its takes can be explained
        with this model). Fidelity and speed of each setting: ``benchmarks/results/speed.md``.
        """
        import copy

        from .speed import quantized_lm
        if settings.int8 and self.device.type != "cpu":
            raise ParameterError("int8 quantisation runs on the CPU only: turn it off or use the CPU")
        gen = self.gen
        float_lm = self.float_lm
        if settings.int8 and not self.speed.int8:
            gen = copy.copy(self.gen)
            wrapped = "_sample_next_token" in float_lm.__dict__
            gen.lm = quantized_lm(float_lm)  # every GEMM weight int8: nothing float left for bf16 to cast
            if wrapped:  # the copied wrapper would call the float LM's method: wrap the copy's own
                from .bundled.loader import _clamp_top_k
                gen.lm.__dict__.pop("_sample_next_token")
                _clamp_top_k(gen.lm)
        elif not settings.int8 and self.speed.int8:
            gen = copy.copy(self.gen)
            gen.lm = float_lm
        fast = LoadedModel(self.id, gen, self.device, self.trained, self.codec_device)
        fast.speed = settings
        fast.float_lm = float_lm
        fast.__dict__["fingerprint"] = self.fingerprint
        return fast

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
    def text_conditioner(self) -> TextConditioner:
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
        import torch
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
        ``AGX_THREADS`` overrides; a model's :class:`~.speed.SpeedSettings` ``threads`` overrides both.
        """
        import torch
        if self.speed.threads is not None:
            return self.speed.threads
        env = threads_override()
        if env is not None:
            return env
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
        import torch
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
        import torch
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


FOLDER_FIX = f"re-export the checkpoint in audiocraft's layout ({LM_FILE} + {CODEC_FILE})"


def _safe_load(path: Path) -> dict:
    """Read one checkpoint file as plain data: tensors and containers, never an arbitrary pickle.

    ``weights_only=True`` is passed explicitly. In torch 2.11 (``torch/serialization.py``, ``load``),
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` switches a call to the full unpickler only when the call
    left ``weights_only`` unset ("can only override if callsite did not explicitly set
    weights_only"), and ``TORCH_FORCE_WEIGHTS_ONLY_LOAD`` only makes calls stricter; so no
    environment variable turns this call unsafe (tests/test_fault_checkpoints.py sets it and
    checks). Passing ``pickle_module=torch._weights_only_unpickler`` instead would lean on a
    private module (and torch refuses it together with ``weights_only=True``); clearing the
    variable around the call would change the whole process's environment while the app's worker
    threads run. What the file holds is then checked: see :func:`_check_pkg`. Sparse tensors, which
    torch otherwise loads without checking their indices, are validated while loading.
    """
    import torch
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: a checkpoint folder needs {LM_FILE} and {CODEC_FILE}")
    try:  # the invariants check makes torch validate any sparse tensor as it loads it (else unchecked)
        with torch.sparse.check_sparse_tensor_invariants(enable=True):
            pkg = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, truncated file, disallowed pickle global...
        raise CheckpointError(f"{path} is corrupt or not a plain weights file ({type(exc).__name__}): "
                              "re-download or re-export it") from exc
    return _check_pkg(pkg, path)


def _check_pkg(pkg: tp.Any, path: Path) -> dict:
    """``pkg`` if it is an audiocraft checkpoint agx can build without loading anything else.

    A ``pretrained`` key (audiocraft's "build that model instead") is accepted only in
    ``compression_state_dict.bin`` and only naming one of :data:`CODEC_REDIRECTS`: audiocraft
    would ``torch.load`` any other target (a path) with torch's default, which the environment
    can switch to the full unpickler.
    """
    from . import weights_check as wc
    if not isinstance(pkg, dict):
        raise CheckpointError(f"{path} is not an audiocraft checkpoint (it holds a {type(pkg).__name__}, not a "
                              "table): wrong file?")
    if "pretrained" in pkg:
        target = pkg["pretrained"]
        if path.name == CODEC_FILE and isinstance(target, str) and target in CODEC_REDIRECTS:
            return pkg
        raise CheckpointError(f"{path} names another model to load instead ('pretrained': "
                              f"{one_line(repr(target), 80)}); agx follows that key only to "
                              f"{' or '.join(CODEC_REDIRECTS)} in {CODEC_FILE}: {FOLDER_FIX} with its weights inside")
    if "best_state" not in pkg:
        raise CheckpointError(f"{path} is not an audiocraft checkpoint (no 'best_state'): wrong file?")
    wc.check_state(pkg["best_state"], str(path), FOLDER_FIX)
    if not isinstance(pkg.get("xp.cfg"), (dict, str)):  # audiocraft's exports hold it as YAML text
        raise CheckpointError(f"{path} has no model config ('xp.cfg' is missing or not a table): {FOLDER_FIX}")
    return pkg


LM_SECTIONS = ("lm_model", "solver", "transformer_lm", "codebooks_pattern", "attribute_dropout",
               "classifier_free_guidance", "fuser", "conditioners")
CODEC_SECTIONS = ("compression_model", "encodec", "seanet", "rvq", "no_quant")
"""The parts of a checkpoint's training config that audiocraft's builders read (plus the LM's
``dataset.segment_duration``); the rest (paths, optimiser, evaluation...) is never resolved."""


def _build_config(raw: tp.Any, kind: str) -> dict:
    """The sections of ``xp.cfg`` (a table, or audiocraft's YAML text) that building reads, with
    their OmegaConf interpolations resolved: a plain table to check, then to build from."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    cfg = OmegaConf.create(raw)  # YAML through OmegaConf's safe loader: data only
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"the config is a {type(cfg).__name__}, not a table")
    out: dict[str, tp.Any] = {}
    for key in LM_SECTIONS if kind == "lm" else CODEC_SECTIONS:
        if key in cfg:
            value = cfg[key]
            out[key] = OmegaConf.to_container(value, resolve=True) \
                if isinstance(value, (DictConfig, ListConfig)) else value
    if kind == "lm":
        dataset = cfg.get("dataset")
        segment = dataset.get("segment_duration") if isinstance(dataset, DictConfig) else None
        out["dataset"] = {"segment_duration": segment}
    return out


def _check_conditioners(cfg: dict, path: Path) -> None:
    """Only conditioners that load nothing a config names: see :data:`TEXT_CONDITIONERS`."""
    from audiocraft.modules.conditioners import T5Conditioner

    conds = cfg.get("conditioners") or {}
    if not isinstance(conds, dict):
        raise CheckpointError(f"{path}: its config's 'conditioners' is not a table: {FOLDER_FIX}")
    for name, cc in conds.items():
        if name == "args":
            continue
        kind = cc.get("model") if isinstance(cc, dict) else None
        if kind not in TEXT_CONDITIONERS:
            raise CheckpointError(f"{path}: conditioner {one_line(repr(name), 40)} is of type "
                                  f"{one_line(repr(kind), 40)}, which agx does not build (it would read further files "
                                  f"named by the config); agx builds {' and '.join(TEXT_CONDITIONERS)} conditioners")
        if kind == "t5":
            t5 = cc.get("t5")
            t5_name = t5.get("name") if isinstance(t5, dict) else None
            if t5_name not in T5Conditioner.MODELS:
                raise CheckpointError(f"{path}: conditioner {one_line(repr(name), 40)} asks for T5 "
                                      f"{one_line(repr(t5_name), 60)}, not one of audiocraft's T5 models "
                                      f"({', '.join(T5Conditioner.MODELS)}): {FOLDER_FIX}")


def _dry_lm_cfg(cfg: tp.Any) -> tp.Any:
    """A copy of an LM config for the meta-device size check: T5 conditioners become lookup tables
    of T5's width (no T5 load; their saved part, the output projection, keeps its shape) and lookup
    tables get the no-op tokenizer (no spaCy)."""
    from omegaconf import OmegaConf
    from audiocraft.modules.conditioners import T5Conditioner

    dry = OmegaConf.create(OmegaConf.to_container(cfg))
    conds = dry.get("conditioners") or {}
    for name in list(conds.keys()):
        if name == "args":
            continue
        if conds[name].model == "t5":
            width = T5Conditioner.MODELS_DIMS[conds[name].t5.name]
            conds[name] = {"model": "lut", "lut": {"n_bins": 1, "dim": width, "tokenizer": "noop"}}
        elif conds[name].model == "lut":
            conds[name].lut.tokenizer = "noop"
    dry.device = "meta"
    return dry


def _redirected_codec(name: str, path: Path, device: torch.device) -> CompressionModel:
    """A Hugging Face EnCodec named by an allowed ``pretrained`` redirect, as audiocraft builds it.

    transformers reads the repo's safetensors, or its ``.bin`` with ``torch.load(weights_only=True)``
    passed explicitly (transformers 5's ``load_state_dict``), so the environment cannot make it
    unpickle objects either; its ``trust_remote_code`` stays off (EnCodec is a built-in class).
    """
    from . import weights_check as wc
    from transformers import EncodecModel as HFEncodecModel
    from audiocraft.models.encodec import HFEncodecCompressionModel

    try:
        hf_model = HFEncodecModel.from_pretrained(name)
    except OSError as exc:  # not cached and no network, or the repo lacks a file
        raise ModelUnavailableError(f"{name} (the codec {path} names) could not be fetched ({type(exc).__name__}: "
                                    f"{one_line(str(exc), 160)}): connect once to download it, or copy "
                                    "~/.cache/huggingface from a machine that has it") from exc
    except Exception as exc:  # a corrupt or unsafe file in the cache
        detail = ("it holds objects other than weights, which are never unpickled"
                  if isinstance(exc, pickle.UnpicklingError) else one_line(str(exc), 160))
        raise CheckpointError(f"{name} (the codec {path} names) is corrupt in the Hugging Face cache "
                              f"({type(exc).__name__}: {detail}): delete it from ~/.cache/huggingface to download "
                              "it again") from exc
    with wc.as_checkpoint_error(f"{name} (the codec {path} names) is not an EnCodec audiocraft can use",
                                "delete it from ~/.cache/huggingface to download it again"):
        return HFEncodecCompressionModel(hf_model).to(device).eval()


def _build_from_pkg(pkg: dict, kind: str, device: torch.device,
                    path: Path | None = None) -> LMModel | CompressionModel:
    """Rebuild an audiocraft model from a checkpoint dict (checked by :func:`_check_pkg`), as
    audiocraft's own loaders do, but refusing anything that would make it load another file.

    The sections building reads are resolved once (OmegaConf interpolations) and checked: loop counts bounded,
    conditioners allowed; then the model is built on the meta device and its size compared with
    the weights, before the real build; the weights must be finite and of the model's kind.
    Any other failure is one CheckpointError line.
    """
    from . import weights_check as wc
    from omegaconf import OmegaConf
    from audiocraft.models import builders
    from audiocraft.models.loaders import _delete_param

    path = path or Path(LM_FILE if kind == "lm" else CODEC_FILE)
    if kind == "codec" and "pretrained" in pkg:
        return _redirected_codec(pkg["pretrained"], path, device)
    where = f"{path} does not describe a model agx can build"
    with wc.as_checkpoint_error(where, FOLDER_FIX):
        resolved = _build_config(pkg["xp.cfg"], kind)
    wc.check_loop_counts(resolved, str(path), FOLDER_FIX)
    if kind == "lm":
        _check_conditioners(resolved, path)
    state = pkg["best_state"]
    with wc.as_checkpoint_error(where, FOLDER_FIX):
        cfg = OmegaConf.create(resolved)
        cfg.dtype = "float32"
        if kind == "codec":
            build = builders.get_compression_model
            dry = OmegaConf.create(OmegaConf.to_container(cfg))
            dry.device = "meta"
        else:
            build = builders.get_lm_model
            for name in ("conditioners.self_wav.chroma_stem.cache_path", "conditioners.args.merge_text_conditions_p",
                         "conditioners.args.drop_desc_p"):
                _delete_param(cfg, name)
            dry = _dry_lm_cfg(cfg)
        wc.check_size(wc.dry_build(lambda: build(dry)), state, str(path), FOLDER_FIX)
        cfg.device = str(device)
        cfg.dtype = "float32" if device.type == "cpu" else "float16"
        model = build(cfg)
        wc.check_tensors(state, model.state_dict(), str(path), FOLDER_FIX)
        model.load_state_dict(state)
        if kind == "lm":
            model.cfg = cfg
    return model.eval()


def _segment_duration(cfg: tp.Any, default: float, folder: Path) -> float:
    """The LM's training segment length (the longest clip it makes in one go), checked finite."""
    dataset = cfg.get("dataset") if cfg is not None else None
    value = dataset.get("segment_duration") if dataset is not None and hasattr(dataset, "get") else None
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 600:
        raise CheckpointError(f"{folder / LM_FILE}: its dataset.segment_duration {one_line(repr(value), 40)} is not "
                              f"a duration from 0 to 600 s: {FOLDER_FIX}")
    return float(value)


def load_checkpoint_folder(folder: str | Path, device: torch.device, name: str | None = None,
                           family: str = "audiogen", step: LoadStep = _no_step) -> BaseGenModel:
    """Load a folder holding ``state_dict.bin`` + ``compression_state_dict.bin`` (the hub's layout).

    Returns audiocraft's ``MusicGen`` when ``family`` says so or the checkpoint's config names the
    musicgen solver, else ``AudioGen``; the maximum duration is the training segment length.

    Raises:
        CheckpointError: a file is missing, corrupt, unsafe (a pickle, a ``pretrained`` redirect to
            anything but a known codec id, a conditioner that loads other files) or inconsistent.
        ModelUnavailableError: an allowed codec redirect could not be downloaded.
    """
    from . import weights_check as wc
    from audiocraft.models import AudioGen, MusicGen

    folder = Path(folder).expanduser()
    step(f"reading {LM_FILE}")
    lm_pkg = _safe_load(folder / LM_FILE)
    step(f"reading {CODEC_FILE}")
    codec_pkg = _safe_load(folder / CODEC_FILE)
    step("building the compression model")
    codec = _build_from_pkg(codec_pkg, "codec", device, folder / CODEC_FILE)
    step("building the language model and text encoder")
    lm = _build_from_pkg(lm_pkg, "lm", device, folder / LM_FILE)
    where = f"{folder} does not hold a usable audiocraft model"
    with wc.as_checkpoint_error(where, FOLDER_FIX):
        wc.check_pair(lm, codec, str(folder), FOLDER_FIX)
        cfg = getattr(lm, "cfg", None)
        solver = str(cfg.get("solver", "")) if cfg is not None else ""
        if "musicgen" in solver:
            family = "musicgen"
        cls = MusicGen if family == "musicgen" else AudioGen
        default = FAMILY_MAX_DURATION.get(family, FAMILY_MAX_DURATION["audiogen"])
        max_duration = _segment_duration(cfg, default, folder)
        gen = cls(name or str(folder), codec, lm, max_duration=default)
        gen.max_duration = max_duration  # set after: audiocraft's constructor asserts max_duration > its stride
    return gen


def _load_hub(m: HubModel, device: torch.device, step: LoadStep = _no_step) -> BaseGenModel:
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
    otherwise). Loaded models are cached per (id, device). The device and ``AGX_THREADS`` are
    checked first, before anything is read or built.

    ``progress(what, i, total)`` is called before each stage of the load (reading, downloading,
    building, moving to the device) and once more with ``"model ready"``; ``cancel`` is checked
    before each stage. A cancelled load raises :class:`Cancelled` and leaves the cache as it was.

    Raises:
        ParameterError (unknown or absent device, bad AGX_THREADS), UnknownModelError,
        ModelUnavailableError, CheckpointError (including missing bundled files), Cancelled.
    """
    import torch
    dev = choose_device(device)
    threads_override()
    if not isinstance(model_id, str) or not model_id.strip():
        raise UnknownModelError(f"no model named: use one of {', '.join(_known_ids())}, or a folder with "
                                f"{LM_FILE} and {CODEC_FILE}")
    key = (model_id, str(dev))
    if use_cache and key in _CACHE:
        report(progress, "model ready", 1, 1)
        return _CACHE[key]
    codec_dev = codec_device_for(dev)
    trained = True
    step = _LoadSteps(progress, cancel)
    target = _ALIASES.get(model_id, model_id)
    if target == BUNDLED_ID:
        from .bundled.loader import load_bundled_model, missing_message
        missing = _bundled_missing()
        if missing:
            raise CheckpointError(missing_message(missing))
        step.expect(4)
        gen = load_bundled_model("cpu", step=step)
    elif target == STAND_IN_ID:
        from .standin import build_tiny_model
        step.expect(2)
        step("building the untrained stand-in model")
        gen, trained = build_tiny_model(name=model_id, seed=1234, dim=128, num_layers=2, card=256), False
    elif target in HUB_MODELS:
        step.expect(7)
        gen = _load_hub(HUB_MODELS[target], torch.device("cpu"), step=step)
    elif is_local_checkpoint(target):
        step.expect(5)
        gen = load_checkpoint_folder(target, torch.device("cpu"), step=step)
    else:
        raise UnknownModelError(f"unknown model '{one_line(model_id, 80)}': use one of {', '.join(_known_ids())}, "
                                f"or a folder with {LM_FILE} and {CODEC_FILE}")
    step(f"moving to {dev}")
    loaded = LoadedModel(model_id, gen, dev, trained=trained, codec_device=codec_dev)
    step.finish()
    if use_cache:
        _CACHE[key] = loaded
    return loaded


def _known_ids() -> list[str]:
    return [BUNDLED_ID, STAND_IN_ID, *HUB_MODELS]
