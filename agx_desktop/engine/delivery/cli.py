"""``agx export``: a take folder to a delivery WAV, for scripts and batches — the bytes the app's dialog writes.

Registered as an ``agx_desktop.commands`` entry point (pyproject.toml), found by
:func:`agx_desktop.engine.cli.plugin_commands`; the export itself is :func:`.export.export_wav`.

Replacing files: a sound designer's folder holds recordings that must never be lost to a typo, and
re-running a batch must not fail on its own earlier output. So ``OUT`` is written when it does not
exist or is an earlier AGX Desktop export (its ``bext`` Originator says so), and any other existing
file is refused unless ``--force``. ``OUT`` must end in ``.wav`` (or name a folder: the file name
then comes from ``--pattern``, as in the dialog). The write is atomic: the old file or the new one.
"""
from __future__ import annotations

import argparse
import os
import struct
import sys
import typing as tp
from pathlib import Path

from .. import limits
from ..errors import AgxError, ParameterError
from . import export as ex
from .loudness import CEILING_DB, MAX_LIMIT_DB

BITS = {"16": "PCM_16", "24": "PCM_24", "32": "FLOAT", "32f": "FLOAT", "float": "FLOAT"}
DEFAULT_PATTERN = "{catid}_{fxname}_{creator}_{source}"


def _arg(check: tp.Callable[[float], tp.Any]) -> tp.Callable[[str], float]:
    """An argparse ``type=``: a number checked by ``check`` (limits.py's one-line message on failure)."""
    def convert(text: str) -> float:
        try:
            value: tp.Any = float(text)
        except ValueError:
            value = text
        try:
            return check(value)
        except AgxError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


def _range(name: str, lo: float, hi: float) -> tp.Callable[[str], float]:
    return _arg(lambda v: limits.check_real(name, v, lo, hi))


def _bits(text: str) -> str:
    if text.lower() not in BITS:
        raise argparse.ArgumentTypeError(f"bit depth must be 16, 24 or 32 (32-bit float), got {text!r}")
    return BITS[text.lower()]


def _rate(text: str) -> int:
    value = 0 if text.lower() == "native" else int(text) if text.isdigit() else -1
    if value not in ex.RATES:
        raise argparse.ArgumentTypeError(f"sample rate must be native, 44100 or 48000, got {text!r}")
    return value


def _ucs(text: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"--ucs must be CATID,FXNAME,CREATOR,SOURCE (4 fields, FXNAME may be "
                                         f"empty), got {text!r}")
    return parts


def add_subparser(subparsers: tp.Any) -> argparse.ArgumentParser:
    """Add ``export`` to ``agx``'s subcommands."""
    lo, hi = ex.LUFS_RANGE
    p = subparsers.add_parser(
        "export", help="write a take as a delivery WAV (loudness, true-peak ceiling, BWF bext + iXML/UCS)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write TAKE (a take folder) as a Broadcast WAVE file: resampled, normalised to a loudness "
                    "target under a true-peak ceiling (a look-ahead limiter when the gain needs it), with bext "
                    "and iXML metadata (UCS fields, prompt, generation parameters). The same bytes as the app's "
                    "Export dialog with the same settings.",
        epilog="OUT is written if it does not exist or is an earlier AGX Desktop export; any other existing file "
               "needs --force.\nexamples:\n"
               "  agx export takes/dog dog.wav\n"
               "  agx export takes/dog out/ --lufs -16 --true-peak -1 --bits 24 --rate 48000 "
               "--ucs DOGBark,,JD,AGX\n"
               "  agx export takes/dog dog.wav --peak -3 --bits 16")
    p.add_argument("take", help="take folder (from `agx generate` or the app's data folder)")
    p.add_argument("out", help="the .wav file to write, or a folder (name from --pattern)")
    norm = p.add_mutually_exclusive_group()
    norm.add_argument("--lufs", type=_range("loudness target (LUFS)", lo, hi), default=None, metavar="LUFS",
                      help=f"integrated loudness target, {lo:g} to {hi:g} (default -14)")
    norm.add_argument("--peak", type=_range("peak (dBTP)", *ex.PEAK_RANGE), default=None, metavar="DBTP",
                      help="normalise the true peak to this level instead of the loudness (never above --true-peak)")
    norm.add_argument("--no-normalize", action="store_true", help="keep the take's level")
    p.add_argument("--true-peak", type=_range("true-peak ceiling (dBTP)", *ex.CEILING_RANGE), default=CEILING_DB,
                   metavar="DBTP", help=f"true-peak ceiling, 4x oversampled (default {CEILING_DB:g})")
    p.add_argument("--max-limit", type=_range("maximum limiting (dB)", *ex.MAX_LIMIT_RANGE), default=MAX_LIMIT_DB,
                   metavar="DB", help=f"most gain reduction the limiter may apply; beyond it the loudness stops short "
                                      f"and says so (default {MAX_LIMIT_DB:g})")
    p.add_argument("--bits", type=_bits, default="24", help="16, 24 (default) or 32 (float)")
    p.add_argument("--rate", type=_rate, default=0, help="native (default), 44100 or 48000")
    p.add_argument("--ucs", type=_ucs, default=None, metavar="CATID,FXNAME,CREATOR,SOURCE",
                   help="UCS fields in one (an empty FXNAME comes from the prompt), e.g. DOGBark,,JD,AGX")
    p.add_argument("--catid", default=None, help="UCS CatID (default MISCMisc)")
    p.add_argument("--fxname", default=None, help="UCS FXName (default: the prompt's words)")
    p.add_argument("--creator", default=None, help="UCS CreatorID (default AGX)")
    p.add_argument("--source", default=None, help="UCS SourceID (default AGXDesktop)")
    p.add_argument("--category", default="", help="UCS Category (default: known for a few CatIDs)")
    p.add_argument("--subcategory", default="", help="UCS SubCategory")
    p.add_argument("--pattern", default=DEFAULT_PATTERN,
                   help="file name when OUT is a folder; fields: " + ", ".join("{" + f + "}" for f in ex.PATTERN_FIELDS))
    p.add_argument("--force", action="store_true", help="replace OUT even if it is not an AGX Desktop export")
    return p


