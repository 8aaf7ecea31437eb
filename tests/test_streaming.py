"""Streaming decode: chunks only cover complete frames, the stream ends at the take, the take is unchanged."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agx_desktop.engine.generation import generate, sample
from agx_desktop.engine.take import GenerationParams

PROMPT = "a dog barks then a bell rings"


@pytest.fixture(scope="module")
def bundled():
    from agx_desktop.engine.models import load_model
    return load_model("bundled", "cpu")


def _stream(model, params):
    chunks: list[tuple[int, np.ndarray]] = []
    complete_at_call: list[int] = []
    progress_steps: list[int] = []

    def on_audio(end: int, chunk: np.ndarray) -> None:
        chunks.append((end, chunk))
        complete_at_call.append(progress_steps[-1] if progress_steps else 0)

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "generate":
            progress_steps.append(done)

    take = generate(model, PROMPT, params, on_audio=on_audio, progress=progress)
    return take, chunks, complete_at_call


@pytest.mark.parametrize("which", ["tiny", "bundled"])
def test_stream_never_ahead_and_final_take_identical(which, tiny_model, request):
    model = tiny_model if which == "tiny" else request.getfixturevalue("bundled")
    params = model.default_params(duration=2.0, seed=5)
    plain = generate(model, PROMPT, params)
    wrapper = model.lm.__dict__.get("_sample_next_token")  # the bundled loader's top-k clamp, or none
    take, chunks, steps_done = _stream(model, params)
    assert np.array_equal(plain.audio, take.audio) and torch.equal(plain.codes, take.codes)
    assert model.lm.__dict__.get("_sample_next_token") is wrapper  # put back as it was
    assert (wrapper is None) == (which == "tiny")
    assert len(chunks) >= 3  # previews arrive in pieces, not one block at the end
    hop = model.sample_rate // int(model.frame_rate)
    K = int(model.lm.num_codebooks)
    start = 0
    for (end, chunk), done in zip(chunks[:-1], steps_done[:-1]):
        # steps done so far complete frames [0, done - (K - 1)); no chunk reaches past them
        assert end <= (done - (K - 1)) * hop
        assert chunk.shape == (take.audio.shape[0], end - start) and chunk.dtype == np.float32
        start = end
    # the stream ends exactly at the take and its last piece is the whole decode's tail
    assert chunks[-1][0] == take.audio.shape[-1]
    assert np.array_equal(chunks[-1][1], take.audio[:, start:])
    if which == "tiny":  # EnCodec previews decode the same codes: close to the take (Griffin-Lim's phase is not)
        previews = np.concatenate([c for _, c in chunks], axis=-1)
        assert np.corrcoef(previews[0], take.audio[0])[0, 1] > 0.95


def test_continuation_streams_its_new_frames(tiny_model, tiny_take):
    params = tiny_take.params
    prefix = tiny_take.codes[:, :20]
    got: list[int] = []
    codes, _, audio = sample(tiny_model, tiny_take.prompt, params, 50, prompt_codes=prefix)
    codes2, _, audio2 = sample(tiny_model, tiny_take.prompt, params, 50, prompt_codes=prefix,
                               on_audio=lambda end, chunk: got.append(end))
    assert torch.equal(codes, codes2) and np.array_equal(audio, audio2)
    assert got[-1] == audio.shape[-1] and got == sorted(got)
