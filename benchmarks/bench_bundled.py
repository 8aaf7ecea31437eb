"""Speed and quality of the bundled model (issue 3), one command:

    python benchmarks/bench_bundled.py            # everything (about 15-25 min on 2 cores)
    python benchmarks/bench_bundled.py --quick    # smaller sets, for a smoke run

Measures, on held-out captions (world seeds never used in training, and caption strings not in
resources/bundled/train_captions.txt.gz), with the engine's own generate/explain:
  * speed: wall seconds to generate 5 s (median of 5, after a warm-up), engine API and audiocraft's;
  * recall / false positives: the shipped event classifier on the generated audio, for every event
    named in the caption / every world event not named (also the classifier on the scenes' own audio,
    its ceiling);
  * order: "X then Y" captions, X detected in the first half and Y in the second; and strictly, as
    the world's scenes have it: only X before 2.1 s and only Y after 2.9 s;
  * explanations (AudioGenX in the engine's default mode; ``--explain-variant '{"mode": "fast"}'`` is
    the paper's optimisation, ``'{"focus": "halves"}'`` the region-local variant, one explanation
    per half): on single-event captions with fillers, the event's own
    words outrank every filler; on "X then Y", the interval explanation of each half ranks that
    half's event words above the other's. Each with the rate a random mask would get, and the
    "X then Y" figures again on the takes whose half sounds as the world's do (take-grounded).
Results: printed as a table and merged into resources/bundled/metrics.json.
"""
from __future__ import annotations

import argparse
import gzip
import json
import pathlib
import statistics
import sys
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agx_desktop.engine.bundled import loader, world  # noqa: E402

HALF = world.CLIP_SECONDS / 2
# In the world's "X then Y" scenes X ends between 2.1 and 2.9 s and Y starts within 0.1 s of that:
# before EARLY only X sounds, after LATE only Y. A take "follows the world" in a half when the classifier agrees there.
EARLY, LATE = 2.1, 2.9


def follows_world(clf, audio, x: str, y: str) -> tuple:
    """(first, second): X and not Y detected in [0, EARLY); Y and not X detected in [LATE, end)."""
    d1 = set(clf.detect(audio, interval=(0.0, EARLY)))
    d2 = set(clf.detect(audio, interval=(LATE, 2 * HALF)))
    return (x in d1 and y not in d1), (y in d2 and x not in d2)


def _norm(w: str) -> str:
    return w.strip(".,;:!?\"'").lower()


def train_captions() -> set:
    p = loader.BUNDLED_DIR / "train_captions.txt.gz"
    with gzip.open(p, "rt") as f:
        return {line.strip() for line in f if line.strip()}


def held_out(n: int, seed0: int, seen: set, **kw) -> list:
    out, s = [], seed0
    while len(out) < n:
        sc = world.scene_from_seed(s, **kw)
        s += 1
        if sc.caption in seen or any(sc.caption == o.caption for o in out):
            continue
        out.append(sc)
    return out


def bench_speed(m, generate, GenerationParams, runs: int = 5) -> dict:
    prompt = "A dog barks then a bell rings"
    generate(m, prompt, GenerationParams(duration=5, seed=0))  # warm-up
    t_engine = []
    for i in range(runs):
        t = time.perf_counter()
        generate(m, prompt, GenerationParams(duration=5, seed=i))
        t_engine.append(time.perf_counter() - t)
    gen = loader.load_bundled_model()
    gen.set_generation_params(duration=5)
    res = {"engine_generate_5s_median_s": round(statistics.median(t_engine), 3),
           "engine_threads": getattr(m, "num_threads", None), "runs": runs}
    before = torch.get_num_threads()
    for threads in sorted({1, before}):
        torch.set_num_threads(threads)
        gen.generate([prompt])
        t_ac = []
        for i in range(runs):
            torch.manual_seed(i)
            t = time.perf_counter()
            gen.generate([prompt])
            t_ac.append(time.perf_counter() - t)
        res[f"audiocraft_generate_5s_median_s_{threads}_threads"] = round(statistics.median(t_ac), 3)
    torch.set_num_threads(before)
    try:
        res["load_avg_1min"] = __import__("os").getloadavg()[0]
    except OSError:
        pass
    return res


