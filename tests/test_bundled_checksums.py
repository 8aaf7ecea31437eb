"""The shipped model's files are checked against SHA256SUMS: a flipped bit that keeps every weight
finite (invisible to the NaN/shape checks) is named, with how to restore the file."""
from __future__ import annotations

import shutil

import pytest

from agx_desktop.engine.bundled import checksums, loader
from agx_desktop.engine.errors import CheckpointError

shipped = pytest.mark.skipif(not (loader.BUNDLED_DIR / checksums.SUMS_NAME).is_file() or not loader.weights_present(),
                             reason="shipped weights or SHA256SUMS not present")


@shipped
def test_shipped_files_match_their_checksums():
    checksums.verify(loader.BUNDLED_DIR, checksums.CHECKED)  # raises if the repo's files drifted from the list
    assert set(checksums.read_sums(loader.BUNDLED_DIR)) == set(checksums.CHECKED)


@shipped
@pytest.mark.parametrize("name", [loader.LM_NAME, loader.CODEC_NAME])
def test_a_flipped_mantissa_bit_is_named(tmp_path, name):
    folder = tmp_path / "bundled"
    shutil.copytree(loader.BUNDLED_DIR, folder)
    data = bytearray((folder / name).read_bytes())
    data[-4] ^= 0x01  # lowest mantissa bit of the last float32: still finite, still the right shape
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as err:
        loader.load_bundled_model(folder=folder)
    msg = str(err.value)
    assert name in msg and "SHA-256" in msg and "git checkout resources/bundled" in msg and "\n" not in msg


@shipped
def test_a_damaged_checksum_list_is_one_line(tmp_path):
    folder = tmp_path / "bundled"
    shutil.copytree(loader.BUNDLED_DIR, folder)
    (folder / checksums.SUMS_NAME).write_text("not a checksum line\n")
    with pytest.raises(CheckpointError, match="SHA256SUMS is damaged"):
        loader.load_bundled_model(folder=folder)


def test_update_then_verify_round_trip(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "lm.safetensors").write_bytes(b"\x00" * 64)
    checksums.write(tmp_path)
    checksums.verify(tmp_path, checksums.CHECKED)
    assert checksums.main(["--folder", str(tmp_path)]) == 0
    (tmp_path / "lm.safetensors").write_bytes(b"\x00" * 63 + b"\x01")
    assert checksums.main(["--folder", str(tmp_path)]) == 2
    assert checksums.main(["--folder", str(tmp_path), "--update"]) == 0
    checksums.verify(tmp_path, checksums.CHECKED)
