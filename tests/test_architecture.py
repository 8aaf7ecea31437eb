"""The engine is a plain library: it never imports Qt or the UI (checked statically and at run time);
the layer contract of pyproject.toml ``[tool.importlinter]`` (ui -> evaluation -> engine, no import
cycles inside the engine or evaluation) holds, and breaks when a forbidden import is added."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "agx_desktop" / "engine"
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


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the contracts of ``root``/pyproject.toml, on the agx_desktop under ``root``."""
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "pyproject.toml", "--no-cache", "--no-logo"], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_layer_contract_holds():
    """ui -> evaluation -> engine, no cycles (import-linter, a dev dependency: pip install -e '.[dev]')."""
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_layer_contract_breaks_on_a_forbidden_import(tmp_path):
    """The same contracts on a scratch copy of the package with an engine module importing the UI, the
    evaluation importing the UI, and an engine cycle (model_inputs -> generation -> model_inputs)."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "agx_desktop", tmp_path / "agx_desktop", ignore=shutil.ignore_patterns("__pycache__"))
    added = {"engine/take.py": "import agx_desktop.ui.app",
             "evaluation/tables.py": "from agx_desktop.ui import main_window",
             "engine/model_inputs.py": "from . import generation"}
    for rel, line in added.items():
        path = tmp_path / "agx_desktop" / rel
        path.write_text(path.read_text(encoding="utf-8") + f"\n\ndef _forbidden():\n    {line}\n", encoding="utf-8")
    out = _lint_imports(tmp_path)
    report = " ".join(out.stdout.split())  # rich wraps long lines
    assert out.returncode == 1, report[-4000:] + out.stderr[-2000:]
    assert "0 kept, 2 broken" in report, report[-4000:]
    for importer, imported in [("agx_desktop.engine.take", "agx_desktop.ui.app"),
                               ("agx_desktop.evaluation.tables", "agx_desktop.ui.main_window")]:
        assert f"{importer} -> {imported}" in report, report[-4000:]
    assert ".model_inputs -> .generation" in report or ".generation -> .model_inputs" in report, report[-4000:]
