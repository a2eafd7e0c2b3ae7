"""The inference worker and the main window, offscreen, with a tiny random model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceedit.core.expressions import ExpressionTargets
from faceedit.core.imageio import load_photo

pytest.importorskip("pytestqt")


def test_worker_renders_only_the_newest_of_a_burst(qtbot, tiny_model_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    from faceedit.engine.worker import EditWorker

    worker = EditWorker()
    try:
        with qtbot.waitSignal(worker.model_ready, timeout=30_000):
            worker.load_model(str(tiny_model_path), "cpu")
        with qtbot.waitSignal(worker.photo_ready, timeout=30_000) as opened:
            worker.open_photo(str(london_neutral))
        assert len(opened.args[0].recognised) == 1
        results = []
        worker.rendered.connect(results.append)
        for stamp in range(1, 51):
            worker.request_render(stamp, ExpressionTargets.from_mapping({"happiness": stamp / 50}))
        qtbot.waitUntil(lambda: bool(results) and results[-1].stamp == 50, timeout=30_000)
        qtbot.wait(200)
        assert len(results) < 10, f"{len(results)} renders for a burst of 50"
        assert [r.stamp for r in results] == sorted(r.stamp for r in results)
    finally:
        worker.stop()


def test_worker_reports_bad_files_as_messages(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    from faceedit.engine.worker import EditWorker

    worker = EditWorker(synchronous=True)
    bad_model = tmp_path / "bad.pt"
    bad_model.write_text("nope")
    with qtbot.waitSignal(worker.failed) as failure:
        worker.load_model(str(bad_model), "cpu")
    assert "not a readable model file" in failure.args[0]
    with qtbot.waitSignal(worker.failed) as failure:
        worker.open_photo(str(tmp_path / "missing.jpg"))
    assert "no such file" in failure.args[0]


def test_window_slider_changes_the_face_and_reset_restores(qtbot, monkeypatch, tiny_model_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    from faceedit.gui.main_window import MainWindow

    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    window = MainWindow(model=str(tiny_model_path), device="cpu", photo=str(london_neutral), synchronous=True)
    qtbot.addWidget(window)
    original = load_photo(london_neutral).pixels
    assert window._current is not None and np.array_equal(window._current, original)
    assert window.sliders["happiness"].isEnabled()
    window.sliders["happiness"].setValue(100 if window.sliders["happiness"].value() < 50 else 0)
    assert not np.array_equal(window._current, original)
    assert window.view.pixmap() is not None and not window.view.pixmap().isNull()
    window.reset_all()
    assert np.array_equal(window._current, original)
    window.close()


def test_window_without_a_model_still_opens_photos(qtbot, monkeypatch, tmp_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    from faceedit.gui.main_window import MainWindow

    messages = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: messages.append(text))
    monkeypatch.setenv("FACEEDIT_MODEL", str(tmp_path / "missing.pt"))
    window = MainWindow(device="cpu", photo=str(london_neutral), synchronous=True)
    qtbot.addWidget(window)
    assert any("does not exist" in m for m in messages)
    assert window._current is not None
    assert not window.sliders["happiness"].isEnabled()
    window.close()