def bench_quality(m, generate, GenerationParams, clf, scenes, top_k: int, cfg: float = 3.0,
                  temperature: float = 1.0) -> dict:
    tp_ = fn = fp = tn = 0
    per_event_fp = {e: [0, 0] for e in world.EVENT_NAMES}
    ctp = cfn = cfp = ctn = 0
    per_event = {e: [0, 0] for e in world.EVENT_NAMES}
    for i, sc in enumerate(scenes):
        take = generate(m, sc.caption, GenerationParams(duration=5, seed=i, top_k=top_k, cfg_coef=cfg,
                                                        temperature=temperature))
        det = set(clf.detect(take.audio[0]))
        ref = set(clf.detect(sc.audio))
        named = set(sc.names)
        for e in world.EVENT_NAMES:
            if e in named:
                tp_ += e in det
                fn += e not in det
                ctp += e in ref
                cfn += e not in ref
                per_event[e][0] += e in det
                per_event[e][1] += 1
            else:
                fp += e in det
                tn += e not in det
                per_event_fp[e][0] += e in det
                per_event_fp[e][1] += 1
                cfp += e in ref
                ctn += e not in ref
    return {"n_captions": len(scenes), "recall": tp_ / max(tp_ + fn, 1), "false_positive": fp / max(fp + tn, 1),
            "classifier_on_scene_audio": {"recall": ctp / max(ctp + cfn, 1), "false_positive": cfp / max(cfp + ctn, 1)},
            "per_event_recall": {e: round(a / b, 3) for e, (a, b) in per_event.items() if b},
            "per_event_false_positive": {e: round(a / b, 3) for e, (a, b) in per_event_fp.items() if b},
            "cfg_coef": cfg, "temperature": temperature}


def bench_order(m, generate, GenerationParams, clf, scenes, top_k: int, temperature: float = 1.0,
                cfg: float = 3.0) -> dict:
    ok = ok_lit = n_lit = first_ok = second_ok = 0
    ceiling = strict = strict_first = strict_second = strict_ceiling = 0
    track_x, track_y = [], []  # per-frame detections (probability > 0.5) of X and of Y
    for i, sc in enumerate(scenes):
        x, y = sc.events[0].name, sc.events[1].name
        take = generate(m, sc.caption, GenerationParams(duration=5, seed=i, top_k=top_k, temperature=temperature,
                                                        cfg_coef=cfg))
        a = take.audio[0]
        p = clf.frame_probs(a)[0]
        track_x.append(p[clf.event_names.index(x)] > 0.5)
        track_y.append(p[clf.event_names.index(y)] > 0.5)
        d1, d2 = set(clf.detect(a, interval=(0, HALF))), set(clf.detect(a, interval=(HALF, 2 * HALF)))
        good = x in d1 and y in d2
        ok += good
        first_ok += x in d1
        second_ok += y in d2
        r1, r2 = set(clf.detect(sc.audio, interval=(0, HALF))), set(clf.detect(sc.audio, interval=(HALF, 2 * HALF)))
        ceiling += x in r1 and y in r2
        f1, f2 = follows_world(clf, a, x, y)
        strict += f1 and f2
        strict_first += f1
        strict_second += f2
        strict_ceiling += all(follows_world(clf, sc.audio, x, y))
        if " then " in sc.caption and "," not in sc.caption:
            n_lit += 1
            ok_lit += good
    n = len(scenes)
    return {"n_captions": n, "order_followed": ok / n, "first_in_first_half": first_ok / n,
            "second_in_second_half": second_ok / n, "literal_then_subset": {"n": n_lit, "rate": ok_lit / max(n_lit, 1)},
            "classifier_on_scene_audio": ceiling / n,
            "strict": {"rule": f"only X detected before {EARLY} s and only Y after {LATE} s (as in the world's scenes)",
                       "order_followed": strict / n, "first_part_only_x": strict_first / n,
                       "last_part_only_y": strict_second / n, "classifier_on_scene_audio": strict_ceiling / n},
            "tracks": {"what": "share of takes with X / Y detected, per 12-frame (0.48 s) bin from 0 s",
                       "x": _bins(track_x), "y": _bins(track_y)},
            "temperature": temperature, "cfg_coef": cfg}


