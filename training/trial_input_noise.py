"""Trial, not part of the recipe (issue 3's first-half probe): fine-tune the shipped LM with its
input codes corrupted, to see whether an LM that cannot lean on the audio it has heard so far ties
the first half of "X then Y" to X's words more.

    python training/trial_input_noise.py --out /tmp/lm_input_noise.safetensors     # about 5 min
    python benchmarks/probe_first_half.py --lm-weights /tmp/lm_input_noise.safetensors \
        --tag first_half_probe_input_noise_trial

Each training step replaces ``--rate`` of the pattern-sequence positions (all codebooks of a step
at once) with random codes in the LM's input while the targets stay the take's own codes; the rest
is the recipe's LM training (same data, caption-length buckets, condition dropout 0.15), from the
shipped weights, ``--steps`` steps at a constant-then-linear learning rate. Seeded: reruns give the
same weights. Needs training/runs/codes.npz and text.npz (``python training/train_bundled.py data
codec text``).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))

import train_bundled as T  # noqa: E402
from agx_desktop.engine.bundled import loader  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--rate", type=float, default=0.3, help="fraction of input steps replaced by random codes")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(1)
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    codes = torch.from_numpy(np.load(T.RUNS / "codes.npz")["codes"].astype(np.int64))
    tx = np.load(T.RUNS / "text.npz")
    H, ci = torch.from_numpy(tx["hidden"]), torch.from_numpy(tx["caption_index"])
    M = torch.from_numpy(tx["mask"].astype(np.int64))
    n_tr = len(codes) - 200  # the recipe's validation clips stay out
    lm = loader.build_lm(T.LM_CFG, cfg_dropout=0.0)
    lm.load_state_dict(load_file(str(loader.BUNDLED_DIR / loader.LM_NAME)), strict=True)
    cond = lm.condition_provider.conditioners["description"]
    opt = torch.optim.AdamW(lm.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.0)
    lengths = M[ci].sum(1)[:n_tr]
    buckets = {int(n): torch.nonzero(lengths == n).flatten() for n in torch.unique(lengths)}
    keys = sorted(buckets)
    sizes = torch.tensor([float(len(buckets[k])) for k in keys])

    def corrupt(module, args):
        seq = args[0].clone()
        B, K, S = seq.shape
        hit = (torch.rand(B, 1, S, generator=g) < a.rate).expand(B, K, S) & (seq != lm.special_token_id)
        seq[hit] = torch.randint(0, lm.card, (int(hit.sum()),), generator=g)
        return (seq,) + tuple(args[1:])
    handle = lm.register_forward_pre_hook(corrupt)
    t0, run = time.time(), None
    lm.train()
    for step in range(a.steps):
        pool = buckets[keys[int(torch.multinomial(sizes, 1, generator=g))]]
        idx = pool[torch.randint(0, len(pool), (32,), generator=g)]
        drop = torch.rand(32, generator=g) < 0.15
        h, m = H[ci[idx]].float(), M[ci[idx]].clone()
        L = int(m.sum(1).max())
        h, m = h[:, :L], m[:, :L]
        m[drop] = 0
        out = lm.compute_predictions(codes[idx], [], {"description": cond.project(h, m)})
        loss = torch.nn.functional.cross_entropy(out.logits[out.mask], codes[idx][out.mask])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        for group in opt.param_groups:
            group["lr"] = a.lr * min(1.0, (step + 1) / 20) * (1 - 0.9 * step / a.steps)
        opt.step()
        run = loss.item() if run is None else 0.95 * run + 0.05 * loss.item()
        if step % 50 == 0:
            print(f"step {step} loss {run:.3f} {time.time() - t0:.0f}s", flush=True)
    handle.remove()
    save_file({k: v.detach().contiguous() for k, v in lm.state_dict().items()}, a.out)
    print(f"wrote {a.out} in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
