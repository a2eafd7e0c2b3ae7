"""The main window's expression previews: one per expression, a click sets that slider to 1.0 (undoably)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.imageio import load_photo

pytest.importorskip("pytestqt")


@pytest.fixture()
def window(qtbot, tmp_path: Path, monkeypatch, tiny_model_path: Path, london_neutral: Path):  # noqa: ANN001, ANN201
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from faceedit.gui.main_window import MainWindow
    from faceedit.gui.settings import AppSettings

    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: pytest.fail(text))
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(model=str(tiny_model_path), photo=str(london_neutral), device="cpu", synchronous=True, settings=settings)
    qtbot.addWidget(window)
    return window


def test_clicking_a_preview_sets_its_slider_to_one_and_edits_the_photo(qtbot, window, london_neutral: Path) -> None:  # noqa: ANN001
    from PySide6.QtCore import Qt

    original = load_photo(london_neutral).pixels
    assert window.previews.shown
    icons = {window.previews.buttons[name].icon().pixmap(200, 200).size().height() for name in EXPRESSIONS}
    assert icons == {96}
    for k, name in enumerate(EXPRESSIONS):
        window.reset_all()
        before = {n: window.panel.sliders[n].value() for n in EXPRESSIONS}
        assert np.array_equal(window._current, original)
        qtbot.mouseClick(window.previews.buttons[name], Qt.MouseButton.LeftButton)
        assert window.panel.sliders[name].value() == 100, name
        assert window.state.states[0].values[k] == 1.0
        assert all(window.panel.sliders[n].value() == before[n] for n in EXPRESSIONS if n != name)
        assert not np.array_equal(window._current, original), f"{name} preview clicked, the photo did not change"
        window.state.undo_stack.undo()  # through the slider-state path: one undo step
        assert window.panel.sliders[name].value() == before[name]
        assert np.array_equal(window._current, original)
    window.close()


def test_previews_are_refreshed_for_a_new_face_not_a_slider_move(qtbot, window) -> None:  # noqa: ANN001
    requests: list[tuple[int, int]] = []
    original = window.worker.request_previews
    window.worker.request_previews = lambda stamp, face: (requests.append((stamp, face)), original(stamp, face))
    window.panel.sliders["happiness"].setValue(30)
    window.panel.sliders["happiness"].setValue(60)
    window.reset_all()  # nothing unsaved: closing asks nothing
    assert requests == []
    window.view.face_clicked.emit(0)
    assert len(requests) == 1 and requests[0][1] == 0
    assert window.previews.shown
    window.close()
