"""Which MiniLM layer says, at an event's own word, whether that event sounds late? (one command)

    python benchmarks/probe_text_layers.py        # a few minutes (6.5 min sharing 2 cores with two benchmarks)

The bundled LM reads the frozen encoder's last layer. In "X then Y" takes it often lays Y under X
early (model card, "How strictly the takes follow the order"), so this asks whether the timing is
readable from the text states at all: for training-world scenes with two events ("then", "after",
"while", "background"), a linear probe (logistic regression, L2, trained on 70%, scored on the other
30%) predicts from the state of each event's first word whether that event starts after 1 s. A
layer where it is more readable is a candidate for the conditioner's features (a retrain).
Results: printed, and merged into resources/bundled/metrics.json under ``text_layer_probe``.
"""
from __future__ import annotations

import json
import pathlib
import sys

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agx_desktop.engine.bundled import loader, world  # noqa: E402
from agx_desktop.engine.bundled.conditioner import load_minilm  # noqa: E402

N_SCENES = 3000


def features() -> tuple:
    tok, enc = load_minilm()
    scenes, s = [], 0
    while len(scenes) < N_SCENES:
        sc = world.scene_from_seed(s)
        s += 1
        if sc.relation in ("then", "after", "while", "background"):
            scenes.append(sc)
    feats: dict = {}
    labels = []
    for i in range(0, len(scenes), 128):
        batch = scenes[i:i + 128]
        inp = tok([sc.caption for sc in batch], return_tensors="pt", padding=True)
        with torch.no_grad():
            hs = enc(**inp, output_hidden_states=True).hidden_states  # embeddings + 6 layers
        for j, sc in enumerate(batch):
            toks = tok.convert_ids_to_tokens(inp["input_ids"][j])
            for ev in sc.events[:2]:
                words = set(world.EVENTS[world.EVENT_INDEX[ev.name]].words)
                pos = [k for k, t in enumerate(toks) if t.strip("#") in words]
                if not pos:
                    continue
                for layer, h in enumerate(hs):
                    feats.setdefault(layer, []).append(h[j, pos[0]].numpy())
                labels.append(float(ev.start > 1.0))
    return {k: np.stack(v) for k, v in feats.items()}, np.array(labels, dtype=np.float32)


def probe(x: np.ndarray, y: np.ndarray, l2: float = 1e-3) -> float:
    """Test accuracy of an L2 logistic regression (standardised features, L-BFGS)."""
    n = int(len(y) * 0.7)
    mu, sd = x[:n].mean(0), x[:n].std(0) + 1e-6
    xt = torch.tensor((x - mu) / sd, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xt[:n] @ w + b, yt[:n]) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = (xt[n:] @ w + b) > 0
    return float((pred.double() == yt[n:]).double().mean())


def main() -> None:
    torch.manual_seed(0)
    feats, y = features()
    res = {"what": "linear probe: does the event start after 1 s? from the MiniLM state of its first word",
           "n_words": int(len(y)), "late_fraction": round(float(y.mean()), 3),
           "test_accuracy_by_layer": {}, "used_by_the_conditioner": 6}
    for layer in sorted(feats):
        acc = probe(feats[layer], y)
        res["test_accuracy_by_layer"][str(layer)] = round(acc, 3)
        print(f"layer {layer}{' (embeddings)' if layer == 0 else ''}: {acc:.3f}", flush=True)
    out = loader.BUNDLED_DIR / "metrics.json"
    prev = json.loads(out.read_text()) if out.exists() else {}
    prev["text_layer_probe"] = res
    out.write_text(json.dumps(prev, indent=2) + "\n")


if __name__ == "__main__":
    main()
