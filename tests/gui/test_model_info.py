"""Model → Info: a readable dialog (typed details from the engine) that fits 1366×768."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")


@pytest.fixture()
def settings(tmp_path: Path):  # noqa: ANN201
    from PySide6.QtCore import QSettings

    from faceedit.gui.settings import AppSettings

    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def _info_dialog(qtbot, settings, model: str | None):  # noqa: ANN001, ANN202
    from faceedit.gui.main_window import MainWindow
    from faceedit.gui.model_info import ModelInfoDialog

    window = MainWindow(model=model, device="cpu", synchronous=True, settings=settings)
    qtbot.addWidget(window)
    assert window._model is not None
    window.model_info()
    dialog = window._info_dialog
    assert isinstance(dialog, ModelInfoDialog) and dialog.isVisible()
    return window, dialog


def test_model_info_is_readable_without_build_machine_paths(qtbot, settings, built_model_path: Path) -> None:  # noqa: ANN001
    from faceedit.core.model_summary import ModelDetails

    window, dialog = _info_dialog(qtbot, settings, str(built_model_path))
    details = window._model.details
    assert isinstance(details, ModelDetails) and details.file_name == "built.pt" and details.steps == 1000
    summary = dialog.summary.text()
    assert "ExprGAN" in summary and "parameters" in summary and "Runs on" in summary
    assert "prepared in bundled128" in summary and "/work/b6" not in summary and "/home/builder" not in summary
    assert "Expression reached" in summary and "17.5 %" in summary and "0.21" in summary
    assert "test_labels" not in summary  # the raw metrics are behind "All metrics", closed
    assert dialog.card is not None and dialog.card.body.isVisible() and "test" in dialog.card.body.text()
    assert not dialog.metrics.body.isVisible() and "All metrics (86)" == dialog.metrics.toggle.text()
    dialog.metrics.toggle.click()
    assert dialog.metrics.body.isVisible() and "counts/test_labels/label79 = 79" in dialog.metrics.body.text()
    assert dialog.height() <= 768 - 40 and dialog.width() <= 1366  # the scroll area takes the rest
    window.close()


def test_the_bundled_models_info_fits_1366x768_with_its_model_card(qtbot, settings) -> None:  # noqa: ANN001
    window, dialog = _info_dialog(qtbot, settings, None)  # the bundled model, as the app opens it
    details = window._model.details
    assert details.model_card is not None and "Model card" in details.model_card
    assert "/work/" not in dialog.summary.text()
    assert [m.label for m in details.key_metrics][:2] == ["Expression reached", "Identity distance"]
    assert dialog.height() <= 768 - 40 and dialog.width() <= 1366
    window.close()
