"""Good sheet rows -> work items: one per take, with an id and a seed that do not depend on row order.

An item's id names its take folder (``DIR/takes/ID``) and is what makes a rerun resume: it is built
from what the take depends on (prompt, model, duration, seed, explain method) and the take's number
within its row, so inserting or moving rows in the sheet keeps every finished take. A blank seed is
derived from the same text (:func:`derived_seed`), so a rerun samples the same audio.
"""
from __future__ import annotations

import hashlib
import re
import typing as tp
from dataclasses import dataclass, replace

from ..engine.delivery.export import ExportOptions, fx_name, safe_filename
from .sheet import SheetRow

_SEED_SPACE = 2 ** 31  # derived seeds stay small enough to type back into a sheet


@dataclass(frozen=True)
class WorkItem:
    """One take to make: what a worker needs, and where the driver puts the results."""

    id: str
    row: int                       # sheet row (for messages)
    number: int                    # 1-based take number within the row
    prompt: str
    model: str
    duration: float
    seed: int                      # sampling otherwise as the model recommends (LoadedModel.default_params)
    explain: str | None
    export: ExportOptions | None   # FXName filled in (numbered when the row makes several takes)
    export_name: str | None        # file name under DIR/export/, unique in the plan

    @property
    def label(self) -> str:
        return f"row {self.row} take {self.number}"


def _digest(*parts: tp.Any) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()


def derived_seed(row: SheetRow) -> int:
    """The first seed of a row that leaves it blank: from its prompt, model and duration."""
    return int(_digest("seed", row.prompt, row.model, f"{row.duration:g}")[:15], 16) % _SEED_SPACE


def _slug(text: str, limit: int = 32) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "take"


def plan(rows: tp.Sequence[SheetRow]) -> list[WorkItem]:
    """Every take of every row, in sheet order; identical rows get distinct ids (``-2``, ``-3``...)."""
    items: list[WorkItem] = []
    seen: dict[str, int] = {}
    names: set[str] = set()
    for row in rows:
        first = row.seed if row.seed is not None else derived_seed(row)
        base = _digest(row.prompt, row.model, f"{row.duration:g}", first, row.explain or "")[:10]
        occurrence = seen[base] = seen.get(base, 0) + 1
        for i in range(row.count):
            seed = first + i
            item_id = f"{_slug(row.fxname or row.prompt)}-{base}-{i + 1:03d}"
            if occurrence > 1:
                item_id += f"-{occurrence}"
            opts = name = None
            if row.export is not None:
                fx = row.fxname or fx_name(row.prompt)
                if row.count > 1:
                    fx = f"{fx} {i + 1:02d}"
                opts = replace(row.export, fxname=fx)
                stem = safe_filename(f"{opts.catid}_{fx}_{opts.creator}_{opts.source}")
                name, k = stem + ".wav", 2
                while name.lower() in names:
                    name, k = f"{stem}_{k}.wav", k + 1
                names.add(name.lower())
            items.append(WorkItem(id=item_id, row=row.row, number=i + 1, prompt=row.prompt, model=row.model,
                                  duration=row.duration, seed=seed,
                                  explain=row.explain, export=opts, export_name=name))
    return items


__all__ = ["WorkItem", "plan", "derived_seed"]
