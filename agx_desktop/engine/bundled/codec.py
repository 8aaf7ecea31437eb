"""The bundled model's audio tokenizer: residual k-means VQ on log-mel frames + Griffin-Lim decoder.

Why this and not a small learned EnCodec: on 2 CPU cores a learned codec worth listening to takes
hours to train, while k-means on log-mel frames trains in seconds, is exactly reproducible, and
keeps everything the event classifier (and a listener) needs: the spectral envelope at 25 Hz.
What it loses is phase and detail finer than 40 ms / one mel band; Griffin-Lim (fast variant,
fixed initial phase so decoding is deterministic) puts plausible phase back.

Implements audiocraft's :class:`~audiocraft.models.encodec.CompressionModel`:
16 kHz mono, 25 frames per second, 4 codebooks of 128 codes (residual), ``encode`` returns
``(codes [B, 4, T], None)``, ``decode(codes)`` returns ``[B, 1, T * 640]``.
"""
from __future__ import annotations

import math
import typing as tp

import torch
import torch.nn.functional as F
import torchaudio
from audiocraft.models.encodec import CompressionModel
from audiocraft.quantization import QuantizedResult

SAMPLE_RATE = 16000
HOP = 640  # samples per codec frame -> 25 Hz
STFT_HOP = 160
N_FFT = 1024
N_MELS = 64
POOL = HOP // STFT_HOP
LOG_EPS = 1e-5


