"""Export loudness, measured on the WRITTEN file by meters other than the one that set the gain.

pyloudnorm reads the decoded file (the export measures in memory, before encoding); ffmpeg's
ebur128 filter (its own K-weighting and a 192 kHz true-peak meter) reads it where ffmpeg is
installed. The signals are what the app delivers: impulsive bursts over a noise floor (where the
old peak-capped gain ended 5-6 LU short of -14), a tone, and a click train no limiter can bring to -14.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pyloudnorm as pyln
import pytest
import soundfile as sf

from agx_desktop.engine.delivery import loudness
from agx_desktop.engine.delivery.export import ExportOptions, export_wav
from agx_desktop.engine.take import GenerationParams

SR = 16000


def bursts(decay_s: float = 0.06, seconds: float = 3.0, floor: float = 0.003, seed: int = 0) -> np.ndarray:
    """Noise bursts (a door, a hit, a bark) with exponential tails over a quiet noise floor, peak 1."""
    rng = np.random.default_rng(seed)
    x = floor * rng.standard_normal(int(SR * seconds))
    for start in (0.2, 1.1, 2.3):
        i = int(start * SR)
        k = np.arange(min(int(0.5 * SR), x.size - i))
        x[i:i + k.size] += rng.standard_normal(k.size) * np.exp(-k / (decay_s * SR))
    return (x / np.abs(x).max()).astype(np.float32)[None]


def tone(seconds: float = 2.0, amp: float = 0.05) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * 997 * t)).astype(np.float32)[None]


def fake_take(audio: np.ndarray, prompt: str = "a door slams twice") -> SimpleNamespace:
    return SimpleNamespace(audio=audio, sample_rate=SR, prompt=prompt, model_id="bundled", kind="original",
                           params=GenerationParams(duration=3.0, seed=4, top_k=250, temperature=0.8),
                           word_weights=None, id="0123456789ab", created="2026-12-02T17:06:38+00:00", parent=None,
                           duration=audio.shape[-1] / SR)


def pyloudnorm_lufs(path) -> float:
    data, sr = sf.read(str(path), always_2d=True)
    return float(pyln.Meter(sr).integrated_loudness(data))


def ffmpeg_ebur128(path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) from ffmpeg's ebur128 summary."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg): the independent meter is absent")
    err = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", str(path), "-filter_complex",
                          "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    summary = err[err.rindex("Summary:"):]
    lufs = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.inf]+) dBFS", summary).group(1))
    return lufs, peak


@pytest.mark.parametrize("signal,target,rate", [("bursts", -16.0, 0), ("bursts", -23.0, 48000),
                                                ("tone", -14.0, 44100), ("bursts_long", -14.0, 48000),
                                                ("bursts_long", -16.0, 44100)])
def test_lufs_target_reached_under_the_ceiling_as_meters_read_the_file(tmp_path, signal, target, rate):
    audio = {"bursts": bursts(), "tone": tone(), "bursts_long": bursts(decay_s=0.25)}[signal]
    result = export_wav(fake_take(audio), tmp_path / "out.wav",
                        ExportOptions(lufs=target, true_peak=-1.0, sample_rate=rate))
    assert result.loudness.reached and result.message.startswith(f"{target:.1f} LUFS")
    assert pyloudnorm_lufs(result.path) == pytest.approx(target, abs=0.5)
    assert loudness.true_peak_db(sf.read(str(result.path), always_2d=True)[0].T, result.sample_rate) <= -1.0 + 0.05
    lufs, peak = ffmpeg_ebur128(result.path)
    assert lufs == pytest.approx(target, abs=0.5)
    assert peak <= -1.0 + 0.1  # ffmpeg prints one decimal


def test_impulsive_take_that_used_to_stop_short_is_limited_to_the_target(tmp_path):
    """The issue's case: peaks at full scale, so a gain capped by the peak (the old export) stays short."""
    audio = bursts(decay_s=0.12)
    assert loudness.integrated_lufs(audio, SR) < -15.5 and loudness.true_peak_db(audio, SR) > -0.5
    result = export_wav(fake_take(audio), tmp_path / "out.wav", ExportOptions(lufs=-14.0))
    assert result.loudness.limited_db > 3 and "limited" in result.message
    assert re.fullmatch(r"-14\.0 LUFS \(was -\d+\.\d\), true peak -1\.\d dBTP, limited \d+\.\d dB", result.message)
    assert pyloudnorm_lufs(result.path) == pytest.approx(-14.0, abs=0.5)
    lufs, peak = ffmpeg_ebur128(result.path)
    assert lufs == pytest.approx(-14.0, abs=0.5) and peak <= -0.9


