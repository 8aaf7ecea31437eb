"""Where the files shipped beside the code live: ``resources/`` (the bundled model, the app's icons).

One definition for the engine (:data:`agx_desktop.engine.bundled.BUNDLED_DIR`) and the app
(:func:`agx_desktop.ui.paths.resources_dir`). No imports beyond pathlib: the CLI and the app read
it at start-up.
"""
from __future__ import annotations

from pathlib import Path

RESOURCES_DIR: Path = Path(__file__).resolve().parents[2] / "resources"