def _bins(tracks: list, width: int = 12) -> list:
    t = np.mean(np.stack(tracks).astype(float), axis=0)
    return [round(float(t[j:j + width].mean()), 3) for j in range(0, len(t), width)]


def _positions(words: list, wanted: set) -> list:
    return [i for i, w in enumerate(words) if _norm(w) in wanted]


def bench_explain(m, generate, GenerationParams, explain, singles, thens, top_k: int, params: dict,
                  temperature: float = 1.0, clf=None, method: str = "audiogenx", mute_check: bool = False) -> dict:
    """Explanation figures against the world's ground truth. With the classifier ``clf``, the "X then Y"
    figures are also given on the takes whose half sounds as the world's scenes do
    (``follows_world``): there the caption's order is also the take's. With ``mute_check`` too, also
    against the model's own behaviour: each "X then Y" take is regenerated (same seed) with X's words
    muted and with Y's words muted, and the classifier says how much each muting changed each half."""
    from agx_desktop.engine.generation import regenerate
    fillers = set(world.FILLER_WORDS)
    halves = params.get("focus") == "halves"  # region-local variant: one explanation per half of "X then Y"
    params = {k: v for k, v in params.items() if k != "focus"}
    wins = used = 0
    rnd = []
    secs = []
    for i, sc in enumerate(singles):
        ev = world.EVENTS[world.EVENT_INDEX[sc.names[0]]]
        take = generate(m, sc.caption, GenerationParams(duration=5, seed=i, top_k=top_k, temperature=temperature))
        t = time.perf_counter()
        ex = explain(m, take, method=method, **params)
        secs.append(time.perf_counter() - t)
        words = list(ex.words)
        own = _positions(words, set(ev.words))
        fil = [j for j in _positions(words, fillers) if j not in own]
        if not own or not fil:
            continue
        imp = np.asarray(ex.word_importance(None))
        used += 1
        wins += imp[own].max() > imp[fil].max()
        rnd.append(len(own) / (len(own) + len(fil)))  # P(random scores put an own word on top)
    first = second = 0
    n_then = 0
    rows: list = []
    grounded = {"first": [0, 0], "second": [0, 0]}  # [takes that follow the world there, correct]
    for i, sc in enumerate(thens):
        x = world.EVENTS[world.EVENT_INDEX[sc.events[0].name]]
        y = world.EVENTS[world.EVENT_INDEX[sc.events[1].name]]
        take = generate(m, sc.caption, GenerationParams(duration=5, seed=1000 + i, top_k=top_k,
                                                        temperature=temperature))
        t = time.perf_counter()
        ex = explain(m, take, method=method, **params)
        secs.append(time.perf_counter() - t)
        words = list(ex.words)
        px = _positions(words, set(x.words))
        py = [j for j in _positions(words, set(y.words)) if j not in px]
        if not px or not py:
            continue
        n_then += 1
        if halves:
            ex1 = explain(m, take, method=method, focus=(0.0, HALF), **params)
            ex2 = explain(m, take, method=method, focus=(HALF, 2 * HALF), **params)
        else:
            ex1 = ex2 = ex
        i1 = np.asarray(ex1.word_importance((0.0, HALF)))
        i2 = np.asarray(ex2.word_importance((HALF, 2 * HALF)))
        ok1, ok2 = bool(i1[px].max() > i1[py].max()), bool(i2[py].max() > i2[px].max())
        first += ok1
        second += ok2
        if clf is not None:
            for key, follows, ok in zip(("first", "second"), follows_world(clf, take.audio[0], x.name, y.name),
                                        (ok1, ok2)):
                grounded[key][0] += follows
                grounded[key][1] += follows and ok
        if clf is not None and mute_check:
            rows.append(_mute_check(m, take, clf, regenerate, x.name, y.name, px, py,
                                    i1[px].max() - i1[py].max(), i2[py].max() - i2[px].max()))
    return {"method": method, "params": {**params, **({"focus": "halves"} if halves else {})}, "single": {"n": used, "own_word_beats_fillers": wins / max(used, 1),
                                         "random_mask_rate": float(np.mean(rnd)) if rnd else None},
            "then": {"n": n_then, "first_half_correct": first / max(n_then, 1),
                     "second_half_correct": second / max(n_then, 1), "random_mask_rate": 0.5},
            **({"then_take_grounded": {
                "rule": f"takes with only X detected before {EARLY} s (1st half) / only Y after {LATE} s (2nd half)",
                "first_half": {"n": grounded["first"][0], "correct": grounded["first"][1] / max(grounded["first"][0], 1)},
                "second_half": {"n": grounded["second"][0],
                                "correct": grounded["second"][1] / max(grounded["second"][0], 1)}}}
               if clf is not None and n_then else {}),
            "explain_seconds_median": round(statistics.median(secs), 2) if secs else None,
            "temperature": temperature, **({"mute_check": _mute_summary(rows)} if rows else {})}


