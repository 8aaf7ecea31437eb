"""The first-half probes (benchmarks/probe_first_half.py) on a tiny model: the closed loop and the
renormalised masking must be exact where they claim to be, or their figures mean nothing."""
from __future__ import annotations

import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import probe_first_half as probe  # noqa: E402
from agx_desktop.engine import teacher  # noqa: E402


def _masks(take, n_steps: int, muted: list[int]) -> torch.Tensor:
    words = take.text.words
    rows = [np.ones(len(take.text.tokens)),
            take.text.word_token_mask([0.0 if j in muted else 1.0 for j in range(len(words))])]
    return torch.tensor(np.stack(rows), dtype=torch.float32)[:, None, :].expand(-1, n_steps, -1).contiguous()


def test_closed_loop_with_the_full_mask_is_teacher_forcing(tiny_model, tiny_take):
    inputs = teacher.prepare(tiny_model, tiny_take)
    mask = _masks(tiny_take, inputs.n_steps, muted=[1])  # row 0 keeps every word, row 1 mutes 'dog'
    with torch.no_grad():
        hidden, logits = teacher.forward(tiny_model, inputs, mask, batch=2)
        q_ref = torch.softmax(logits[0].float(), -1)
        closed = probe.closed_loop_latents(tiny_model, inputs, mask, q_ref)
    assert closed.shape == hidden.shape
    assert torch.allclose(closed[0], hidden[0], atol=1e-5)  # nothing muted: exactly the teacher-forced pass
    # muting 'dog': step 0 has no earlier step to feed back, so it is the teacher-forced one; later
    # steps also carry the change the mask made to the steps before them
    assert torch.allclose(closed[1, 0], hidden[1, 0], atol=1e-5)
    assert not torch.allclose(closed[1, 1:], hidden[1, 1:], atol=1e-3)


def test_renormalised_masking_rescales_the_kept_weights_and_is_restored(tiny_model, tiny_take):
    from agx_desktop.engine import intervention
    inputs = teacher.prepare(tiny_model, tiny_take)
    ones = torch.ones(1, inputs.n_steps, len(tiny_take.text.tokens))
    with torch.no_grad():
        plain, _ = teacher.forward(tiny_model, inputs, ones)
        with probe.renormalised_masking():
            same, _ = teacher.forward(tiny_model, inputs, ones)  # nothing muted: weights already sum to 1
            halved, _ = teacher.forward(tiny_model, inputs, ones * 0.5)  # a uniform mask cancels out
        scaled, _ = teacher.forward(tiny_model, inputs, ones * 0.5)
    assert torch.allclose(same, plain, atol=1e-5) and torch.allclose(halved, plain, atol=1e-4)
    assert not torch.allclose(scaled, plain, atol=1e-3)  # the usual masking does feel a uniform 0.5
    assert intervention.masked_cross_attention.__name__ == "masked_cross_attention"
