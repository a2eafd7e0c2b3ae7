"""Tools → Find Similar Expressions…: the dialog with a synchronous runner and a tiny random model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file

pytest.importorskip("pytestqt")


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for kind, n in (("neutral", "001"), ("smiling", "001"), ("smiling", "002")):
        shutil.copy(shared_file(f"london/{kind}/{n}.jpg"), folder / f"{n}-{kind}.jpg")
    (folder / "broken.jpg").write_bytes(b"nope")
    return folder


def _dialog(qtbot, model: Path, photos: Path, query: tuple[float, ...] = (0, 0, 0, 1, 0, 0)):  # noqa: ANN001, ANN202
    from faceedit.engine.search_runner import SearchRunner
    from faceedit.gui.search_dialog import SearchDialog

    opened: list[str] = []
    runner = SearchRunner(str(model), "cpu", synchronous=True, precision="fp32")
    pixels = np.full((300, 300, 3), 120, np.uint8)
    dialog = SearchDialog(None, str(model), "cpu", "fp32", query, pixels, (100, 100, 200, 200), "query.jpg",
                          photos / "001-smiling.jpg", 0, str(photos), open_photo=opened.append, runner=runner)
    qtbot.addWidget(dialog)
    return dialog, opened


def test_search_fills_ranked_thumbnails_and_opens_a_double_clicked_photo(qtbot, tiny_model_path: Path, photos: Path) -> None:  # noqa: ANN001
    dialog, opened = _dialog(qtbot, tiny_model_path, photos)
    dialog.top_spin.setValue(0)  # all
    dialog.search()  # synchronous runner: done when it returns
    result = dialog.result
    assert result is not None and not result.cancelled
    names = [dialog.results.item(i).text() for i in range(dialog.results.count())]
    assert len(names) == 2  # the query photo's own face is left out
    assert names[0].startswith("#1 ") and names[1].startswith("#2 ")
    assert {n.split("\n")[1] for n in names} == {"001-neutral.jpg", "002-smiling.jpg"}
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(t.shape == (128, 128, 3) and t.dtype == np.uint8 for t in result.thumbnails)
    assert "1 unreadable skipped" in dialog.status_label.text() and "broken.jpg" in dialog.status_label.toolTip()
    assert dialog.search_button.isEnabled() and not dialog.stop_button.isEnabled()
    dialog._open_item(dialog.results.item(0))
    assert opened == [str(result.hits[0].path)]

    dialog.search()  # again: everything from the cache
    assert dialog.result is not None and dialog.result.read == 0 and dialog.result.reused == 4
    dialog.runner.stop()


def test_a_folder_that_is_not_one_says_so_without_searching(qtbot, tiny_model_path: Path, photos: Path) -> None:  # noqa: ANN001
    dialog, _ = _dialog(qtbot, tiny_model_path, photos)
    dialog.folder_edit.setText(str(photos / "missing"))
    dialog.search()
    assert dialog.result is None and "not a folder" in dialog.status_label.text()
    dialog.runner.stop()


def test_runner_failure_is_shown(qtbot, tmp_path: Path, photos: Path) -> None:  # noqa: ANN001
    bad_model = tmp_path / "bad.pt"
    bad_model.write_bytes(b"not a model")
    dialog, _ = _dialog(qtbot, bad_model, photos)
    dialog.search()
    assert dialog.result is None and dialog.status_label.text().startswith("Search failed:")
    assert dialog.search_button.isEnabled()
    dialog.runner.stop()
