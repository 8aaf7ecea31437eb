"""Train the world's event classifier (stage `classifier` of train_bundled.py), seeded.

Input: training/runs/data.npz (log-mel + frame labels of the training scenes) and the shipped codec.
Half of the training examples are codec round trips (encode -> Griffin-Lim decode -> log-mel) of
the same scenes, so that the classifier judges generated audio on the same footing.
Validation: 200 fresh world scenes (seeds 5_000_000+), original and round trip.
"""
from __future__ import annotations

import json
import pathlib
import time

import numpy as np
import torch
import torch.nn.functional as F

from agx_desktop.engine.bundled import codec as C
from agx_desktop.engine.bundled import loader, world
from agx_desktop.engine.bundled.classifier import EventClassifier

SEED = 4321
N_ROUNDTRIP = 400
STEPS = 1500
VAL_SEED0 = 5_000_000
N_VAL = 200


def _roundtrip_mel(codec, mel: torch.Tensor) -> torch.Tensor:
    """log-mel [B, 64, T] -> codes -> decoded audio -> log-mel."""
    z = (mel.transpose(1, 2) - codec.mean) / codec.std
    codes = codec.quantize(z)
    wav = codec.decode(codes)
    return C.log_mel(wav)


def _metrics(clf, mel, labels) -> dict:
    with torch.no_grad():
        p = torch.sigmoid(clf(mel))
        p = F.avg_pool1d(p, 3, stride=1, padding=1, count_include_pad=False)
    clip_p = p.max(-1).values.numpy() > 0.5
    clip_y = labels.max(-1).values.numpy() > 0.5
    frame_acc = float(((p.numpy() > 0.5) == (labels.numpy() > 0.5)).mean())
    return {"recall": float(clip_p[clip_y].mean()), "false_positive": float(clip_p[~clip_y].mean()),
            "frame_accuracy": frame_acc}


def train_classifier(runs: pathlib.Path, out: pathlib.Path, n_scenes: int | None = None) -> dict:
    from safetensors.torch import save_file

    torch.set_num_threads(1)  # runs beside the LM stage; small enough for one core
    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED)
    t0 = time.time()
    d = np.load(runs / "data.npz")
    mel = torch.from_numpy(d["mel"][:n_scenes].astype(np.float32))  # the first n_scenes (None: all)
    lab = torch.from_numpy(d["labels"][:n_scenes].astype(np.float32))
    codec = loader.build_codec(loader.load_safetensors(out / loader.CODEC_NAME))
    rt_idx = torch.randperm(len(mel), generator=g)[:N_ROUNDTRIP]
    rt = torch.cat([_roundtrip_mel(codec, mel[rt_idx[i:i + 100]]) for i in range(0, N_ROUNDTRIP, 100)])
    X = torch.cat([mel, rt])
    Y = torch.cat([lab, lab[rt_idx]])
    print(f"classifier: {len(X)} examples ({N_ROUNDTRIP} codec round trips) in {time.time() - t0:.0f}s", flush=True)

    # validation scenes (fresh seeds)
    vs = [world.scene_from_seed(VAL_SEED0 + i) for i in range(N_VAL)]
    vmel = C.log_mel(torch.from_numpy(np.stack([s.audio for s in vs])))
    vlab = torch.from_numpy(np.stack([s.frame_labels(25.0) for s in vs]))
    vrt = torch.cat([_roundtrip_mel(codec, vmel[i:i + 100]) for i in range(0, N_VAL, 100)])

    clf = EventClassifier()
    clf.mean.copy_(mel.mean(dim=(0, 2)))
    clf.std.copy_(mel.std(dim=(0, 2)).clamp_min(1e-3))
    opt = torch.optim.AdamW(clf.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=STEPS, pct_start=0.1)
    for step in range(STEPS):
        idx = torch.randint(0, len(X), (64,), generator=g)
        x = X[idx] + (torch.rand(64, 1, 1, generator=g) - 0.5) * 3.0  # +-1.5 nats (~6.5 dB) gain jitter
        loss = F.binary_cross_entropy_with_logits(clf(x), Y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0:
            print(f"classifier step {step} loss {loss.item():.4f}", flush=True)
    clf.eval()
    m = {"val_original": _metrics(clf, vmel, vlab), "val_codec_roundtrip": _metrics(clf, vrt, vlab),
         "train_seconds": round(time.time() - t0), "steps": STEPS, "seed": SEED,
         "arch": {"channels": 96, "dilations": [1, 2, 4, 8, 1]}}
    save_file({k: v.contiguous() for k, v in clf.state_dict().items()}, str(out / loader.CLASSIFIER_NAME))
    cfg_path = out / loader.CONFIG_NAME
    cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    cfg["classifier"] = m
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    print(f"classifier: {json.dumps(m)}", flush=True)
    return m
