"""Autosave: every take (and its explanation) is written to ``<data dir>/takes/<date>_<id>/``.

Uses the engine's atomic take folders. Listing after a restart skips unreadable folders and says
which, so one corrupt take never hides the others.
"""
from __future__ import annotations

import shutil
import typing as tp
from pathlib import Path

from agx_desktop.engine.errors import AgxError, NotATakeError
from agx_desktop.engine.takes import EXPLANATION, load_explanation, load_take, save_explanation, save_take

from .analysis import TakeItem, analyse
from .paths import takes_dir


class TakeStore:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else takes_dir()
        self.root.mkdir(parents=True, exist_ok=True)

    def folder_for(self, take: tp.Any) -> Path:
        stamp = "".join(c for c in str(take.created)[:19] if c.isdigit())
        return self.root / f"{stamp}_{take.id}"

    def save(self, item: TakeItem) -> Path:
        item.folder = save_take(item.take, item.folder or self.folder_for(item.take))
        if item.explanation is not None:
            save_explanation(item.explanation, item.folder)
        return item.folder

    def save_explanation(self, item: TakeItem) -> None:
        if item.folder is None:
            self.save(item)
        else:
            save_explanation(item.explanation, item.folder)

    def load_all(self, progress: tp.Callable[[str, int, int], None] | None = None) -> tuple[list[TakeItem], list[str]]:
        """Every readable take, oldest first, and one notice per folder that was skipped."""
        folders = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        items, notices = [], []
        for i, folder in enumerate(folders):
            if progress:
                progress("load takes", i, len(folders))
            try:
                take = load_take(folder)
            except (NotATakeError, OSError) as exc:
                notices.append(f"skipped {folder.name}: {exc}")
                continue
            explanation = None
            if (folder / EXPLANATION).is_file():
                try:
                    explanation = load_explanation(folder)
                except (AgxError, OSError, ValueError) as exc:
                    notices.append(f"{folder.name}: explanation not loaded ({exc})")
            items.append(analyse(take, explanation, folder))
        items.sort(key=lambda it: it.take.created)
        return items, notices

    def delete(self, item: TakeItem) -> None:
        if item.folder is not None:
            shutil.rmtree(item.folder, ignore_errors=True)
