"""Layering rules import-linter cannot express, and "no work at import time"."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
    return names


def test_engine_uses_qtcore_only() -> None:
    qt = {name for name in _imported_modules(ROOT / "faceedit" / "engine") if name.startswith("PySide6")}
    assert qt <= {"PySide6.QtCore"}, qt


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return set(result.stdout.split())


def test_cli_and_gui_entry_points_import_no_heavy_modules() -> None:
    loaded = _modules_after_import("faceedit.cli") | _modules_after_import("faceedit.launcher")
    assert not {"torch", "dlib", "PySide6"} & loaded
    gui = _modules_after_import("faceedit.gui.main_window")
    assert "torch" not in gui and "dlib" not in gui


def test_importing_core_loads_no_models() -> None:
    loaded = _modules_after_import("faceedit.core.faces")
    assert "dlib" not in loaded  # the detector is built on first use, not at import