def _half_probs(clf, audio) -> tuple:
    return (np.array(list(clf.event_probs(audio, interval=(0.0, HALF)).values())),
            np.array(list(clf.event_probs(audio, interval=(HALF, 2 * HALF)).values())))


def _mute_check(m, take, clf, regenerate, x: str, y: str, px: list, py: list, margin1: float, margin2: float) -> dict:
    """How much muting X's words, and Y's, changes each half of the take (same prompt, seed, sampling)."""
    n_words = len(take.text.words)
    weights = {key: [0.0 if j in pos else 1.0 for j in range(n_words)] for key, pos in (("mute_x", px), ("mute_y", py))}
    probs = {"orig": _half_probs(clf, take.audio[0])}
    for key, w in weights.items():
        probs[key] = _half_probs(clf, regenerate(m, take, "weighted", word_weights=w).audio[0])
    ix, iy = clf.event_names.index(x), clf.event_names.index(y)
    o1, o2 = probs["orig"]
    out = {"caption": take.prompt, "x_first_orig": float(o1[ix]), "y_second_orig": float(o2[iy]),
           "x_first_after_mute_x": float(probs["mute_x"][0][ix]), "y_second_after_mute_y": float(probs["mute_y"][1][iy]),
           "x_first_after_mute_y": float(probs["mute_y"][0][ix]), "y_second_after_mute_x": float(probs["mute_x"][1][iy]),
           "margin_first": float(margin1), "margin_second": float(margin2)}
    for key in ("mute_x", "mute_y"):  # L1 change of the half's event probabilities
        out[f"change_first_{key}"] = float(np.abs(probs[key][0] - o1).sum())
        out[f"change_second_{key}"] = float(np.abs(probs[key][1] - o2).sum())
    out.update(_teacher_forced_change(m, take, weights))
    return out


def _teacher_forced_change(m, take, weights: dict) -> dict:
    """The same mutings seen as AudioGenX sees them: teacher-forced on the take's own codes, the mean
    1 − cos(e_t, ẽ_t) of the final hidden states over each half's steps (hard 0/1 token masks)."""
    from agx_desktop.engine import teacher
    from agx_desktop.engine.explain.base import steps_for_interval
    inputs = teacher.prepare(m, take)
    rows = [np.ones(len(take.text.tokens))] + [take.text.word_token_mask(weights[k]) for k in ("mute_x", "mute_y")]
    mask = torch.tensor(np.stack(rows), dtype=torch.float32)[:, None, :].expand(-1, inputs.n_steps, -1).contiguous()
    with torch.no_grad(), m.threads():
        lat = teacher.latents(m, inputs, mask.to(m.device), batch=3).float()
    out = {}
    for half, iv in (("first", (0.0, HALF)), ("second", (HALF, 2 * HALF))):
        st = steps_for_interval(iv, inputs.step_frames, inputs.n_frames, m.frame_rate)
        for b, key in ((1, "mute_x"), (2, "mute_y")):
            cos = torch.nn.functional.cosine_similarity(lat[0, st], lat[b, st], dim=-1)
            out[f"tf_change_{half}_{key}"] = float((1 - cos).mean())
    return out


