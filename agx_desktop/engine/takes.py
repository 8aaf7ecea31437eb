"""Take folders on disk, written atomically and read back to an identical :class:`Take`.

Layout of a take folder::

    audio.wav             float32 WAV (lossless; export converts to 16/24-bit)
    take.json             prompt, model, seed, every generation parameter, tokens ↔ words
    tensors.safetensors   codes [K, T] and latents [steps, D] (and the step mask, if any)
    explanation.json      written by ``agx explain`` (see :mod:`explain.base`)

A folder is first written under a hidden temporary name beside its destination and then renamed,
so a crash never leaves a half-written take.
"""
from __future__ import annotations

import json
import os
import shutil
import typing as tp
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from .errors import NotATakeError
from .fsio import write_json_atomic, write_text_atomic  # noqa: F401  (re-exported: settings, evaluate)
from .take import GenerationParams, Take
from .text import TextTokens

AUDIO, META, TENSORS, EXPLANATION = "audio.wav", "take.json", "tensors.safetensors", "explanation.json"


def _write_contents(take: Take, folder: Path) -> None:
    sf.write(folder / AUDIO, take.audio.T, take.sample_rate, subtype="FLOAT")
    tensors = {"codes": take.codes.contiguous().long(), "latents": take.latents.contiguous().float()}
    if take.step_mask is not None:
        tensors["step_mask"] = torch.from_numpy(np.ascontiguousarray(take.step_mask, dtype=np.float32))
    save_file(tensors, str(folder / TENSORS))
    with open(folder / META, "w", encoding="utf-8") as f:
        json.dump(take.metadata(), f, indent=1, ensure_ascii=False)


def save_take(take: Take, folder: str | Path) -> Path:
    """Write ``take`` to ``folder`` atomically, replacing an earlier take there.

    An ``explanation.json`` already in the folder is kept only if it explains the same take id.
    """
    folder = Path(folder).expanduser().resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _write_contents(take, tmp)
        old_expl = folder / EXPLANATION
        if old_expl.is_file():
            try:
                if json.loads(old_expl.read_text(encoding="utf-8")).get("take_id") == take.id:
                    shutil.copy2(old_expl, tmp / EXPLANATION)
            except (OSError, ValueError):
                pass
        if folder.exists():
            trash = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(folder, trash)
            os.replace(tmp, folder)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def is_take_folder(folder: str | Path) -> bool:
    folder = Path(folder)
    return all((folder / f).is_file() for f in (AUDIO, META, TENSORS))


def load_take(folder: str | Path) -> Take:
    """Read a take folder back. Raises :class:`NotATakeError` if it is not one or is corrupt."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise NotATakeError(f"{folder} is not a folder: give the folder that `agx generate --out` wrote")
    if not is_take_folder(folder):
        missing = [f for f in (AUDIO, META, TENSORS) if not (folder / f).is_file()]
        raise NotATakeError(f"{folder} is not a take folder (missing {', '.join(missing)}): "
                            "give the folder that `agx generate --out` wrote")
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        audio, sr = sf.read(folder / AUDIO, dtype="float32", always_2d=True)
        tensors = load_file(str(folder / TENSORS))
        params = GenerationParams(**meta["params"])
        take = Take(prompt=meta["prompt"], model_id=meta["model"], params=params, sample_rate=int(sr),
                    frame_rate=float(meta["frame_rate"]), audio=np.ascontiguousarray(audio.T),
                    codes=tensors["codes"], latents=tensors["latents"], text=TextTokens.from_dict(meta["text"]),
                    word_weights=meta.get("word_weights"),
                    step_mask=tensors["step_mask"].numpy() if "step_mask" in tensors else None,
                    kind=meta.get("kind", "original"), parent=meta.get("parent"),
                    seconds=float(meta.get("seconds", 0.0)), id=meta["id"], created=meta["created"],
                    model_fingerprint=meta.get("model_fingerprint"))
    except NotATakeError:
        raise
    except Exception as exc:
        raise NotATakeError(f"{folder} holds a corrupt take ({type(exc).__name__}: {str(exc)[:160]})") from exc
    return take


def save_explanation(explanation: tp.Any, folder: str | Path, interval: tuple[float, float] | None = None) -> Path:
    """Write ``explanation.json`` into a take folder atomically (importance over ``interval``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotATakeError(f"{folder} is not a folder")
    path = folder / EXPLANATION
    write_json_atomic(path, explanation.to_json(interval))
    return path


def load_explanation(folder: str | Path) -> tp.Any:
    """Read ``explanation.json`` back as an :class:`~agx_desktop.engine.explain.base.Explanation`."""
    from .explain.base import Explanation

    path = Path(folder) / EXPLANATION
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run `agx explain {folder}` first")
    try:
        return Explanation.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise NotATakeError(f"{path} is corrupt ({type(exc).__name__}): explain the take again") from exc
