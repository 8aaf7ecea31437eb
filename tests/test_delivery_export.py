"""Export metadata read back by other tools (wavinfo, ffprobe, soundfile) and `agx export` from the shell."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from agx_desktop.engine.delivery.export import ExportOptions, export_wav, important_words
from agx_desktop.engine.take import GenerationParams

wavinfo = pytest.importorskip("wavinfo", reason="wavinfo (dev extra) reads bext/iXML back")
SR = 16000


def take_like(prompt: str = "a dog barks then a bell rings", seconds: float = 1.0) -> SimpleNamespace:
    rng = np.random.default_rng(1)
    audio = (0.1 * rng.standard_normal(int(SR * seconds)) * np.hanning(int(SR * seconds))).astype(np.float32)[None]
    return SimpleNamespace(audio=audio, sample_rate=SR, prompt=prompt, model_id="bundled", kind="weighted",
                           params=GenerationParams(duration=seconds, seed=7, top_k=250, temperature=0.8, cfg_coef=3.0),
                           word_weights=[1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0], id="abc123def456",
                           created="2026-11-26T09:30:15+00:00", parent="fedcba987654", duration=seconds)


def ixml_field(info, path: str) -> str | None:
    node = info.ixml.raw_xml.find(path)
    return None if node is None else node.text


@pytest.mark.parametrize("subtype,rate,bits,codec", [("PCM_16", 0, 16, "pcm_s16le"), ("PCM_24", 48000, 24, "pcm_s24le"),
                                                     ("FLOAT", 44100, 32, "pcm_f32le")])
def test_bext_ixml_and_info_read_back_by_wavinfo_ffprobe_and_soundfile(tmp_path, subtype, rate, bits, codec):
    take = take_like()
    opts = ExportOptions(subtype=subtype, sample_rate=rate, catid="DOGBark", creator="JD", source="AGXLib")
    result = export_wav(take, tmp_path / "dog.wav", opts)
    info = wavinfo.WavInfoReader(str(result.path))
    assert (info.fmt.sample_rate, info.fmt.bits_per_sample, info.fmt.channel_count) == (rate or SR, bits, 1)

    bext = info.bext
    assert bext.description == take.prompt and bext.originator == "AGX Desktop"
    assert bext.originator_ref == "AGXabc123def456"
    assert (bext.originator_date, bext.originator_time) == ("2026-11-26", "09:30:15")  # when the take was made
    assert bext.version == 2 and bext.loudness_value == pytest.approx(result.loudness.lufs, abs=0.01)
    assert bext.max_true_peak == pytest.approx(result.loudness.true_peak, abs=0.01) and bext.max_true_peak <= -1.0
    lines = bext.coding_history.split("\r\n")
    assert lines[0].startswith(f"A=PCM-FLOAT,F={SR},W=32,M=mono,T=AGX Desktop generation: bundled seed 7")
    fmt = "PCM-FLOAT" if subtype == "FLOAT" else "PCM"
    assert lines[1].startswith(f"A={fmt},F={rate or SR},W={bits},M=mono,T=AGX Desktop export: ")
    assert result.message in lines[1]

    for tag, want in (("CATID", "DOGBark"), ("CATEGORY", "DOGS"), ("SUBCATEGORY", "BARK"),
                      ("FXNAME", "A Dog Barks Then A Bell Rings"), ("CREATORID", "JD"), ("SOURCEID", "AGXLib"),
                      ("KEYWORDS", "dog, barks, bell, rings")):
        assert ixml_field(info, f"USER/{tag}") == want, tag
    assert ixml_field(info, "ASWG/catId") == "DOGBark" and ixml_field(info, "ASWG/fxName").startswith("A Dog")
    for tag, want in (("PROMPT", take.prompt), ("MODEL", "bundled"), ("SEED", "7"), ("DURATION", "1"), ("CFG", "3"),
                      ("TOP_K", "250"), ("TEMPERATURE", "0.8"), ("KIND", "weighted"), ("PARENT", "fedcba987654"),
                      ("WORD_WEIGHTS", "1,0,1,1,1,2,1")):
        assert ixml_field(info, f"AGX/{tag}") == want, tag
    assert info.ixml.project == "AGXLib" and ixml_field(info, "NOTE") == take.prompt

    assert info.info.title == take.prompt and "seed=7" in info.info.comment and info.info.artist == "JD"
    data, sr = sf.read(str(result.path), always_2d=True)
    assert sr == (rate or SR) and data.shape == (int(round(SR * 1.0 * (rate or SR) / SR)), 1)

    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed: the container check is skipped")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(result.path)],
                           capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stderr == ""
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], int(stream["sample_rate"]), stream["channels"]) == (codec, rate or SR, 1)
    assert float(stream["duration"]) == pytest.approx(1.0, abs=1e-3)


def test_same_take_and_options_give_the_same_bytes(tmp_path):
    a = export_wav(take_like(), tmp_path / "a.wav", ExportOptions(subtype="FLOAT"))
    b = export_wav(take_like(), tmp_path / "b.wav", ExportOptions(subtype="FLOAT"))
    assert a.path.read_bytes() == b.path.read_bytes()


def test_keywords_are_the_explanations_important_words():
    explanation = SimpleNamespace(words=["a", "dog", "barks", "then", "a", "bell", "rings"],
                                  word_importance=lambda: np.array([0.1, 0.9, 0.6, 0.2, 0.1, 0.95, 0.3]))
    assert important_words(explanation, "a dog barks then a bell rings") == ["bell", "dog", "barks"]
    explanation.word_importance = lambda: np.array([0.1, 0.3, 0.2, 0.1, 0.1, 0.2, 0.1])
    assert important_words(explanation, "") == ["dog"]  # nothing above 0.5: the most important one
    assert important_words(None, "rain on a tin roof") == ["rain", "tin", "roof"]


def test_non_ascii_prompt_is_ascii_in_bext_and_whole_in_ixml(tmp_path):
    take = take_like(prompt="café door — slams «twice»")
    result = export_wav(take, tmp_path / "c.wav", ExportOptions())
    info = wavinfo.WavInfoReader(str(result.path))
    assert info.bext.description == "cafe door ? slams ?twice?"
    assert ixml_field(info, "AGX/PROMPT") == take.prompt and ixml_field(info, "USER/DESCRIPTION") == take.prompt


# --------------------------------------------------------------------------- agx export

@pytest.fixture(scope="module")
def take_dir(tmp_path_factory, tiny_take):
    from agx_desktop.engine import take_folder
    folder = tmp_path_factory.mktemp("takes") / "dog"
    take_folder.save_take(tiny_take, folder)
    return folder


@pytest.fixture
def agx(capsys):
    """``agx ARGV`` in this process (``cli.run``, as the console script calls it): (status, stdout, stderr)."""
    from agx_desktop.engine.cli import run

    def call(*argv: str) -> tuple[int, str, str]:
        code = run(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return call


def test_agx_export_is_a_subcommand_of_the_installed_agx():
    """The console script finds ``export`` through the entry point (pyproject.toml) and documents every option."""
    exe = Path(sys.executable).with_name("agx")
    done = subprocess.run([str(exe), "export", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""
    for option in ("--lufs", "--true-peak", "--bits", "--rate", "--ucs", "--peak", "--max-limit", "--force"):
        assert option in done.stdout


def test_agx_export_writes_a_measured_bwf(agx, take_dir, tmp_path):
    out = tmp_path / "dog.wav"
    code, stdout, stderr = agx("export", str(take_dir), str(out), "--lufs", "-16", "--true-peak", "-1", "--bits", "24",
                               "--rate", "48000", "--ucs", "DOGBark,,JD,AGXLib")
    assert code == 0 and stderr == "", stderr
    assert stdout.startswith(f"wrote {out} (48000 Hz, 24-bit PCM): ")
    info = wavinfo.WavInfoReader(str(out))
    assert info.fmt.sample_rate == 48000 and info.fmt.bits_per_sample == 24
    assert ixml_field(info, "USER/CATID") == "DOGBark" and ixml_field(info, "USER/CREATORID") == "JD"
    assert f"{info.bext.loudness_value:.1f} LUFS" in stdout


@pytest.mark.parametrize("argv,says", [
    (["--lufs", "3"], "loudness target (LUFS) must be a finite number from -40 to -5, got 3.0"),
    (["--lufs", "nan"], "loudness target (LUFS) must be a finite number"),
    (["--true-peak", "2"], "true-peak ceiling (dBTP) must be a finite number from -20 to 0"),
    (["--bits", "8"], "bit depth must be 16, 24 or 32"),
    (["--rate", "96000"], "sample rate must be native, 44100 or 48000"),
    (["--ucs", "DOGBark,JD"], "--ucs must be CATID,FXNAME,CREATOR,SOURCE"),
    (["--lufs", "-14", "--peak", "-1"], "not allowed with argument"),
    (["--catid", "DOG\x07"], "catid must be text without control characters"),
])
def test_bad_values_are_one_line_without_traceback(agx, take_dir, tmp_path, argv, says):
    out = tmp_path / "x.wav"
    code, stdout, stderr = agx("export", str(take_dir), str(out), *argv)
    assert code == 2 and stdout == "" and says in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_replaces_its_own_exports_but_not_a_users_file(agx, take_dir, tmp_path):
    out = tmp_path / "dog.wav"
    assert agx("export", str(take_dir), str(out))[0] == 0
    assert agx("export", str(take_dir), str(out), "--bits", "16")[0] == 0  # a rerun replaces our own file
    assert sf.info(str(out)).subtype == "PCM_16"
    recording = tmp_path / "recording.wav"
    sf.write(str(recording), np.zeros(100), 48000)
    before = recording.read_bytes()
    code, _, stderr = agx("export", str(take_dir), str(recording))
    assert code == 2 and "exists and is not an AGX Desktop export" in stderr and "--force" in stderr
    assert recording.read_bytes() == before
    assert agx("export", str(take_dir), str(recording), "--force")[0] == 0
    assert wavinfo.WavInfoReader(str(recording)).bext.originator == "AGX Desktop"


def test_out_folder_names_the_file_and_other_paths_are_refused(agx, take_dir, tmp_path):
    code, stdout, _ = agx("export", str(take_dir), str(tmp_path), "--ucs", "DOGBark,Woof,JD,AGXLib")
    assert code == 0 and (tmp_path / "DOGBark_Woof_JD_AGXLib.wav").is_file()
    code, _, stderr = agx("export", str(take_dir), str(tmp_path / "notes.txt"))
    assert code == 2 and "does not end in .wav" in stderr
    code, _, stderr = agx("export", str(tmp_path / "nothing"), str(tmp_path / "a.wav"))
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    # a folder that does not exist yet is made, as a save dialog would (it was refused with "does not exist
    # and cannot be created", which was not true); a name ending in "/" is a folder, named by UCS inside
    code, _, stderr = agx("export", str(take_dir), str(tmp_path / "missing" / "deeper" / "a.wav"))
    assert code == 0 and (tmp_path / "missing" / "deeper" / "a.wav").is_file(), stderr
    code, stdout, stderr = agx("export", str(take_dir), str(tmp_path / "library") + "/", "--ucs", "DOGBark,Woof,JD,AGXLib")
    assert code == 0 and (tmp_path / "library" / "DOGBark_Woof_JD_AGXLib.wav").is_file(), stderr
    # a file in the way: refused in one line, and no folder is left behind
    (tmp_path / "plain").write_text("not a folder")
    code, _, stderr = agx("export", str(take_dir), str(tmp_path / "plain" / "sub" / "a.wav"))
    assert code == 2 and "is a file, not a folder" in stderr and len(stderr.strip().splitlines()) == 1, stderr
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        if os.access(tmp_path / "ro", os.W_OK):  # root writes anywhere: nothing to check here
            return
        code, _, stderr = agx("export", str(take_dir), str(tmp_path / "ro" / "a" / "b" / "x.wav"))
        assert code == 2 and not (tmp_path / "ro" / "a").exists()
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_bext_loudness_fields_are_the_files_own(tmp_path):
    """bext v2: integrated loudness and true peak as measured on the written audio; max momentary and
    max short-term where the clip holds the window; loudness range not set (0x7fff) for a short clip."""
    import pyloudnorm as pyln
    take = take_like(seconds=3.5)
    result = export_wav(take, tmp_path / "l.wav", ExportOptions(lufs=-20.0, subtype="FLOAT"))
    bext = wavinfo.WavInfoReader(str(result.path)).bext
    data, sr = sf.read(str(result.path), always_2d=True)
    assert bext.loudness_value == pytest.approx(pyln.Meter(sr).integrated_loudness(data), abs=0.02)
    assert bext.loudness_range == pytest.approx(327.67)
    assert bext.loudness_value < bext.max_momentary_loudness < 0 and bext.max_shortterm_loudness < bext.max_momentary_loudness


@pytest.mark.parametrize("where", ["engine", "app"])
def test_a_failed_export_takes_away_the_folders_it_made(tiny_take, tmp_path, monkeypatch, where):
    """The folders made for an export are removed again when the write fails (a full disk here): nothing
    is left behind, in `agx export` (engine) and in the app's Export dialog (ui.export.atomic_write)."""
    import errno

    from agx_desktop.engine import fsio
    from agx_desktop.engine.delivery.export import ExportError

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(fsio, "atomic_write", full)
    monkeypatch.setattr(fsio, "write_bytes_atomic", full)
    target = tmp_path / "new" / "deeper" / "x.wav"
    with pytest.raises(ExportError, match="full"):
        if where == "engine":
            export_wav(tiny_take, target, ExportOptions())
        else:
            from agx_desktop.ui.export import atomic_write
            atomic_write(target, lambda tmp: None)
    assert not (tmp_path / "new").exists()
    monkeypatch.undo()
    if where == "app":  # and without a fault, the dialog's new folder is made and the file written
        from agx_desktop.ui.export import write_text_atomic
        assert write_text_atomic(target.with_suffix(".csv"), "a,b\n").read_text() == "a,b\n"


