"""agx batch: the prompt sheet (good and bad rows), the plan's stable ids and seeds, and a whole run
through `agx` with the stand-in model: bad rows named by number, good rows made, exported with UCS
names and metadata, listed in manifest.csv; a rerun redoes and rewrites nothing; Ctrl+C keeps what is done."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from agx_desktop.batch.plan import derived_seed, plan
from agx_desktop.batch.sheet import SheetError, read_sheet

HEADER = "prompt,count,duration,seed,model,catid,fxname,creator,source,explain,format\n"


def _sheet(tmp_path: Path, body: str, name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_bad_rows_are_named_by_number_with_what_to_fix(tmp_path):
    path = _sheet(tmp_path, HEADER
                  + "a dog barks,2,1,5,stand-in,DOGBark,,JD,AGX,yes,wav24@48k\n"   # row 2: good
                  + ",1,1,,stand-in,,,,,,\n"                                       # row 3: no prompt
                  + "\n"                                                           # row 4: blank, skipped
                  + "a bell,0,1,,stand-in,,,,,,\n"                                 # row 5: count 0
                  + "rain,1,abc,,stand-in,,,,,maybe,mp3\n"                         # row 6: three problems
                  + "wind,1,30,,stand-in,,,,,,\n"                                  # row 7: too long
                  + "# a comment row,,,,,,,,,,\n"                                  # row 8: skipped
                  + "wind,1,1,-3,nomodel,,,,,,\n")                                 # row 9: seed and model
    rows, problems = read_sheet(path)
    assert [r.row for r in rows] == [2]
    good = rows[0]
    assert (good.prompt, good.count, good.duration, good.seed, good.explain) == ("a dog barks", 2, 1.0, 5, "audiogenx")
    assert (good.export.subtype, good.export.sample_rate, good.export.catid) == ("PCM_24", 48000, "DOGBark")
    assert [p.split(":")[0] for p in problems] == ["row 3", "row 5", "row 6", "row 7", "row 9"]
    text = "\n".join(problems)
    assert "row 3: prompt is empty" in text
    assert "row 5: count must be >= 1" in text
    row6 = problems[2]
    assert "duration 'abc' is not a number" in row6 and "explain 'maybe'" in row6 and "format 'mp3'" in row6
    assert "row 7: duration 30 s is above the model's maximum of 10 s" in text
    assert "seed" in problems[4] and "model 'nomodel' is not known" in problems[4]
    assert all("\n" not in p for p in problems)


def test_tsv_and_header_names_and_whole_sheet_errors(tmp_path):
    path = _sheet(tmp_path, "Prompt\tCount\tCreatorID\tSource ID\n"
                            "door knock\t3\tJD\tLIB\n", name="s.tsv")
    rows, problems = read_sheet(path, default_model="stand-in")
    assert problems == [] and rows[0].count == 3 and rows[0].export.creator == "JD"
    assert rows[0].export.source == "LIB" and rows[0].model == "stand-in" and rows[0].seed is None
    with pytest.raises(SheetError, match="no 'prompt' column"):
        read_sheet(_sheet(tmp_path, "text_x,count\nfoo,1\n"))
    with pytest.raises(SheetError, match="sheet not found"):
        read_sheet(tmp_path / "missing.csv")
    with pytest.raises(SheetError, match="is empty"):
        read_sheet(_sheet(tmp_path, "\n\n", name="empty.csv"))


def test_plan_ids_and_seeds_do_not_depend_on_row_order(tmp_path):
    one = _sheet(tmp_path, HEADER + "dog,2,1,,stand-in,DOGBark,,JD,AGX,no,\nbell,1,1,7,stand-in,,,,,no,\n", "a.csv")
    two = _sheet(tmp_path, HEADER + "cat,1,1,,stand-in,,,,,no,\nbell,1,1,7,stand-in,,,,,no,\n"
                 "dog,2,1,,stand-in,DOGBark,,JD,AGX,no,\ndog,2,1,,stand-in,DOGBark,,JD,AGX,no,\n", "b.csv")
    first, second = plan(read_sheet(one)[0]), plan(read_sheet(two)[0])
    by_id = {i.id: i for i in second}
    for item in first:  # inserting rows keeps every earlier item: same id, same seed, same file name
        assert item.id in by_id and by_id[item.id].seed == item.seed
        assert by_id[item.id].export_name == item.export_name
    dog_rows = read_sheet(one)[0][0]
    dogs = [i for i in first if i.prompt == "dog"]
    assert [i.seed for i in dogs] == [derived_seed(dog_rows), derived_seed(dog_rows) + 1]
    assert [i.export_name for i in dogs] == ["DOGBark_Dog 01_JD_AGX.wav", "DOGBark_Dog 02_JD_AGX.wav"]
    assert len({i.id for i in second}) == len(second) == 6  # the repeated row gets ids of its own
    assert len({i.export_name for i in second}) == 6


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "manifest.csv"}


def test_agx_batch_makes_good_rows_reports_bad_ones_and_resumes(tmp_path, capsys):
    from agx_desktop.engine.cli import run
    from wavinfo import WavInfoReader

    sheet = _sheet(tmp_path, HEADER
                   + "a dog barks,2,1,5,stand-in,DOGBark,,JD,AGX,random,wav24\n"
                   + "a bell rings,1,99,,stand-in,,,,,no,\n"
                   + "rain on a roof,1,1,,stand-in,AMBForst,Rain Roof,JD,AGX,no,wav16@48k\n"
                   + "wind,1,1,,stand-in,,,,,no,none\n")
    out = tmp_path / "lib"
    assert run(["--quiet", "batch", str(sheet), "--out", str(out)]) == 2  # done, but a bad row to fix
    err = capsys.readouterr().err
    assert "agx: row 3: duration 99 s is above the model's maximum of 10 s: ask for less" in err
    assert sorted(p.name for p in (out / "export").iterdir()) == [
        "AMBForst_Rain Roof_JD_AGX.wav", "DOGBark_A Dog Barks 01_JD_AGX.wav", "DOGBark_A Dog Barks 02_JD_AGX.wav"]
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        manifest = list(csv.DictReader(f))
    assert [(m["Row"], m["Take"], m["Seed"]) for m in manifest][:2] == [("2", "1", "5"), ("2", "2", "6")]
    assert [m["FXName"] for m in manifest] == ["A Dog Barks 01", "A Dog Barks 02", "Rain Roof", "Wind"]
    assert manifest[0]["Category"] == "DOGS" and manifest[0]["Explained"] == "random" and manifest[3]["Filename"] == ""
    for m in manifest:
        assert (out / m["TakeFolder"] / "audio.wav").is_file()
        if m["Filename"]:
            info = WavInfoReader(str(out / m["Filename"]))
            assert info.bext.description == m["Description"]
            user = {tag: info.ixml.raw_xml.find(f"USER/{tag}") for tag in ("FXNAME", "CATID", "KEYWORDS")}
            assert {tag: node.text for tag, node in user.items()} == \
                {"FXNAME": m["FXName"], "CATID": m["CatID"], "KEYWORDS": m["Keywords"]}
    assert (out / manifest[0]["TakeFolder"] / "explanation.json").is_file()
    rain = WavInfoReader(str(out / manifest[2]["Filename"]))
    assert rain.fmt.sample_rate == 48000 and rain.fmt.bits_per_sample == 16

    before = _files(out)
    assert run(["--quiet", "batch", str(sheet), "--out", str(out)]) == 2
    assert "0 made now, 4 already there" in capsys.readouterr().out
    assert _files(out) == before  # nothing redone, nothing rewritten


def test_ctrl_c_keeps_what_is_done_and_a_rerun_finishes(tmp_path):
    from agx_desktop.batch.runner import run_batch

    sheet = _sheet(tmp_path, HEADER + "a door knocks,3,0.5,1,stand-in,,,,,no,wav24\n")
    out = tmp_path / "lib"

    def interrupt(item, folder):
        raise KeyboardInterrupt
    first = run_batch(sheet, out, progress=False, on_take=interrupt)
    assert first.interrupted and first.made == 1
    assert len((out / "manifest.csv").read_text().splitlines()) == 2
    assert not [p for p in out.rglob(".*")]  # no temporaries, no locks
    second = run_batch(sheet, out, progress=False)
    assert (second.done_before, second.made, second.failed) == (1, 2, [])
    assert len(os.listdir(out / "takes")) == 3 and len(os.listdir(out / "export")) == 3
