"""Audio while the LM samples: decode frames as the delay pattern completes them.

With the delay pattern a frame's codes arrive over several steps (codebook k of frame t at step
t + k); a frame is *complete* once every codebook holds its code. :class:`StreamingDecoder` watches
the codes the LM samples (it wraps the LM instance's ``_sample_next_token`` to read its result,
changing nothing), and every ``chunk_frames`` complete frames decodes a window of them and hands
the new samples to ``on_audio(end_sample, chunk)``.

Both codecs decode with context (EnCodec's convolutions and LSTM, the bundled codec's Griffin-Lim),
so a window decoded on its own is not bit-for-bit the same as those samples of the whole decode:
the chunks are **previews**. The take itself is always the whole decode (sample-identical to a take
generated without streaming), and :meth:`finish` delivers its remaining samples, so the chunks end
exactly at the take's length. How far previews differ is measured in ``benchmarks/results/speed.md``.
A chunk never reaches beyond decoded frames: its end is at most ``complete_frames × hop`` and
``lookahead_frames`` short of it (the right edge of a window lacks its right-hand context).
"""
from __future__ import annotations

import typing as tp

import numpy as np
import torch

if tp.TYPE_CHECKING:
    from .models import LoadedModel

AudioFn = tp.Callable[[int, np.ndarray], None]
"""``on_audio(end_sample, chunk)``: chunk float32 [channels, n] covers samples [end_sample - n, end_sample)."""


class StreamingDecoder:
    """Context manager around ``lm.generate`` that decodes complete frames in chunks.

    Args:
        model: the model sampling (its LM instance gets a wrapper, removed on exit).
        frames: frames being generated (prompt frames included).
        on_audio: receives the chunks; :meth:`finish` sends what the whole decode adds after them.
        decode: codes [K, T] → audio float32 [channels, samples] (:func:`.generation.decode`).
        chunk_frames: complete frames per chunk (default: 0.5 s worth).
        context_frames: frames decoded before each chunk as left context (default 1 s worth).
        lookahead_frames: frames held back at a window's right edge (default 2).
        prompt_codes: [K, T0] forced codes of a continuation (their frames are complete from the start).
    """

    def __init__(self, model: "LoadedModel", frames: int, on_audio: AudioFn,
                 decode: tp.Callable[[torch.Tensor], np.ndarray], *, chunk_frames: int | None = None,
                 context_frames: int | None = None, lookahead_frames: int = 2,
                 prompt_codes: torch.Tensor | None = None) -> None:
        self.model, self.frames, self.on_audio, self.decode = model, int(frames), on_audio, decode
        rate = model.frame_rate
        self.chunk_frames = max(1, int(chunk_frames if chunk_frames is not None else round(rate / 2)))
        self.context_frames = max(0, int(context_frames if context_frames is not None else round(rate)))
        self.lookahead_frames = max(0, int(lookahead_frames))
        self.hop = int(round(model.sample_rate / rate))
        lm = model.lm
        K = int(lm.num_codebooks)
        self.codes = torch.full((K, self.frames), -1, dtype=torch.long)
        self.prompt_frames = 0
        if prompt_codes is not None and prompt_codes.shape[-1]:
            self.prompt_frames = int(prompt_codes.shape[-1])
            self.codes[:, :self.prompt_frames] = prompt_codes.long().cpu()
        self.pattern = lm.pattern_provider.get_pattern(self.frames)
        done_at = [0] * self.frames  # sequence position that completes each frame
        for pos, coords in enumerate(self.pattern.layout):
            for c in coords:
                if c.t < self.frames:
                    done_at[c.t] = max(done_at[c.t], pos)
        self._done_at = done_at
        self.complete = 0  # frames complete so far
        self.emitted = 0  # samples handed out so far
        self.decoded_frames = 0  # frames covered by the last chunk's window
        self.chunks: list[tuple[int, np.ndarray]] = []  # (end, chunk) as delivered, for measurement
        self._position = 0

    # ------------------------------------------------------------------ capture
    def __enter__(self) -> "StreamingDecoder":
        lm = self.model.lm
        # an instance may already carry its own wrapper (the bundled loader clamps top-k): wrap it, put it back on exit
        self._before = lm.__dict__.get("_sample_next_token")
        original = lm._sample_next_token

        def sample_next_token(*args: tp.Any, **kwargs: tp.Any) -> torch.Tensor:
            token = original(*args, **kwargs)
            self._record(token)
            return token

        lm._sample_next_token = sample_next_token  # instance attribute shadows the class method
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        if self._before is not None:
            self.model.lm._sample_next_token = self._before
        else:
            self.model.lm.__dict__.pop("_sample_next_token", None)

    def _record(self, token: torch.Tensor) -> None:
        """Store the codes sampled for the next sequence position (batch row 0)."""
        pos = self._next_position()
        for c in self.pattern.layout[pos]:
            if self.prompt_frames <= c.t < self.frames:
                self.codes[c.q, c.t] = int(token[0, c.q, 0])
        self._position = pos

    def _next_position(self) -> int:
        pos = self._position + 1
        # a continuation starts sampling at the first position holding a frame past the prompt
        if self._position == 0 and self.prompt_frames:
            pos = self.pattern.get_first_step_with_timesteps(self.prompt_frames)
        return pos

    # ------------------------------------------------------------------ chunks
    def step_done(self) -> None:
        """After a sampling step: decode and deliver a chunk when ``chunk_frames`` more frames are complete."""
        while self.complete < self.frames and self._done_at[self.complete] <= self._position:
            self.complete += 1
        if self.complete - self.decoded_frames >= self.chunk_frames and self.complete < self.frames:
            self._chunk(self.complete)

    def _chunk(self, upto: int) -> None:
        start = max(0, self.emitted // self.hop - self.context_frames)
        audio = self.decode(self.codes[:, start:upto])
        end = min((upto - self.lookahead_frames) * self.hop, start * self.hop + audio.shape[-1])
        if end > self.emitted:
            piece = audio[:, self.emitted - start * self.hop:end - start * self.hop]
            self._deliver(end, piece)
        self.decoded_frames = upto

    def _deliver(self, end: int, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, dtype=np.float32)
        self.chunks.append((end, chunk))
        self.emitted = end
        self.on_audio(end, chunk)

    def finish(self, audio: np.ndarray) -> None:
        """Deliver the whole decode's samples after the last chunk: the stream ends at the take's length."""
        if audio.shape[-1] > self.emitted:
            self._deliver(int(audio.shape[-1]), audio[:, self.emitted:])

    def previews(self) -> np.ndarray:
        """The chunks as delivered, end to end (the last one is the whole decode's tail)."""
        if not self.chunks:
            return np.zeros((1, 0), dtype=np.float32)
        return np.concatenate([c for _, c in self.chunks], axis=-1)
