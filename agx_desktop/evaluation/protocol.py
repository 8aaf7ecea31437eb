"""The evaluation protocol (paper Tables 1-2): its inputs and what is measured for one caption.

For every caption of a caption file (one per line; blank lines skipped and counted):
  1. generate a take (seed = ``--seed`` + caption index, ``--duration`` seconds);
  2. explain it with every method, timing each and sampling its peak memory (:class:`.memory.PeakMemory`);
  3. regenerate factual/counterfactual samples and the floor, score them with the classifier
     (:func:`.metrics.faithfulness`).
The resumable run over a caption file is :mod:`.cli`; the results files :mod:`.store`; the tables :mod:`.tables`.
"""
from __future__ import annotations

import os
import time
import typing as tp
from pathlib import Path

from ..engine.errors import AgxError
from .memory import PeakMemory

if tp.TYPE_CHECKING:
    from ..engine.models import LoadedModel
    from ..engine.progress import CancelToken
    from .metrics import Classifier

DEFAULT_METHODS = ["random", "gradcam-e", "gradcam-a", "atman", "chefer", "rollout", "audiogenx"]


class EvaluationError(AgxError, ValueError):
    """Bad input to ``agx evaluate`` (caption file, output folder, settings)."""



def read_captions(path: str | os.PathLike) -> tuple[list[str], int]:
    """(captions, blank lines skipped); raises :class:`EvaluationError` for a missing/empty file."""
    p = Path(path)
    if not p.is_file():
        raise EvaluationError(f"caption file not found: {p}")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise EvaluationError(f"caption file {p} is not UTF-8 text") from None
    captions = [ln.strip() for ln in lines if ln.strip()]
    blank = len(lines) - len(captions)
    if not captions:
        raise EvaluationError(f"caption file {p} has no captions (one per line)"
                              + (f"; {blank} blank line(s)" if blank else ""))
    return captions, blank


def parse_methods(spec: str | tp.Sequence[str] | None) -> list[str]:
    """Method names (comma-separated or a list); ``audiogenx-paper`` / ``audiogenx-reference-code`` are
    AudioGenX in those modes (``audiogenx-reference``: the paper mode's old name, still accepted)."""
    from ..engine.errors import UnknownMethodError
    from ..engine.explain import available_methods
    if spec is None:
        return list(DEFAULT_METHODS)
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    known = available_methods() + list(MODE_METHODS)
    for n in names:
        if n not in known:
            raise UnknownMethodError(f"unknown method '{n}': use one of {', '.join(known)}")
    if not names:
        raise EvaluationError("no methods given")
    return list(dict.fromkeys(names))


def write_heldout_world_captions(path: str | os.PathLike, n: int, first_seed: int = 1_000_000) -> int:
    """Write ``n`` captions of the bundled world that are not among its training captions.

    Training scenes are seeds [0, 8000) (``resources/bundled/config.json``); these come from seeds
    ``first_seed``..., keeping only captions absent from ``train_captions.txt.gz`` and unique.
    Returns the number of seeds drawn.
    """
    import gzip
    from ..engine.bundled import world
    from ..engine.bundled.loader import BUNDLED_DIR
    with gzip.open(BUNDLED_DIR / "train_captions.txt.gz", "rt", encoding="utf-8") as f:
        train = {ln.strip().lower() for ln in f if ln.strip()}
    out: list[str] = []
    seed = first_seed
    while len(out) < n:
        cap = world.scene_from_seed(seed).caption
        seed += 1
        if cap.lower() not in train and cap not in out:
            out.append(cap)
    Path(path).write_text("\n".join(out) + "\n", encoding="utf-8")
    return seed - first_seed


#: evaluation method names that are AudioGenX in one mode -> that mode
MODE_METHODS = {"audiogenx-paper": "paper", "audiogenx-reference-code": "reference-code",
                "audiogenx-reference": "paper"}  # the paper mode's old name (it was called "reference")


def method_call(name: str, params: dict) -> tuple[str, dict]:
    """(registered method, its params) for an evaluation method name."""
    if name in MODE_METHODS:
        return "audiogenx", {**params.get("audiogenx", {}), "mode": MODE_METHODS[name]}
    return name, dict(params.get(name, {}))