def _mute_summary(rows: list) -> dict:
    """Rates over the "X then Y" takes: does muting X remove X from the first half; which muting
    changes each half more (the model's own answer); does the explanation rank the same way."""
    n = len(rows)
    had_x = [r for r in rows if r["x_first_orig"] > 0.5]
    had_y = [r for r in rows if r["y_second_orig"] > 0.5]
    first_x = [r["change_first_mute_x"] > r["change_first_mute_y"] for r in rows]
    second_y = [r["change_second_mute_y"] > r["change_second_mute_x"] for r in rows]
    tf_first_x = [r["tf_change_first_mute_x"] > r["tf_change_first_mute_y"] for r in rows]
    tf_second_y = [r["tf_change_second_mute_y"] > r["tf_change_second_mute_x"] for r in rows]

    def agree(margin: str, truth: list) -> float:
        return sum((r[margin] > 0) == t for r, t in zip(rows, truth)) / n

    return {"n": n,
            "x_survives_muting_x_in_first_half": sum(r["x_first_after_mute_x"] > 0.5 for r in had_x) / max(len(had_x), 1),
            "x_survives_muting_y_in_first_half": sum(r["x_first_after_mute_y"] > 0.5 for r in had_x) / max(len(had_x), 1),
            "y_survives_muting_y_in_second_half": sum(r["y_second_after_mute_y"] > 0.5 for r in had_y) / max(len(had_y), 1),
            "y_survives_muting_x_in_second_half": sum(r["y_second_after_mute_x"] > 0.5 for r in had_y) / max(len(had_y), 1),
            "first_half_changed_more_by_muting_x": sum(first_x) / n,
            "second_half_changed_more_by_muting_y": sum(second_y) / n,
            "teacher_forced_first_half_changed_more_by_muting_x": sum(tf_first_x) / n,
            "teacher_forced_second_half_changed_more_by_muting_y": sum(tf_second_y) / n,
            "explanation_agrees_first_half": agree("margin_first", first_x),
            "explanation_agrees_second_half": agree("margin_second", second_y),
            "explanation_agrees_teacher_forced_first_half": agree("margin_first", tf_first_x),
            "explanation_agrees_teacher_forced_second_half": agree("margin_second", tf_second_y),
            "mean_change_first": {"mute_x": float(np.mean([r["change_first_mute_x"] for r in rows])),
                                  "mute_y": float(np.mean([r["change_first_mute_y"] for r in rows]))},
            "mean_change_second": {"mute_x": float(np.mean([r["change_second_mute_x"] for r in rows])),
                                   "mute_y": float(np.mean([r["change_second_mute_y"] for r in rows]))},
            "rows": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", default=["speed", "quality", "order", "explain"])
    ap.add_argument("--top-k", type=int, default=None,
                    help="sampling top-k (default: the model's; bundled: 0 = all 128 codes, as 250 clamped)")
    ap.add_argument("--cfg", type=float, default=3.0, help="classifier-free guidance (quality and order)")
    ap.add_argument("--temperature", type=float, default=None,
                    help="sampling temperature (default: the model's, 0.8 for bundled)")
    ap.add_argument("--seed-offset", type=int, default=0,
                    help="draw the held-out captions from seeds shifted by this (a fresh test set)")
    ap.add_argument("--method", default="audiogenx", help="explain: the explanation method (a baseline to compare)")
    ap.add_argument("--mute-check", action="store_true",
                    help="explain: also regenerate each 'X then Y' take with X's / Y's words muted")
    ap.add_argument("--n-quality", type=int, default=200)
    ap.add_argument("--n-order", type=int, default=80)
    ap.add_argument("--n-explain", type=int, default=30)
    ap.add_argument("--explain-parts", nargs="+", choices=["single", "then"], default=["single", "then"],
                    help="explain: which caption sets to run (default both)")
    ap.add_argument("--explain-variant", default=None, help="JSON dict of extra explain params (a documented variant)")
    ap.add_argument("--out", default=str(loader.BUNDLED_DIR / "metrics.json"))
    ap.add_argument("--key", default=None, help="name of the explanation result in the output (default explain / "
                    "explain_variant)")
    ap.add_argument("--tag", default=None, help="section of the output file (default from top-k/cfg)")
    a = ap.parse_args()
    if a.quick:
        a.n_quality, a.n_order, a.n_explain = 30, 16, 6
    # two benchmarks side by side (one per core): AGX_BENCH_THREADS=1 each
    torch.set_num_threads(int(__import__("os").environ.get("AGX_BENCH_THREADS", "2")))
    from agx_desktop.engine.generation import GenerationParams, generate
    from agx_desktop.engine.models import load_model

    t0 = time.perf_counter()
    m = load_model("bundled", device="cpu")
    load_s = time.perf_counter() - t0
    clf = loader.load_classifier()
    seen = train_captions()
    if a.temperature is None:
        a.temperature = m.default_params().temperature
    if a.top_k is None:
        a.top_k = m.default_params().top_k
    off = a.seed_offset
    res: dict = {"load_seconds": round(load_s, 2), "top_k": a.top_k}
    if "speed" in a.only:
        res["speed"] = bench_speed(m, generate, GenerationParams)
        print("speed", res["speed"], flush=True)
    if "quality" in a.only:
        res["quality"] = bench_quality(m, generate, GenerationParams, clf,
                                       held_out(a.n_quality, 10_000_000 + off, seen), a.top_k, a.cfg, a.temperature)
        print("quality", json.dumps(res["quality"]), flush=True)
    if "order" in a.only:
        res["order"] = bench_order(m, generate, GenerationParams, clf,
                                   held_out(a.n_order, 20_000_000 + off, seen, relation="then"), a.top_k, a.temperature,
                                   a.cfg)
        print("order", json.dumps(res["order"]), flush=True)
    if "explain" in a.only:
        from agx_desktop.engine.explain import explain

        singles = [s for s in held_out(a.n_explain * 2, 30_000_000 + off, seen, relation="single")
                   if any(_norm(w) in world.FILLER_WORDS for w in s.caption.split())][: a.n_explain]
        thens = held_out(a.n_explain, 40_000_000 + off, seen, relation="then")
        singles = singles if "single" in a.explain_parts else []
        thens = thens if "then" in a.explain_parts else []
        params = json.loads(a.explain_variant) if a.explain_variant else {}
        key = a.key or ("explain" if not params else "explain_variant") + ("" if a.method == "audiogenx" else f"_{a.method}")
        res[key] = bench_explain(m, generate, GenerationParams, explain, singles, thens, a.top_k, params,
                                 a.temperature, clf, a.method, mute_check=a.mute_check)
        print(key, json.dumps(res[key]), flush=True)
    res["bench_seconds"] = round(time.perf_counter() - t0)
    out = pathlib.Path(a.out)
    prev = json.loads(out.read_text()) if out.exists() else {}
    tag = a.tag or (f"top_k={a.top_k}" + (f" cfg={a.cfg}" if a.cfg != 3.0 else "")
                    + (f" temp={a.temperature:g}" if a.temperature != 1.0 else "")
                    + (f" seeds+{off}" if off else "") + (" quick" if a.quick else ""))
    prev[tag] = {**prev.get(tag, {}), **res}
    out.write_text(json.dumps(prev, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
