"""Table 1 (faithfulness) and Table 2 (cost per explanation) of an evaluation, as Markdown and CSV.

Rewritten after every caption: ``table1.md/.csv`` (Fid_F, Fid_CF, KL_F, KL_CF, size: mean ± standard
error over captions, plus the "same prompt, new samples" floor and AudioGenX's paired differences)
and ``table2.md/.csv`` (seconds and peak MB per explanation). Until every caption is done they are
titled PARTIAL with the count.
"""
from __future__ import annotations

import csv
import io
import math
import typing as tp
from pathlib import Path

from ..engine.fsio import write_text_atomic

TABLE1, TABLE2 = "table1", "table2"
_KL_READING = {"orig_to_sample": "KL(orig ‖ sample)", "sample_to_orig": "KL(sample ‖ orig) (the reference code's)"}


def label(method: str) -> str:
    """How the tables write an evaluation method: its explainer's ``label`` ("Grad-CAM-e"), with the mode of
    an AudioGenX-in-one-mode method ("AudioGenX (paper mode)", also for the old name audiogenx-reference)."""
    from ..engine.explain import METHODS
    from .protocol import MODE_METHODS
    registered, mode = (("audiogenx", f" ({MODE_METHODS[method]} mode)") if method in MODE_METHODS
                        else (method, ""))
    explainer = METHODS.get(registered)
    return (getattr(explainer, "label", "") or method) + mode if explainer is not None else method


def _fmt(mean: float, se: float, digits: int = 3) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def _floor_rows(records: list[dict], samples: int) -> tuple[list[list[str]], list[list[str]]]:
    """Table 1's "same prompt, new samples" row (Markdown, CSV), if any caption has one."""
    from .metrics import mean_se
    floors = [r["floor"] for r in records if r.get("floor")]
    if not floors:
        return [], []
    (ff, ffs), (kf, kfs) = mean_se([f["fid"] for f in floors]), mean_se([f["kl"] for f in floors])
    return ([[f"same prompt, {samples} new samples (floor)", _fmt(ff, ffs), "–", _fmt(kf, kfs), "–", "–"]],
            [["floor", str(len(floors)), f"{ff:.6f}", f"{ffs:.6f}", "", "", f"{kf:.6f}", f"{kfs:.6f}",
              "", "", "", ""]])


def _method_rows(records: list[dict], m: str) -> tuple[list[str], list[str], list[str], list[str]]:
    """Method ``m``'s rows: Table 1 Markdown and CSV, Table 2 Markdown and CSV."""
    from .metrics import mean_se
    vals = [r["methods"][m] for r in records if m in r.get("methods", {})]
    stats = {k: mean_se([v[k] for v in vals]) for k in ("fid_f", "fid_cf", "kl_f", "kl_cf", "size", "seconds",
                                                       "peak_mb")}
    name = label(m)
    peak_max = max([v["peak_mb"] for v in vals], default=float("nan"))
    return ([name] + [_fmt(*stats[k]) for k in ("fid_f", "fid_cf", "kl_f", "kl_cf", "size")],
            [m, str(len(vals))] + [f"{x:.6f}" for k in ("fid_f", "fid_cf", "kl_f", "kl_cf", "size") for x in stats[k]],
            [name, _fmt(*stats["seconds"], digits=2), _fmt(*stats["peak_mb"], digits=0),
             "–" if math.isnan(peak_max) else f"{peak_max:.0f}"],
            [m, str(len(vals)), f"{stats['seconds'][0]:.4f}", f"{stats['seconds'][1]:.4f}",
             f"{stats['peak_mb'][0]:.1f}", f"{stats['peak_mb'][1]:.1f}", f"{peak_max:.1f}"])