def method_settings(name: str, method_params: dict, model: LoadedModel | None = None) -> dict:
    """What a method's results depend on, recorded with them (its :meth:`Explainer.provenance`):
    AudioGenX's full resolved settings (so a change of the default mode's stop rule is seen) and,
    given the model, whether its passes ran in bf16; the settings given otherwise for the others."""
    from ..engine.explain import get_explainer
    registered, params = method_call(name, method_params)
    explainer = get_explainer(registered)
    return explainer.provenance(explainer.Settings.from_values(params, method=registered), model)


def evaluate_caption(model: LoadedModel, caption: str, index: int, methods: list[str], classifier: Classifier, *,
                     duration: float, seed: int, samples: int, method_params: dict, sample_seed: int,
                     cancel: CancelToken | None = None, floor: bool = True,
                     kl_direction: str = "orig_to_sample") -> dict:
    """One caption's record: take generation, every method's explanation, metrics and costs.

    ``floor=False`` skips the unmasked samples (when only some methods are recomputed);
    ``kl_direction``: :data:`.metrics.KL_DIRECTIONS`."""
    from ..engine.explain import explain
    from ..engine.generation import generate
    from .metrics import faithfulness
    from ..engine.take import GenerationParams

    take_seed = seed + index
    t0 = time.perf_counter()
    # The protocol's sampling is fixed (AudioGen's: top-k 250, temperature 1.0, guidance 3.0), not the
    # model's recommended defaults, so results stay comparable across models and runs.
    take = generate(model, caption, GenerationParams(duration=duration, seed=take_seed), cancel=cancel)
    explanations, costs = {}, {}
    for name in methods:
        registered, params = method_call(name, method_params)
        with PeakMemory(model.device) as mem:
            start = time.perf_counter()
            ex = explain(model, take, method=registered, cancel=cancel, **params)
            seconds = time.perf_counter() - start
        explanations[name] = ex
        costs[name] = {"seconds": seconds, "peak_mb": mem.peak_mb}
    scores = faithfulness(model, take, explanations, classifier, n_samples=samples,
                          sample_seed=sample_seed + index, cancel=cancel, floor=floor, kl_direction=kl_direction)
    for name in methods:
        scores["methods"][name].update(costs[name])
        scores["methods"][name]["settings"] = method_settings(name, method_params, model)
        scores["methods"][name]["words"] = [float(v) for v in explanations[name].word_importance()]
        if "epochs_run" in explanations[name].extras:
            scores["methods"][name]["epochs_run"] = int(explanations[name].extras["epochs_run"])
    return {"index": index, "caption": caption, "take_seed": take_seed, "words": take.words,
            "top1": scores["top1"], "methods": scores["methods"], "floor": scores["floor"],
            "seconds": time.perf_counter() - t0}


def stale_methods(record: dict, methods: list[str], method_params: dict, model: LoadedModel | None = None) -> list[str]:
    """Methods of ``record`` whose results were made with other settings than now (or unrecorded ones)."""
    return [m for m in methods if m in record.get("methods", {})
            and record["methods"][m].get("settings") != method_settings(m, method_params, model)]


class CaptionTask(tp.NamedTuple):
    """One caption for a worker (``agx evaluate --workers N`` / ``--ray``): everything
    :func:`evaluate_caption` needs, by name, so it can be sent to another process or machine."""

    index: int
    caption: str
    methods: list[str]
    model: str
    device: str | None
    classifier: str
    duration: float
    seed: int
    samples: int
    method_params: dict
    sample_seed: int
    kl_direction: str = "orig_to_sample"


_WORKER_CLASSIFIERS: dict[str, tp.Any] = {}


def run_caption_task(task: CaptionTask) -> dict:
    """A worker's side of one caption: the model and the classifier are loaded once per worker
    process (``load_model``'s cache, and this module's), the record goes back to the driver,
    which alone writes results.jsonl and the tables."""
    from ..engine import models
    from .metrics import load_classifier
    model = models.load_model(task.model, task.device)
    classifier = _WORKER_CLASSIFIERS.get(task.classifier)
    if classifier is None:
        classifier = _WORKER_CLASSIFIERS[task.classifier] = load_classifier(task.classifier)
    return evaluate_caption(model, task.caption, task.index, task.methods, classifier, duration=task.duration,
                            seed=task.seed, samples=task.samples, method_params=task.method_params,
                            sample_seed=task.sample_seed, kl_direction=task.kl_direction)