def _mel_fb(device=None) -> torch.Tensor:
    return torchaudio.functional.melscale_fbanks(
        N_FFT // 2 + 1, 0.0, SAMPLE_RATE / 2, N_MELS, SAMPLE_RATE, norm=None, mel_scale="htk").to(device)


_WINDOWS: tp.Dict[str, torch.Tensor] = {}


def _window(device) -> torch.Tensor:
    key = str(device)
    if key not in _WINDOWS:
        _WINDOWS[key] = torch.hann_window(N_FFT, device=device)
    return _WINDOWS[key]


#: STFT hops one analysis window spans, rounded up: the overlap-add's shifted blocks
_SPAN = -(-N_FFT // STFT_HOP)
_ENVELOPES: tp.Dict[tp.Tuple[str, int], torch.Tensor] = {}


def _overlap_add(frames: torch.Tensor) -> torch.Tensor:
    """Overlap-add of ``frames`` [B, S, N_FFT] at hop STFT_HOP → [B, (S + span - 1) * STFT_HOP].

    Each output block of STFT_HOP samples sums its frames in increasing frame order, from zero: the
    order of torch's own overlap-add in ``istft``, so the sums are bit-identical, in ``span`` (7)
    shifted block additions instead of torch's general unfold_backward (~40 % of ``istft``'s time)."""
    B, S, _ = frames.shape
    out = frames.new_zeros(B, S + _SPAN - 1, STFT_HOP)
    for k in range(_SPAN - 1, -1, -1):  # the last block is partial (1024 = 6 x 160 + 64): no padded copy
        lo, hi = k * STFT_HOP, min((k + 1) * STFT_HOP, N_FFT)
        out[:, k:k + S, :hi - lo] += frames[:, :, lo:hi]
    return out.view(B, -1)


def _envelope(device, steps: int) -> torch.Tensor:
    """The squared window's overlap-add over ``steps`` frames (istft's normalisation), kept per size:
    torch's ``istft`` recomputes it, and checks it, at every call."""
    key = (str(device), steps)
    if key not in _ENVELOPES:
        if len(_ENVELOPES) > 64:
            _ENVELOPES.clear()
        _ENVELOPES[key] = _overlap_add(_window(device).pow(2).expand(1, steps, N_FFT).contiguous())
    return _ENVELOPES[key]


def istft(spec: torch.Tensor, length: tp.Optional[int] = None) -> torch.Tensor:
    """``torch.istft(spec, N_FFT, STFT_HOP, window=hann, center=True, length=length)``, bit-identical
    (tests/test_bundled_speed.py), ~1.7x faster: the same inverse FFT, window and overlap-add order,
    with the window envelope computed once per size. Griffin-Lim calls it 33 times per decode.
    Falls back to torch's own when ``length`` reaches past the frames (torch pads with zeros)."""
    steps = int(spec.shape[-1])
    start = N_FFT // 2
    length = (steps - 1) * STFT_HOP if length is None else int(length)
    if spec.dim() != 3 or start + length > (steps - 1) * STFT_HOP + N_FFT:
        return torch.istft(spec, N_FFT, STFT_HOP, window=_window(spec.device), length=length)
    frames = torch.fft.irfft(spec, N_FFT, dim=-2) * _window(spec.device).view(1, -1, 1)
    signal = _overlap_add(frames.transpose(1, 2))
    return signal[:, start:start + length] / _envelope(spec.device, steps)[:, start:start + length]


def log_mel(wav: torch.Tensor) -> torch.Tensor:
    """Log-mel features at 25 Hz.

    Args:
        wav: [B, T] or [B, 1, T] float waveform at 16 kHz.
    Returns:
        [B, 64, T // 640] natural-log mel power (power pooled over 4 STFT frames).
    """
    if wav.dim() == 3:
        wav = wav.mean(dim=1)
    B, n = wav.shape
    frames = n // HOP
    spec = torch.stft(wav, N_FFT, STFT_HOP, window=_window(wav.device), center=True, return_complex=True)
    power = spec.real ** 2 + spec.imag ** 2  # [B, F, n/160 + 1]
    mel = torch.matmul(_mel_fb(wav.device).T, power)  # [B, M, S]
    mel = mel[..., : frames * POOL].reshape(B, N_MELS, frames, POOL).mean(-1)
    return torch.log(mel + LOG_EPS)


GL_INITS = ("random", "advance")


def initial_phase(shape: tp.Sequence[int], init: str = "random", seed: int = 0) -> torch.Tensor:
    """Griffin-Lim's starting phase [..., F, S] (radians), deterministic.

    ``random``: uniform noise from a generator seeded ``seed`` (the decoder's original start).
    ``advance``: each bin's phase advances by its centre frequency per STFT hop,
    ``2π · k · hop / n_fft · s``, as a steady sinusoid at that bin would (the time-direction half of
    the phase-gradient heuristic): the start is already consistent for tonal, slowly changing spectra.
    """
    if init == "random":
        g = torch.Generator(device="cpu").manual_seed(seed)
        return torch.rand(tuple(shape), generator=g) * 2 * math.pi
    if init == "advance":
        bins, steps = int(shape[-2]), int(shape[-1])
        k = torch.arange(bins, dtype=torch.float64)[:, None]
        s = torch.arange(steps, dtype=torch.float64)[None, :]
        phase = torch.remainder(2 * math.pi * k * STFT_HOP / N_FFT * s, 2 * math.pi).float()
        return phase.expand(tuple(shape)).contiguous()
    raise ValueError(f"unknown Griffin-Lim start {init!r}: use one of {', '.join(GL_INITS)}")


def griffin_lim(mag: torch.Tensor, n_iter: int = 32, momentum: float = 0.99, seed: int = 0,
                length: tp.Optional[int] = None, init: str = "random") -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al.) from a fixed initial phase, so the result is deterministic.

    Args:
        mag: [B, F, S] STFT magnitude (n_fft 1024, hop 160).
        init: the starting phase (:func:`initial_phase`).
    Returns:
        [B, length] waveform.
    """
    phase = initial_phase(mag.shape, init, seed).to(mag.device)
    angles = torch.polar(torch.ones_like(mag), phase)
    win = _window(mag.device)
    # mag as complex once (real * complex promotes it at every product: the same values, each time);
    # each iteration's elementwise steps write into buffers kept across iterations (the same kernels,
    # out=; ``angles`` itself is one of them): fresh 2-4 MB temporaries cost page faults and cache
    # misses, not arithmetic (bit-identical to the plain form, tests/test_bundled_speed.py)
    mag_c = mag.to(angles.dtype)
    tprev = torch.zeros_like(angles)
    product, scaled = torch.empty_like(angles), torch.empty_like(angles)
    norm, inverse_norm = torch.empty_like(mag), torch.empty_like(angles)
    c = momentum / (1 + momentum)
    for _ in range(n_iter):
        inverse = istft(torch.mul(mag_c, angles, out=product), length)
        rebuilt = torch.stft(inverse, N_FFT, STFT_HOP, window=win, center=True, return_complex=True)
        torch.sub(rebuilt, torch.mul(tprev, c, out=scaled), out=angles)
        tprev = rebuilt
        # angles / (|angles| + 1e-16): torch divides a complex by a real as by complex(r, 0), which
        # is (re, im) * (1 / r) (numpy's algorithm with a zero imaginary part); the product with
        # complex(1 / r, 0) gives those two products bit for bit, without the division (~9x less time)
        torch.abs(angles, out=norm).add_(1e-16).reciprocal_()
        angles.mul_(inverse_norm.copy_(norm))
    return istft(mag_c * angles, length)


class MelKMeansCodec(CompressionModel):
    """Residual k-means vector quantizer on normalised log-mel frames (4 x 128 codes, 25 Hz).

    Buffers (all saved in the safetensors file): ``mean``/``std`` [64] per-mel-bin normalisation,
    ``codebooks`` [4, 128, 64] residual centroids in normalised space, ``fb_pinv`` [513, 64] the
    mel-to-linear map used by the decoder.
    """

    def __init__(self, n_q: int = 4, bins: int = 128, gl_iters: int = 32):
        super().__init__()
        self._n_q_total = n_q
        self._n_q = n_q
        self._bins = bins
        self.gl_iters = gl_iters
        self.register_buffer("mean", torch.zeros(N_MELS))
        self.register_buffer("std", torch.ones(N_MELS))
        self.register_buffer("codebooks", torch.zeros(n_q, bins, N_MELS))
        fb = _mel_fb()  # [F, M]
        # decoder: least-squares-ish mel -> linear map, rows normalised so a flat mel gives a flat spectrum
        pinv = fb / (fb.sum(dim=0, keepdim=True) + 1e-8)  # [F, M]: each mel band spread over its bins
        self.register_buffer("fb_pinv", pinv)

    # ------------------------------------------------------------------ CompressionModel properties
    @property
    def channels(self) -> int:
        return 1

    @property
    def frame_rate(self) -> float:
        return SAMPLE_RATE / HOP

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def cardinality(self) -> int:
        return self._bins

    @property
    def num_codebooks(self) -> int:
        return self._n_q

    @property
    def total_codebooks(self) -> int:
        return self._n_q_total

    def set_num_codebooks(self, n: int):
        assert 1 <= n <= self._n_q_total
        self._n_q = n

    # ------------------------------------------------------------------ features
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, T] waveform -> [B, T//640, 64] normalised log-mel frames."""
        lm = log_mel(x)  # [B, M, F]
        return ((lm.transpose(1, 2) - self.mean) / self.std)

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """[B, F, 64] normalised frames -> codes [B, n_q, F] (greedy residual nearest centroid)."""
        B, Fr, M = z.shape
        res = z.reshape(-1, M)
        codes = []
        for k in range(self._n_q):
            cb = self.codebooks[k]
            d = (res ** 2).sum(1, keepdim=True) - 2 * res @ cb.T + (cb ** 2).sum(1)[None]
            idx = d.argmin(dim=1)
            codes.append(idx)
            res = res - cb[idx]
        return torch.stack(codes, dim=0).reshape(self._n_q, B, Fr).permute(1, 0, 2).contiguous()

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, K, F] -> [B, F, 64] normalised frames (sum of the K residual centroids)."""
        B, K, Fr = codes.shape
        z = torch.zeros(B, Fr, N_MELS, device=codes.device, dtype=self.codebooks.dtype)
        for k in range(K):
            z = z + self.codebooks[k][codes[:, k].clamp(0, self._bins - 1)]
        return z

    def mel_to_audio(self, lm: torch.Tensor) -> torch.Tensor:
        """[B, 64, F] log-mel (25 Hz) -> [B, 1, F * 640] waveform via Griffin-Lim."""
        B, M, Fr = lm.shape
        # interpolate in log domain to the 100 Hz STFT grid, then mel power -> linear magnitude
        up = F.interpolate(lm, size=Fr * POOL, mode="linear", align_corners=False)
        up = F.pad(up, (0, 1), mode="replicate")  # stft(center=True) has n/hop + 1 frames
        power = torch.matmul(self.fb_pinv, torch.exp(up).clamp_min(0))  # [B, F_bins, S]
        mag = torch.sqrt(power.clamp_min(0))
        wav = griffin_lim(mag, n_iter=self.gl_iters, length=Fr * HOP)
        return wav.unsqueeze(1)

    # ------------------------------------------------------------------ CompressionModel API
    def forward(self, x: torch.Tensor) -> QuantizedResult:
        codes, scale = self.encode(x)
        out = self.decode(codes, scale)
        return QuantizedResult(out, codes, torch.tensor(0.0), penalty=None)

    def encode(self, x: torch.Tensor) -> tp.Tuple[torch.Tensor, tp.Optional[torch.Tensor]]:
        """[B, 1, T] waveform at 16 kHz -> (codes [B, 4, T // 640] int64, None)."""
        assert x.dim() == 3, "expected [B, C, T]"
        return self.quantize(self.features(x)), None

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, scale: tp.Optional[torch.Tensor] = None) -> torch.Tensor:
        """codes [B, K, F] -> waveform [B, 1, F * 640]."""
        assert scale is None
        return self.mel_to_audio(self.decode_latent(codes).transpose(1, 2))

    def decode_latent(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, K, F] -> continuous latent [B, F, 64]: de-normalised log-mel frames."""
        return self.dequantize(codes) * self.std + self.mean


def fit_codec(frames: torch.Tensor, n_q: int = 4, bins: int = 128, iters: int = 20,
              seed: int = 0) -> MelKMeansCodec:
    """Fit normalisation and residual k-means on log-mel frames [N, 64] (un-normalised)."""
    g = torch.Generator().manual_seed(seed)
    codec = MelKMeansCodec(n_q=n_q, bins=bins)
    mean = frames.mean(0)
    std = frames.std(0).clamp_min(1e-3)
    codec.mean.copy_(mean)
    codec.std.copy_(std)
    res = (frames - mean) / std
    for k in range(n_q):
        cb = _kmeans(res, bins, iters, g)
        codec.codebooks[k].copy_(cb)
        d = (res ** 2).sum(1, keepdim=True) - 2 * res @ cb.T + (cb ** 2).sum(1)[None]
        res = res - cb[d.argmin(1)]
    return codec


def _kmeans(x: torch.Tensor, k: int, iters: int, g: torch.Generator) -> torch.Tensor:
    # k-means++ init on a subsample, then Lloyd iterations on everything
    sub = x[torch.randperm(len(x), generator=g)[: min(len(x), 20000)]]
    cent = [sub[torch.randint(len(sub), (1,), generator=g)].squeeze(0)]
    dmin = ((sub - cent[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = dmin / dmin.sum()
        i = torch.multinomial(p, 1, generator=g)
        cent.append(sub[i].squeeze(0))
        dmin = torch.minimum(dmin, ((sub - cent[-1]) ** 2).sum(1))
    c = torch.stack(cent)
    for _ in range(iters):
        d = (x ** 2).sum(1, keepdim=True) - 2 * x @ c.T + (c ** 2).sum(1)[None]
        a = d.argmin(1)
        s = torch.zeros_like(c).index_add_(0, a, x)
        cnt = torch.bincount(a, minlength=k).float()
        empty = cnt == 0
        c = torch.where(empty[:, None], c, s / cnt.clamp_min(1)[:, None])
        if empty.any():  # re-seed empty clusters on random points
            c[empty] = x[torch.randint(len(x), (int(empty.sum()),), generator=g)]
    return c