def _markdown(title: str, desc: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"# {title}", "", desc, "", "| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def tables(records: list[dict], methods: list[str], total: int, settings: dict) -> dict[str, tp.Any]:
    """Markdown and CSV rows of Table 1 (faithfulness) and Table 2 (cost)."""
    n = len(records)
    complete = n >= total
    status = (f"complete: {n} of {total} captions" if complete
              else f"PARTIAL: {n} of {total} captions finished — not a complete result")
    desc = (f"model `{settings['model']}`, classifier `{settings['classifier']}`, {settings['duration']:g} s takes, "
            f"{settings['samples']} samples per mask, KL = {_KL_READING[settings.get('kl_direction', 'orig_to_sample')]}, "
            f"mean ± standard error over captions; {status}")
    t1_rows, floor_csv = _floor_rows(records, settings["samples"])
    t1_csv = [["method", "n", "fid_f", "fid_f_se", "fid_cf", "fid_cf_se", "kl_f", "kl_f_se", "kl_cf", "kl_cf_se",
               "size", "size_se"], *floor_csv]
    t2_rows: list[list[str]] = []
    t2_csv = [["method", "n", "seconds", "seconds_se", "peak_mb", "peak_mb_se", "peak_mb_max"]]
    for m in methods:
        row1, csv1, row2, csv2 = _method_rows(records, m)
        t1_rows.append(row1)
        t1_csv.append(csv1)
        t2_rows.append(row2)
        t2_csv.append(csv2)
    h1 = ["method", "Fid_F ↓", "Fid_CF ↑", "KL_F ↓", "KL_CF ↑", "size ↓"]
    h2 = ["method", "seconds per explanation ↓", "peak MB ↓ (mean)", "peak MB (max)"]
    partial = "" if complete else " (PARTIAL)"
    mem_note = "CUDA max_memory_allocated" if settings.get("device", "cpu").startswith("cuda") else \
        "peak C-heap bytes in use (glibc mallinfo2) above the level before the call, sampled every 5 ms"
    return {"complete": complete,
            "table1_md": _markdown("Table 1 — faithfulness" + partial, desc, h1, t1_rows)
            + _paired_md(records, methods),
            "table1_csv": t1_csv,
            "table2_md": _markdown("Table 2 — cost per explanation" + partial, desc, h2, t2_rows)
            + f"\nMemory: {mem_note}. Device: {settings.get('device', 'cpu')}, "
              f"threads: {settings.get('threads', '?')}.\n",
            "table2_csv": t2_csv}


def _paired_md(records: list[dict], methods: list[str], ref: str = "audiogenx") -> str:
    """AudioGenX minus each other method, caption by caption (mean ± SE of the paired differences).

    Every method explains the same takes, so paired differences remove the take-to-take spread
    that dominates the per-method standard errors above."""
    from .metrics import mean_se
    others = [m for m in methods if m != ref]
    if ref not in methods or not others:
        return ""
    keys = ("fid_f", "fid_cf", "kl_f", "kl_cf")
    lines = ["", f"## {label(ref)} minus each method, paired per caption", "",
             "Negative is better for Fid_F/KL_F, positive for Fid_CF/KL_CF; |mean| > 2 SE marked *.", "",
             "| method | ΔFid_F | ΔFid_CF | ΔKL_F | ΔKL_CF |", "|---|---|---|---|---|"]
    for m in others:
        cells = []
        for k in keys:
            d = [r["methods"][ref][k] - r["methods"][m][k] for r in records
                 if ref in r.get("methods", {}) and m in r["methods"]]
            mean, se = mean_se(d)
            star = len(d) >= 2 and abs(mean) > 2 * se
            cells.append("–" if math.isnan(mean) else f"{mean:+.3f} ± {se:.3f}" + ("*" if star else ""))
        lines.append(f"| {label(m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_tables(out: Path, records: list[dict], methods: list[str], total: int, settings: dict) -> dict:
    """Rewrite the tables from the records, each file atomically (a reader never sees half a table)."""
    t = tables(records, methods, total, settings)
    for key in ("table1", "table2"):
        write_text_atomic(out / f"{key}.md", t[f"{key}_md"])
        buf = io.StringIO(newline="")
        csv.writer(buf).writerows(t[f"{key}_csv"])
        write_text_atomic(out / f"{key}.csv", buf.getvalue())
    return t
