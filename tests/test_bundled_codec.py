"""The bundled model's codec: audiocraft CompressionModel interface, shapes and round-trip sanity."""
import numpy as np
import pytest
import torch
from audiocraft.models.encodec import CompressionModel

from agx_desktop.engine.bundled import codec as C
from agx_desktop.engine.bundled import loader, world


@pytest.fixture(scope="module")
def fitted():
    scenes = [world.scene_from_seed(s) for s in range(24)]
    wav = torch.from_numpy(np.stack([s.audio for s in scenes]))[:, None]
    frames = C.log_mel(wav).transpose(1, 2).reshape(-1, C.N_MELS)
    return C.fit_codec(frames, iters=8, seed=0), wav


def test_interface(fitted):
    codec, _ = fitted
    assert isinstance(codec, CompressionModel)
    assert codec.channels == 1 and codec.sample_rate == 16000 and codec.frame_rate == 25.0
    assert codec.cardinality == 128 and codec.num_codebooks == 4 and codec.total_codebooks == 4


def test_encode_decode_shapes(fitted):
    codec, wav = fitted
    codes, scale = codec.encode(wav[:2])
    assert scale is None and codes.shape == (2, 4, 125) and codes.dtype == torch.int64
    assert 0 <= int(codes.min()) and int(codes.max()) < 128
    out = codec.decode(codes)
    assert out.shape == (2, 1, 125 * 640) and torch.isfinite(out).all()
    assert codec.decode_latent(codes).shape == (2, 125, C.N_MELS)
    q = codec(wav[:1])
    assert q.x.shape == (1, 1, 80000)


def test_round_trip_keeps_the_spectral_envelope(fitted):
    codec, wav = fitted
    codes, _ = codec.encode(wav[:4])
    ref = C.log_mel(wav[:4])
    rec = C.log_mel(codec.decode(codes)[:, 0])
    err = (rec - ref).abs().mean().item()
    spread = (ref - ref.mean()).abs().mean().item()
    assert err < 0.35 * spread, (err, spread)
    # more codebooks -> smaller latent error
    e = []
    for k in (1, 4):
        z = codec.decode_latent(codes[:, :k]).transpose(1, 2)
        e.append((z - ref).abs().mean().item())
    assert e[1] < e[0]


def test_decode_is_deterministic(fitted):
    codec, wav = fitted
    codes, _ = codec.encode(wav[:1])
    assert torch.equal(codec.decode(codes), codec.decode(codes))


@pytest.mark.skipif(not (loader.BUNDLED_DIR / loader.CODEC_NAME).is_file(), reason="no shipped codec")
def test_shipped_codec_loads():
    codec = loader.build_codec(loader.load_safetensors(loader.BUNDLED_DIR / loader.CODEC_NAME))
    codes, _ = codec.encode(torch.from_numpy(world.scene_from_seed(1).audio)[None, None])
    assert codes.shape == (1, 4, 125)
