"""tools/screenshot.py: the README's screenshot comes from the real window, with the slider's edit in it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from faceedit.core.imageio import load_photo

TOOL = Path(__file__).resolve().parents[2] / "tools" / "screenshot.py"


def _tool():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("screenshot_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_screenshot_shows_the_window_with_the_slider_moved(tmp_path: Path) -> None:
    tool = _tool()
    still, smiling = tmp_path / "still.png", tmp_path / "smiling.png"
    assert tool.main(["-o", str(still), "--value", "0", "--size", "900x600"]) == 0
    assert tool.main(["-o", str(smiling), "--value", "1", "--size", "900x600"]) == 0
    a, b = load_photo(still).pixels.astype(int), load_photo(smiling).pixels.astype(int)
    assert a.shape == b.shape and a.shape[1] == 900  # the height may grow to the window's minimum
    changed = np.abs(a - b).max(axis=2) > 24
    # The photo (left of the panel) changes in the face; the window around it stays.
    assert changed[:, : 900 // 2].sum() > 200
    assert not changed[:5].any()  # the menu bar
