"""Faithfulness metrics of explanations, as in the AudioGenX paper (Table 1), with a pluggable classifier.

For a take x (prompt, original audio) and an explanation M ([steps, L] in [0, 1]):

* factual audio: the prompt regenerated with M applied to every step's cross-attention, and
  counterfactual audio: the same with 1 − M (:func:`agx_desktop.engine.generation.generate`'s ``step_mask``);
  ``n_samples`` (5, as the paper) samples of each;
* with an audio classifier giving class probabilities p(·):
  - c = the original audio's top-1 class; **Fid** = mean over samples of |p_x(c) − p_sample(c)|
    (factual: lower is better; counterfactual: higher is better). Choice: absolute change, so a
    factual sample that *raises* p(c) is not rewarded (the paper reports both as positive);
  - **KL** = mean over samples of KL(q_x ‖ q_sample) (``kl_direction='orig_to_sample'``, the
    default: the original audio is the reference distribution, as audiocraft's KL metric takes
    its reference) or KL(q_sample ‖ q_x) (``'sample_to_orig'``: what the AudioGenX reference code
    computes, ``KLDivLoss(log(p_orig + ε), p_sample)``), q = p / Σp the label distribution, with
    ε = 1e-6 inside both logs;
  - **size** = the mean mask value;
* the **floor** ("same prompt, new samples", the paper's N_audio = 5 row): Fid and KL of
  ``n_samples`` unmasked new samples of the same prompt — the variation sampling alone causes.

Sampling: all samples of one take (every method's factual and counterfactual rows and the floor
rows) are drawn in batched ``lm.generate`` calls under one seed (``sample_seed``); each row is an
independent sample, distributed like a separate seeded run (not bit-identical to
``agx regenerate --seed``, which draws one row at a time). Batching is what makes 100+ captions fit
on 2 CPU cores.

Classifiers (:func:`load_classifier`): ``bundled`` — the bundled world's event classifier (13
events, clip probability = max over its frames; offline); ``passt`` — PaSST (``hear21passt``,
AudioSet 527 classes, softmax of its logits as audiocraft's KL metric does) when the package and
its weights can be had; or ``package.module:factory`` returning any object with
``probs(audio [C, N] float32, sample_rate) -> [classes]``.
"""
from __future__ import annotations

import math
import typing as tp
from dataclasses import dataclass

import numpy as np
import torch

from ..engine.audio import resample
from ..engine.errors import AgxError, ParameterError

if tp.TYPE_CHECKING:
    from ..engine.explanation import Explanation
    from ..engine.models import LoadedModel
    from ..engine.progress import CancelToken
    from ..engine.take import Take

EPS = 1e-6
KL_DIRECTIONS = ("orig_to_sample", "sample_to_orig")


class ClassifierUnavailable(AgxError, RuntimeError):
    """The requested audio classifier cannot be loaded (package or weights missing)."""