def test_a_take_above_full_scale_exported_without_normalising_says_it_clipped(tiny_take):
    """A take that goes above full scale (a 'loud' prompt can peak at +13 dBFS) written to PCM without
    normalising is cut at full scale: the message says how much, in capitals; normalised or float, nothing is cut."""
    import dataclasses

    from agx_desktop.engine.delivery.export import render
    loud = dataclasses.replace(tiny_take, audio=np.asarray(tiny_take.audio, dtype=np.float32)
                               / np.abs(tiny_take.audio).max() * 4.0)
    audio, sr, result = render(loud.audio, loud.sample_rate, ExportOptions(normalize="none", subtype="PCM_16"))
    over = float(np.mean(np.abs(loud.audio) > 1.0))
    assert over > 0 and result.clipped == pytest.approx(over, rel=0.02) and np.abs(audio).max() <= 1.0
    assert "CLIPPED at full scale" in result.message and f"{100 * result.clipped:.2g} %" in result.message
    for opts in (ExportOptions(normalize="none", subtype="FLOAT"), ExportOptions()):
        _, _, fine = render(loud.audio, loud.sample_rate, opts)
        assert fine.clipped == 0 and "CLIPPED" not in fine.message


def test_over_full_scale_names_the_peak_only_above_0_dbfs():
    from agx_desktop.engine.audio import over_full_scale
    assert over_full_scale(np.array([[0.5, -1.0, 0.2]], dtype=np.float32)) is None
    assert over_full_scale(np.zeros((1, 0), dtype=np.float32)) is None
    note = over_full_scale(np.array([[0.5, -4.54, 0.2]], dtype=np.float32))
    assert note is not None and "+13.1 dBFS" in note and "clips" in note