def test_target_out_of_reach_says_where_it_stopped(tmp_path):
    """Clicks 10 ms long: -14 would need far more than 12 dB of limiting; the message says what was reached."""
    audio = bursts(decay_s=0.01)
    result = export_wav(fake_take(audio), tmp_path / "out.wav", ExportOptions(lufs=-14.0, max_limit=12.0))
    assert not result.loudness.reached
    reached = float(re.match(r"(-\d+\.\d) LUFS", result.message).group(1))
    assert "not the -14 asked: stopped by the true-peak ceiling -1 dBTP" in result.message
    assert reached < -14.5 and pyloudnorm_lufs(result.path) == pytest.approx(reached, abs=0.15)
    assert result.loudness.limited_db == pytest.approx(12.0, abs=0.3)
    lufs, peak = ffmpeg_ebur128(result.path)
    assert lufs == pytest.approx(reached, abs=0.3) and peak <= -0.9


def test_limiter_touches_only_the_peaks():
    """Transparent: away from the bursts (look-ahead + release) every sample is the plain gain's."""
    audio = bursts(decay_s=0.06).astype(np.float64) * 0.5
    out, reduction = loudness.limit(audio * 4.0, SR, -1.0)  # +12 dB: bursts far over the ceiling
    assert reduction > 6 and loudness.true_peak_db(out, SR) <= -1.0 + 1e-3
    quiet = np.ones(audio.shape[-1], bool)
    for start in (0.2, 1.1, 2.3):  # a burst, its 0.5 s tail and ~10 release time constants after it
        quiet[max(0, int((start - 0.01) * SR)):int((start + 1.0) * SR)] = False
    np.testing.assert_allclose(out[0, quiet], (audio * 4.0)[0, quiet], rtol=1e-4, atol=1e-6)
    assert quiet.sum() > 0.15 * SR


def test_no_limiting_when_the_gain_fits(tmp_path):
    result = export_wav(fake_take(tone(amp=0.01)), tmp_path / "t.wav", ExportOptions(lufs=-23.0, subtype="FLOAT"))
    assert result.loudness.limited_db == 0 and "limited" not in result.message
    data, _ = sf.read(str(result.path), always_2d=True)
    source = tone(amp=0.01)[0]
    loud = np.abs(source) > 1e-3
    ratio = data[loud, 0] / source[loud]
    assert np.ptp(ratio) < 1e-5  # one gain for every sample


@pytest.mark.parametrize("asked,expected", [(-3.0, -3.0), (0.0, -1.0)])
def test_peak_mode_honours_the_ceiling(tmp_path, asked, expected):
    result = export_wav(fake_take(bursts()), tmp_path / "p.wav",
                        ExportOptions(normalize="peak", peak_db=asked, true_peak=-1.0, subtype="PCM_16"))
    assert result.message.startswith(f"peak {expected:.1f} dBTP") and (asked <= -1) == result.loudness.reached
    _, peak = ffmpeg_ebur128(result.path)
    assert peak == pytest.approx(expected, abs=0.15)


def test_silent_or_tiny_takes_are_written_and_said_so(tmp_path):
    result = export_wav(fake_take(np.zeros((1, SR), np.float32)), tmp_path / "s.wav", ExportOptions())
    assert result.message == "too short or silent to measure loudness: not normalised"
    assert sf.info(str(result.path)).frames == SR
