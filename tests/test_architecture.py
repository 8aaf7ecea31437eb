"""The engine is a plain library: it never imports Qt or the UI (checked statically and at run time)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "agx_desktop" / "engine"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "sounddevice", "agx_desktop.ui")


def test_engine_sources_import_no_gui_module():
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ENGINE)}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert not offenders, offenders


def test_importing_the_whole_engine_loads_no_gui_module():
    code = ("import sys, pkgutil, importlib, agx_desktop.engine as e\n"
            "for m in pkgutil.walk_packages(e.__path__, 'agx_desktop.engine.'):\n"
            "    importlib.import_module(m.name)\n"
            f"bad = [m for m in sys.modules if m.startswith({FORBIDDEN!r})]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
