"""Why AudioGenX's first-half figure on "X then Y" stays short of 70% (issue 3): probes, one command.

    python benchmarks/probe_first_half.py                      # teacher-forced probes (about 3 min)
    python benchmarks/probe_first_half.py --occlusion          # + regeneration occlusion (about 9 more min)
    python benchmarks/probe_first_half.py --lm-weights W.safetensors --tag input_noise_trial
                                                               # the same probes on other LM weights

On the held-out "X then Y" captions and takes of ``bench_bundled.py --only explain`` (same seeds,
the model's default sampling), each take's X words and Y words are muted with hard 0/1 masks, and
each probe asks: in the first half, does muting X change the model more than muting Y (and in the
second half the reverse)? A faithful explanation of what a probe measures cannot rank the words
better than the probe itself does, so a probe well under 70% on the first half rules out every
explainer that optimises its quantity. Probes:

  * teacher-forced, as AudioGenX sees the take (the model reads the take's own codes), comparing
    the final hidden states e_t (1 − cos, the paper's space), the next-code distributions (KL,
    all codebooks and each codebook alone) and the log-likelihood of the generated codes (NLL);
  * the same with renormalised masking (the kept words' attention weights rescaled to sum to 1,
    so muting cannot act through the lost attention mass alone);
  * closed loop, first order: each step's input also carries the change the mask made to the
    previous step's expected code embedding, so a change near X's onset propagates forward as
    it would when generating (exact with the full mask: e_t equal to 1e-7);
  * ``--occlusion``: regeneration occlusion, not a teacher-forced probe: each word muted in turn
    and the take regenerated with the same seed; a word's importance in a region is the log-mel
    distance there (also scored on the single-event captions: own word above every filler).

Results are printed and merged into resources/bundled/metrics.json under ``--tag``.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import typing as tp

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_bundled as bb  # noqa: E402
from agx_desktop.engine import intervention, teacher  # noqa: E402
from agx_desktop.engine.bundled import loader, world  # noqa: E402
from agx_desktop.engine.explain._common import target_nll  # noqa: E402
from agx_desktop.engine.explain.base import step_targets  # noqa: E402
from agx_desktop.engine.explanation import steps_for_interval  # noqa: E402

HALVES = {"first": (0.0, bb.HALF), "second": (bb.HALF, 2 * bb.HALF)}


def renormalised_masking() -> tp.ContextManager:
    """Context: masked cross-attention weights rescaled so the kept ones sum to 1 per query."""
    import contextlib

    original = intervention.masked_cross_attention

    def masked(mod, query, key, value, mask_rows=None, on_weights=None):
        if mask_rows is None:
            return original(mod, query, key, value, None, on_weights)
        rows = mask_rows.unsqueeze(1)

        def rescale(w: torch.Tensor) -> torch.Tensor:
            kept = w * rows.to(w)
            # ``original`` multiplies by the mask again after this: divide it out where it is non-zero
            return kept / (kept.sum(-1, keepdim=True) + 1e-6) / rows.to(w).clamp(min=1e-6)
        return original(mod, query, key, value, mask_rows, rescale)

    @contextlib.contextmanager
    def ctx():
        intervention.masked_cross_attention = masked
        try:
            yield
        finally:
            intervention.masked_cross_attention = original
    return ctx()


def closed_loop_latents(m, inputs: teacher.TeacherInputs, mask: torch.Tensor, q_ref: torch.Tensor) -> torch.Tensor:
    """e_t [B, steps, D] when each step's input embedding also carries the change the mask made to the
    previous step's expected code embedding (first-order closed loop; the reference pass's own
    distributions ``q_ref`` [K, steps, card] make the full mask reproduce teacher forcing exactly)."""
    lm = m.lm
    B, K, S = mask.shape[0], inputs.sequence.shape[1], inputs.n_steps
    seq = inputs.sequence.expand(B, -1, -1)
    cond = teacher.expand_condition(inputs.condition, B)
    deltas: list[torch.Tensor | None] = [None] * K

    def add_delta(k: int):
        return lambda mod, args, out: out if deltas[k] is None else out + deltas[k][:, None, :]
    hooks = [lm.emb[k].register_forward_hook(add_delta(k)) for k in range(K)]
    prev = None
    try:
        with lm.streaming(), intervention.cross_attention_mask(lm, mask), intervention.HiddenCapture(lm) as hc:
            for s in range(S):
                for k in range(K):
                    valid = prev is not None and int(inputs.sequence[0, k, s]) != lm.special_token_id
                    deltas[k] = ((prev[:, k] - q_ref[k, s - 1]) @ lm.emb[k].weight[: q_ref.shape[-1]]
                                 if valid else None)
                logits = lm(seq[:, :, s:s + 1], [], condition_tensors=cond)
                prev = torch.softmax(logits[:, :, 0].float(), -1)
            return torch.cat(hc.outputs, dim=1)
    finally:
        for h in hooks:
            h.remove()


def teacher_forced_probes(m, take, px: list, py: list, closed_loop: bool) -> dict:
    """{probe: {half: (change muting X, change muting Y)}} for one take."""
    words = take.text.words
    rows = [np.ones(len(take.text.tokens))] + [
        take.text.word_token_mask([0.0 if j in pos else 1.0 for j in range(len(words))]) for pos in (px, py)]
    inputs = teacher.prepare(m, take)
    mask = torch.tensor(np.stack(rows), dtype=torch.float32)[:, None, :].expand(-1, inputs.n_steps, -1).contiguous()
    targets = step_targets(m, take)
    out: dict = {}

    def measure(prefix: str, hidden: torch.Tensor, logits: torch.Tensor | None) -> None:
        per_step = {"latents": 1 - F.cosine_similarity(hidden[:1], hidden, dim=-1)}  # [3, S]
        if logits is not None:
            lp = torch.log_softmax(logits.float(), -1)  # [3, K, S, card]
            kl = (lp[:1].exp() * (lp[:1] - lp)).sum(-1)  # [3, K, S]
            per_step["kl"] = kl.sum(1)
            for c in range(kl.shape[1]):
                per_step[f"kl_codebook{c}"] = kl[:, c]
            nll = target_nll(logits, targets)
            per_step["nll"] = nll - nll[:1]
        for name, v in per_step.items():
            out[f"{prefix}{name}"] = {}
            for half, iv in HALVES.items():
                st = steps_for_interval(iv, inputs.step_frames, inputs.n_frames, m.frame_rate)
                out[f"{prefix}{name}"][half] = (float(v[1, st].mean()), float(v[2, st].mean()))

    with torch.no_grad(), m.threads():
        hidden, logits = teacher.forward(m, inputs, mask.to(m.device), batch=3)
        measure("", hidden.float(), logits)
        with renormalised_masking():
            h2, l2 = teacher.forward(m, inputs, mask.to(m.device), batch=3)
        measure("renormalised_", h2.float(), l2)
        if closed_loop:
            q_ref = torch.softmax(logits[0].float(), -1)
            measure("closed_loop_", closed_loop_latents(m, inputs, mask.to(m.device), q_ref).float(), None)
    return out


def occlusion(m, take, regenerate) -> np.ndarray:
    """[words, frames]: log-mel distance per frame when each word alone is muted and regenerated."""
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(m.sample_rate, n_fft=1024, hop_length=int(m.sample_rate / m.frame_rate),
                                               n_mels=64)

    def logmel(audio) -> torch.Tensor:
        return torch.log(mel(torch.as_tensor(np.asarray(audio, dtype=np.float32)).reshape(-1)) + 1e-5)

    base = logmel(take.audio[0])
    n = len(take.text.words)
    rows = []
    for j in range(n):
        other = regenerate(m, take, "weighted", word_weights=[0.0 if i == j else 1.0 for i in range(n)])
        rows.append(((logmel(other.audio[0]) - base) ** 2).mean(0).sqrt().numpy())
    return np.array(rows)[:, : take.codes.shape[-1]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=30, help="'X then Y' captions (and single-event ones for occlusion)")
    ap.add_argument("--seed-offset", type=int, default=0, help="as bench_bundled.py (0: the original held-out set)")
    ap.add_argument("--temperature", type=float, default=None, help="default: the model's (0.8)")
    ap.add_argument("--lm-weights", default=None, help="safetensors LM weights to probe instead of the shipped ones")
    ap.add_argument("--no-closed-loop", action="store_true")
    ap.add_argument("--occlusion", action="store_true", help="also regeneration occlusion (slow)")
    ap.add_argument("--tag", default="first_half_probe")
    ap.add_argument("--out", default=str(loader.BUNDLED_DIR / "metrics.json"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    from agx_desktop.engine.generation import GenerationParams, generate, regenerate
    from agx_desktop.engine.models import load_model

    t0 = time.perf_counter()
    m = load_model("bundled", device="cpu", use_cache=False)
    if a.lm_weights:
        from safetensors.torch import load_file
        m.lm.load_state_dict(load_file(a.lm_weights), strict=True)
    d = m.default_params()
    temp = d.temperature if a.temperature is None else a.temperature
    seen = bb.train_captions()
    thens = bb.held_out(a.n, 40_000_000 + a.seed_offset, seen, relation="then")
    per_take: list[dict] = []
    occl = {"first": 0, "second": 0, "n": 0}
    for i, sc in enumerate(thens):
        x = world.EVENTS[world.EVENT_INDEX[sc.events[0].name]]
        y = world.EVENTS[world.EVENT_INDEX[sc.events[1].name]]
        take = generate(m, sc.caption, GenerationParams(duration=5, seed=1000 + i, top_k=d.top_k, temperature=temp))
        words = list(take.text.words)
        px = bb._positions(words, set(x.words))
        py = [j for j in bb._positions(words, set(y.words)) if j not in px]
        if not px or not py:
            continue
        per_take.append(teacher_forced_probes(m, take, px, py, not a.no_closed_loop))
        if a.occlusion:
            pf = occlusion(m, take, regenerate)
            half = pf.shape[1] // 2
            i1, i2 = pf[:, :half].mean(1), pf[:, half:].mean(1)
            occl["n"] += 1
            occl["first"] += int(i1[px].max() > i1[py].max())
            occl["second"] += int(i2[py].max() > i2[px].max())
        print(i, end=" ", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    probes = {}
    for name in per_take[0]:
        first = [r[name]["first"][0] > r[name]["first"][1] for r in per_take]
        second = [r[name]["second"][1] > r[name]["second"][0] for r in per_take]
        probes[name] = {"first_half_x_moves_more": float(np.mean(first)),
                        "second_half_y_moves_more": float(np.mean(second))}
        print(f"{name:32s} 1st half X>Y {np.mean(first):6.1%}   2nd half Y>X {np.mean(second):6.1%}")
    res: dict = {"n_then": len(per_take), "temperature": temp, "seed_offset": a.seed_offset,
                 "lm_weights": a.lm_weights or "shipped", "probes": probes}
    if a.occlusion:
        singles = [s for s in bb.held_out(a.n * 2, 30_000_000 + a.seed_offset, seen, relation="single")
                   if any(bb._norm(w) in world.FILLER_WORDS for w in s.caption.split())][: a.n]
        wins = used = 0
        for i, sc in enumerate(singles):
            ev = world.EVENTS[world.EVENT_INDEX[sc.names[0]]]
            take = generate(m, sc.caption, GenerationParams(duration=5, seed=i, top_k=d.top_k, temperature=temp))
            words = list(take.text.words)
            own = bb._positions(words, set(ev.words))
            fil = [j for j in bb._positions(words, set(world.FILLER_WORDS)) if j not in own]
            if not own or not fil:
                continue
            imp = occlusion(m, take, regenerate).mean(1)
            used += 1
            wins += int(imp[own].max() > imp[fil].max())
        res["occlusion"] = {"first_half_correct": occl["first"] / max(occl["n"], 1),
                            "second_half_correct": occl["second"] / max(occl["n"], 1), "n_then": occl["n"],
                            "single_own_word_beats_fillers": wins / max(used, 1), "n_single": used}
        print("regeneration occlusion:", json.dumps(res["occlusion"]))
    res["seconds"] = round(time.perf_counter() - t0)
    out = pathlib.Path(a.out)
    prev = json.loads(out.read_text()) if out.exists() else {}
    prev[a.tag] = res
    from agx_desktop.engine.fsio import write_text_atomic
    write_text_atomic(out, json.dumps(prev, indent=2) + "\n")


if __name__ == "__main__":
    main()
