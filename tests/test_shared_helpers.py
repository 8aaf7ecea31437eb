"""The helpers that stand once for the whole project: errno → words (fsio.describe_os_error) and
resampling (engine.audio.resample), used by take folders, autosave, the data folder, export,
playback and the evaluation metrics."""
from __future__ import annotations

import errno

import numpy as np
import pytest
from scipy.signal import resample_poly

from agx_desktop.engine.audio import resample
from agx_desktop.engine.fsio import describe_os_error


@pytest.mark.parametrize("code, reason, fix", [
    (errno.ENOSPC, "the disk holding {p} is full", "free some space or choose another folder"),
    (errno.EROFS, "{p} is on a read-only disk", "choose a folder you may write to"),
    (errno.EACCES, "{p} is not writable (permission denied)", "choose a folder you may write to"),
    (errno.EPERM, "{p} is not writable (permission denied)", "choose a folder you may write to"),
    (errno.ENOENT, "{p} does not exist and cannot be created", "choose another folder"),
    (errno.EIO, "cannot write to {p} (Input/output error)", "check the disk and try again"),
])
def test_describe_os_error_names_the_folder_the_reason_and_the_fix(tmp_path, code, reason, fix):
    folder = tmp_path / "takes"
    exc = OSError(code, {errno.EIO: "Input/output error"}.get(code, "whatever the OS says"))
    assert describe_os_error(exc, folder) == f"{reason.format(p=folder)}; {fix}"
    assert describe_os_error(exc, folder, advice=False) == reason.format(p=folder)


def test_describe_os_error_finds_the_file_standing_where_a_folder_should_be(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("I am a file")
    text = describe_os_error(OSError(errno.ENOTDIR, "Not a directory"), blocker / "takes")
    assert text == f"{blocker} is a file, not a folder; move that file away or choose another folder"


def test_describe_os_error_reads_a_full_disk_from_libraries_without_errno(tmp_path):
    # libsndfile / safetensors raise plain exceptions; their text is all there is
    assert describe_os_error(RuntimeError("No space left on device"), tmp_path, advice=False) == \
        f"the disk holding {tmp_path} is full"
    assert "full (your quota is used up)" in describe_os_error(OSError("Disk quota exceeded"), tmp_path)


@pytest.mark.parametrize("sr_in, sr_out", [(16000, 44100), (32000, 48000), (48000, 16000), (16000, 32000)])
def test_resample_is_scipys_polyphase_filter(sr_in, sr_out):
    """The same numbers export, playback and metrics computed before (scipy resample_poly, float32)."""
    audio = np.random.default_rng(0).standard_normal((2, 4000)).astype(np.float32)
    from math import gcd
    g = gcd(sr_in, sr_out)
    want = resample_poly(audio, sr_out // g, sr_in // g, axis=-1).astype(np.float32)
    got = resample(audio, sr_in, sr_out)
    assert got.dtype == np.float32 and np.array_equal(got, want)
    # playback resamples its [frames, channels] buffer along axis 0
    assert np.array_equal(resample(audio.T.copy(), sr_in, sr_out, axis=0), want.T)


def test_resample_to_the_same_or_no_rate_returns_the_audio_itself():
    audio = np.zeros((1, 10), dtype=np.float32)
    assert resample(audio, 16000, 16000) is audio and resample(audio, 16000, 0) is audio
