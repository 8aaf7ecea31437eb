"""``agx batch SHEET --out DIR``: a prompt sheet -> takes, explanations, UCS-named exports, manifest.csv.

Found by ``agx`` through the ``agx_desktop.commands`` entry point (pyproject.toml), like ``agx evaluate``.
"""
from __future__ import annotations

import argparse
import sys
import typing as tp

from ..engine.cli_args import add_speed_arguments, speed_from_arguments
from ..engine.safetext import terminal_safe
from .sheet import COLUMNS, FORMATS

if tp.TYPE_CHECKING:
    from .backends import Backend


def _count(name: str, lo: int, hi: int) -> tp.Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number from {lo} to {hi}, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{name} must be from {lo} to {hi}, got {value}")
        return value
    convert.__name__ = name
    return convert


def add_subparser(subparsers: tp.Any) -> argparse.ArgumentParser:
    """Add ``batch`` to ``agx``'s subcommands."""
    p = subparsers.add_parser(
        "batch", help="make a sound library from a prompt sheet (CSV/TSV): takes, explanations, UCS exports",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Every row of SHEET becomes COUNT takes in DIR/takes/, their explanations (explain=yes), "
                    "delivery WAVs with UCS names and BWF/iXML metadata in DIR/export/ and a DIR/manifest.csv "
                    "a library tool can import. Rerun the same command to continue: finished takes are kept "
                    "as they are. A bad row is reported with its number and skipped; the others are made.",
        epilog=f"sheet columns (header row; only prompt is required): {', '.join(COLUMNS)}\n"
               f"  count 1..1000 (default 1); duration in seconds (default 5); seed blank = derived from the row;\n"
               f"  explain yes/no or a method; format {FORMATS}\n"
               "examples:\n"
               "  agx batch footsteps.csv --out library/footsteps\n"
               "  agx batch footsteps.csv --out library/footsteps --workers 2\n"
               "  agx batch footsteps.csv --out library/footsteps --ray auto     # the Ray cluster this machine is in")
    p.add_argument("sheet", help="CSV or TSV file, one row per prompt (header row names the columns)")
    p.add_argument("--out", required=True, help="output folder (new, empty, or an earlier batch to continue)")
    p.add_argument("--model", default="bundled", help="model for rows that leave the model column blank "
                                                      "(default bundled)")
    add_backend_options(p)
    add_speed_arguments(p, threads=False)
    return p


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """``--workers``, ``--ray``, ``--threads``: where the work runs (``agx batch`` and ``agx evaluate``)."""
    g = p.add_argument_group("where it runs (default: in this process)")
    g.add_argument("--workers", type=_count("--workers", 1, 256), default=None, metavar="N",
                   help="N local worker processes, each with its own copy of the model; with --ray: N Ray workers "
                        "(default one per CPU of the cluster)")
    g.add_argument("--ray", default=None, metavar="auto|local|ADDRESS",
                   help="run on Ray: auto = the cluster this machine belongs to, local = a Ray head started for "
                        "this run, or the head's ADDRESS (needs pip install 'agx-desktop[ray]')")
    g.add_argument("--threads", type=_count("--threads", 1, 1024), default=None, metavar="T",
                   help="CPU threads per worker (default: the cores shared out among the workers)")


def backend_from_args(args: argparse.Namespace) -> "Backend":
    """The backend ``--workers/--ray/--threads`` ask for (in-process when none is given)."""
    from .backends import make_backend
    if args.threads and not (args.ray or (args.workers or 1) > 1):
        import os
        os.environ["AGX_THREADS"] = str(args.threads)
    return make_backend(workers=args.workers, ray=args.ray, threads=args.threads)


def run_from_args(args: argparse.Namespace) -> int:
    """Run ``agx batch``: 0 all done, 2 bad rows or failed takes (the rest is done), 130 interrupted."""
    from ..engine.models import choose_device
    from .runner import check_out_dir, run_batch
    check_out_dir(args.out)  # before any worker starts
    device = getattr(args, "device", None)
    speed = speed_from_arguments(args, choose_device(device).type, threads=False)
    with backend_from_args(args) as backend:
        summary = run_batch(args.sheet, args.out, backend, default_model=args.model, device=device,
                            progress=not getattr(args, "quiet", False), speed=speed)
    for line in summary.problems:
        print(f"agx: {terminal_safe(line)}", file=sys.stderr)
    for line in summary.failed:
        print(f"agx: failed: {terminal_safe(line)}", file=sys.stderr)
    state = "interrupted" if summary.interrupted else "done"
    note = f", {summary.done_before} already there" if summary.done_before else ""
    bad = f", {len(summary.problems)} sheet problem(s)" if summary.problems else ""
    failed = f", {len(summary.failed)} failed" if summary.failed else ""
    retried = f", {summary.retried} retried after a worker died" if summary.retried else ""
    print(f"{state}: {summary.finished} of {summary.planned} takes in {terminal_safe(summary.out)} "
          f"({summary.made} made now{note}{failed}{bad}{retried}); manifest: "
          f"{terminal_safe(summary.out / 'manifest.csv')}")
    if summary.interrupted:
        print("agx: stopped; run the same command again to continue", file=sys.stderr)
        return 130
    return 2 if summary.problems or summary.failed else 0


__all__ = ["add_subparser", "run_from_args", "add_backend_options", "backend_from_args"]
