"""The bundled model: a small AudioGen-style model shipped in ``resources/bundled`` (see its model card)."""
from __future__ import annotations

import pathlib

from ..resources import RESOURCES_DIR

BUNDLED_DIR: pathlib.Path = RESOURCES_DIR / "bundled"
"""Where the shipped files live (the loader's default folder; tests point ``loader.BUNDLED_DIR`` elsewhere)."""