@tp.runtime_checkable
class Classifier(tp.Protocol):
    name: str

    def probs(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """audio [C, N] float32 → class probabilities [classes]."""


class BundledWorldClassifier:
    """The bundled world's 13-event classifier: clip probability of each event (multi-label)."""

    name = "bundled-events"

    def __init__(self, device: str = "cpu") -> None:
        try:
            from ..engine.bundled.loader import load_classifier as _load
            self.model = _load(device)
        except AgxError as e:
            raise ClassifierUnavailable(f"the bundled event classifier cannot be loaded: {e}") from None
        except (ImportError, OSError, FileNotFoundError) as e:
            raise ClassifierUnavailable(f"the bundled event classifier cannot be loaded ({e.__class__.__name__}: "
                                        f"{e}); train it with `make train-bundled` or use --classifier passt") from None
        self.class_names = list(self.model.event_names)

    def probs(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        a = resample(np.asarray(audio, dtype=np.float32), sample_rate, 16000)
        return self.model.frame_probs(a)[0].max(axis=1).astype(np.float64)


class PasstClassifier:
    """PaSST (Koutini et al.) through ``hear21passt``, as audiocraft's KL metric uses it (32 kHz, softmax)."""

    name = "passt"

    def __init__(self, device: str = "cpu") -> None:
        try:
            from hear21passt.base import get_basic_model  # type: ignore
        except ImportError:
            raise ClassifierUnavailable("PaSST is not installed (pip install hear21passt); its pretrained "
                                        "weights are also downloaded from GitHub on first use — use "
                                        "--classifier bundled offline") from None
        try:
            self.model = get_basic_model(mode="logits").eval().to(device)
        except Exception as e:  # the weights come from a GitHub release URL on first use
            raise ClassifierUnavailable(f"PaSST's pretrained weights cannot be had here ({e.__class__.__name__}); "
                                        "use --classifier bundled offline") from None
        self.device = device

    @torch.no_grad()
    def probs(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        a = resample(np.asarray(audio, dtype=np.float32), sample_rate, 32000).mean(0, keepdims=True)
        logits = self.model(torch.as_tensor(a).to(self.device))
        return torch.softmax(logits.float(), dim=-1)[0].cpu().numpy().astype(np.float64)


def load_classifier(name: str = "bundled", device: str = "cpu") -> Classifier:
    """``bundled``, ``passt`` or ``package.module:factory``; raises :class:`ClassifierUnavailable`."""
    if name == "bundled":
        return BundledWorldClassifier(device)
    if name == "passt":
        return PasstClassifier(device)
    if ":" in name:
        import importlib
        mod, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(mod), attr)
            clf = factory()
        except ClassifierUnavailable:
            raise
        except Exception as e:
            raise ClassifierUnavailable(f"classifier '{name}' cannot be loaded ({e.__class__.__name__}: {e})") from None
        if not callable(getattr(clf, "probs", None)):
            raise ClassifierUnavailable(f"classifier '{name}' has no probs(audio, sample_rate) method")
        return clf
    raise ClassifierUnavailable(f"unknown classifier '{name}': use bundled, passt or package.module:factory")


# --------------------------------------------------------------------------- metric functions

def fidelity(p_ref: np.ndarray, p_new: np.ndarray, top1: int | None = None) -> float:
    """|p_ref(c) − p_new(c)| for c = argmax p_ref (or ``top1``)."""
    c = int(np.argmax(p_ref)) if top1 is None else int(top1)
    return float(abs(p_ref[c] - p_new[c]))


def kl_divergence(p_ref: np.ndarray, p_new: np.ndarray) -> float:
    """KL(q_ref ‖ q_new) of the normalised label distributions (ε = 1e-6 inside both logs, so KL(q ‖ q) = 0)."""
    q_ref = np.asarray(p_ref, dtype=np.float64)
    q_new = np.asarray(p_new, dtype=np.float64)
    q_ref = q_ref / max(q_ref.sum(), 1e-12)
    q_new = q_new / max(q_new.sum(), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q_ref > 0, q_ref * (np.log(q_ref + EPS) - np.log(q_new + EPS)), 0.0)
    return float(terms.sum())


# --------------------------------------------------------------------------- batched sampling

def sample_with_masks(model: LoadedModel, take: Take, masks: tp.Sequence[np.ndarray | None], seed: int,
                      max_batch: int = 32, cancel: CancelToken | None = None) -> list[np.ndarray]:
    """Generate one sample of ``take``'s prompt per mask ([steps, L] or None = unmasked), batched.

    Sampling parameters are the take's (top-k, top-p, temperature, guidance, duration). Returns
    the decoded waveforms [C, N] float32 in order.
    """
    from ..engine.generation import validate_duration
    from ..engine.model_inputs import conditions_for
    from ..engine.intervention import cross_attention_mask
    from ..engine.progress import check

    lm = model.lm
    frames = validate_duration(model, take.params.duration)
    L = len(take.text.tokens)
    p = take.params
    out: list[np.ndarray] = []
    with model.threads(), torch.no_grad():
        for c0 in range(0, len(masks), max_batch):
            check(cancel)
            chunk = masks[c0:c0 + max_batch]
            B = len(chunk)
            steps = max([m.shape[0] for m in chunk if m is not None] or [1])
            mt = torch.ones(B, steps, L, dtype=torch.float32, device=model.device)
            for b, m in enumerate(chunk):
                if m is not None:
                    mt[b, :m.shape[0]] = torch.as_tensor(np.asarray(m, dtype=np.float32))
            full = torch.cat([mt, mt], dim=0)  # [cond rows, uncond rows] as LMModel.generate orders them
            torch.manual_seed(int(seed) + c0)
            with cross_attention_mask(lm, full):
                codes = lm.generate(None, [conditions_for(take.prompt)[0] for _ in range(B)], max_gen_len=frames,
                                    use_sampling=p.temperature > 0, temp=max(p.temperature, 1e-6),
                                    top_k=min(int(p.top_k), model.card), top_p=p.top_p, cfg_coef=p.cfg_coef,
                                    two_step_cfg=False)
            audio = model.compression_model.decode(codes.to(model.codec_device), None)
            out.extend(a.float().cpu().numpy().astype(np.float32) for a in audio)
    return out


@dataclass
class MethodScores:
    """One explanation's metrics on one take (each averaged over the samples)."""

    fid_f: float
    fid_cf: float
    kl_f: float
    kl_cf: float
    size: float

    def to_dict(self) -> dict:
        return {k: float(v) for k, v in self.__dict__.items()}


def sample_scores(p_ref: np.ndarray, rows: tp.Sequence[np.ndarray], top1: int,
                  kl_direction: str = "orig_to_sample") -> tuple[float, float]:
    """(mean Fid, mean KL) of the class probabilities ``rows`` of some samples against the original's."""
    def kl(q: np.ndarray) -> float:
        return kl_divergence(p_ref, q) if kl_direction == "orig_to_sample" else kl_divergence(q, p_ref)
    return (float(np.mean([fidelity(p_ref, q, top1) for q in rows])), float(np.mean([kl(q) for q in rows])))


def faithfulness(model: LoadedModel, take: Take, explanations: tp.Mapping[str, Explanation], classifier: Classifier,
                 n_samples: int = 5, sample_seed: int = 1000, floor: bool = True, max_batch: int = 32,
                 cancel: CancelToken | None = None, kl_direction: str = "orig_to_sample") -> dict:
    """Fid_F, Fid_CF, KL_F, KL_CF and size of each explanation of ``take``, plus the floor.

    Returns ``{"top1": c, "methods": {name: MethodScores.to_dict()}, "floor": {"fid", "kl"} | None}``.
    """
    if n_samples < 1:
        raise ParameterError(f"the number of samples must be >= 1, got {n_samples}")
    if kl_direction not in KL_DIRECTIONS:
        raise ParameterError(f"the KL direction must be one of {', '.join(KL_DIRECTIONS)}, got {kl_direction!r}")
    names = list(explanations)
    masks: list[np.ndarray | None] = []
    for name in names:
        m = np.asarray(explanations[name].step_masks, dtype=np.float32)
        masks += [m] * n_samples + [1.0 - m] * n_samples
    if floor:
        masks += [None] * n_samples
    audio = sample_with_masks(model, take, masks, sample_seed, max_batch=max_batch, cancel=cancel)
    sr = model.sample_rate
    p_ref = classifier.probs(take.audio, sr)
    c = int(np.argmax(p_ref))
    probs = [classifier.probs(a, sr) for a in audio]

    def scores(rows: list[np.ndarray]) -> tuple[float, float]:
        return sample_scores(p_ref, rows, c, kl_direction)

    result: dict = {"top1": c, "methods": {}, "floor": None}
    for i, name in enumerate(names):
        base = i * 2 * n_samples
        f_rows, cf_rows = probs[base:base + n_samples], probs[base + n_samples:base + 2 * n_samples]
        fid_f, kl_f = scores(f_rows)
        fid_cf, kl_cf = scores(cf_rows)
        result["methods"][name] = MethodScores(fid_f, fid_cf, kl_f, kl_cf,
                                               float(explanations[name].mask_size())).to_dict()
    if floor:
        fid, kl = scores(probs[len(names) * 2 * n_samples:])
        result["floor"] = {"fid": fid, "kl": kl}
    return result


def mean_se(values: tp.Sequence[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / √n; 0 for n = 1) ignoring NaN."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return float(v.mean()), se
