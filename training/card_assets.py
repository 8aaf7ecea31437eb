"""Spectrogram pictures of example generations for resources/bundled/MODEL_CARD.md (no matplotlib:
a tiny numpy + zlib PNG writer). Run after training: python -m training.card_assets
"""
from __future__ import annotations

import json
import pathlib
import struct
import sys
import zlib

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agx_desktop.engine.bundled import codec as C  # noqa: E402
from agx_desktop.engine.bundled import loader, world  # noqa: E402

EXAMPLES = [
    "A dog barks then a bell rings",
    "A bell rings then a dog barks",
    "A siren wails while rain falls",
    "Thunder rumbles with birds chirping in the background",
    "A clock ticks",
    "Someone knocks on a door followed by footsteps",
]

# viridis-like anchor colours
_ANCHORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64)


def colormap(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1) * (len(_ANCHORS) - 1)
    i = np.minimum(x.astype(int), len(_ANCHORS) - 2)
    f = (x - i)[..., None]
    return (_ANCHORS[i] * (1 - f) + _ANCHORS[i + 1] * f).astype(np.uint8)


def write_png(path: pathlib.Path, rgb: np.ndarray) -> None:
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[r].tobytes() for r in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def spectrogram_png(path: pathlib.Path, wav: np.ndarray, scale: int = 4) -> None:
    lm = C.log_mel(torch.from_numpy(np.asarray(wav, dtype=np.float32)).reshape(1, -1))[0].numpy()  # [64, T]
    lo, hi = np.percentile(lm, 2), lm.max()
    img = colormap((lm - lo) / max(hi - lo, 1e-6))[::-1]  # low frequencies at the bottom
    img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    mid = img.shape[1] // 2
    img[:, mid:mid + 1] = 255  # the half-way line
    write_png(path, img)


def main() -> None:
    from agx_desktop.engine.generation import generate
    from agx_desktop.engine.models import load_model

    torch.set_num_threads(2)
    out = loader.BUNDLED_DIR / "examples"
    out.mkdir(exist_ok=True)
    m = load_model("bundled", device="cpu")
    clf = loader.load_classifier()
    rows = []
    for i, p in enumerate(EXAMPLES):
        take = generate(m, p, m.default_params(duration=5, seed=1))  # as the app generates it
        name = f"gen_{i}.png"
        spectrogram_png(out / name, take.audio[0])
        det1 = clf.detect(take.audio[0], interval=(0, 2.5))
        det2 = clf.detect(take.audio[0], interval=(2.5, 5))
        rows.append({"prompt": p, "png": f"examples/{name}", "first_half": det1, "second_half": det2})
    for rel, names, fn in [("then", ["dog", "bell"], "world_dog_then_bell.png")]:
        sc = world.make_scene(np.random.default_rng(3), rel, names, [(), ()])
        spectrogram_png(out / fn, sc.audio)
        rows.append({"prompt": sc.caption + " (training-world scene, not generated)", "png": f"examples/{fn}",
                     "first_half": clf.detect(sc.audio, interval=(0, 2.5)),
                     "second_half": clf.detect(sc.audio, interval=(2.5, 5))})
    (out / "examples.json").write_text(json.dumps(rows, indent=2) + "\n")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