def is_agx_export(path: Path) -> bool:
    """Whether ``path`` is a WAV whose bext Originator is AGX Desktop (reads the chunk headers only)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return False
            for _ in range(64):
                header = f.read(8)
                if len(header) < 8:
                    return False
                size = struct.unpack("<I", header[4:])[0]
                if header[:4] == b"bext":
                    fields = f.read(256 + 32)
                    return fields[256:].split(b"\0", 1)[0] == ex.ORIGINATOR.encode()
                f.seek(size + (size & 1), 1)
    except OSError:
        return False
    return False


def options_from_args(args: argparse.Namespace) -> ex.ExportOptions:
    catid, fxname, creator, source = args.ucs or (None, None, None, None)
    defaults = ex.ExportOptions()
    normalize = "none" if args.no_normalize else "peak" if args.peak is not None else "lufs"
    return ex.ExportOptions(
        subtype=args.bits, sample_rate=args.rate, normalize=normalize,
        lufs=defaults.lufs if args.lufs is None else args.lufs,
        peak_db=defaults.peak_db if args.peak is None else args.peak,
        true_peak=args.true_peak, max_limit=args.max_limit,
        catid=args.catid or catid or defaults.catid, creator=args.creator or creator or defaults.creator,
        source=args.source or source or defaults.source, fxname=args.fxname or fxname or "",
        category=args.category, subcategory=args.subcategory).validate()


def _target(args: argparse.Namespace, take: tp.Any, opts: ex.ExportOptions) -> Path:
    out = Path(args.out).expanduser()
    if out.is_dir() or (str(args.out).endswith(("/", os.sep)) and not out.exists()):  # a folder, new ones too
        out = out / ex.file_name(take, args.pattern, opts.catid, opts.creator, opts.source, fxname=opts.fxname)
    elif out.suffix.lower() not in (".wav", ".wave"):
        raise ParameterError(f"{args.out} does not end in .wav: name the WAV file to write (or a folder)")
    if out.exists() and not args.force:
        if out.is_dir() or out.is_symlink() or not is_agx_export(out):
            raise ex.ExportError(f"{out} exists and is not an AGX Desktop export: choose another name or pass "
                                 "--force to replace it")
    if out.is_dir():
        raise ex.ExportError(f"{out} is a folder")
    return out


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``agx export``; errors are :class:`AgxError` lines (``agx`` prints them, status 2)."""
    from .. import take_folder
    from ..safetext import terminal_safe
    opts = options_from_args(args)
    take = take_folder.load_take(args.take)
    explanation = None
    if (Path(args.take) / take_folder.EXPLANATION).is_file():
        try:
            explanation = take_folder.load_explanation(args.take, take)
        except Exception as exc:  # keywords then come from the prompt; the export itself is fine
            print(f"agx: note: the explanation cannot be used for keywords ({terminal_safe(exc)[:200]})",
                  file=sys.stderr)
    out = _target(args, take, opts)
    result = ex.export_wav(take, out, opts, explanation)
    print(f"wrote {terminal_safe(result.path)} ({result.sample_rate} Hz, {ex.SUBTYPES[opts.subtype]}): "
          f"{result.message}")
    return 0


__all__ = ["add_subparser", "run_from_args", "options_from_args", "is_agx_export"]
