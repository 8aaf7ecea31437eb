"""The bundled model: a small AudioGen-style model shipped in ``resources/bundled`` (see its model card)."""
from __future__ import annotations

import pathlib

BUNDLED_DIR: pathlib.Path = pathlib.Path(__file__).resolve().parents[3] / "resources" / "bundled"
"""Where the shipped files live (the loader's default folder; tests point ``loader.BUNDLED_DIR`` elsewhere)."""
