"""The main window, offscreen, with a tiny random model (the worker's own tests: tests/engine/test_worker.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from faceedit.core.imageio import load_photo

pytest.importorskip("pytestqt")


@pytest.fixture()
def settings(tmp_path: Path):  # noqa: ANN201
    """Settings in a temporary INI file: tests never read or write the user's own."""
    from PySide6.QtCore import QSettings

    from faceedit.gui.settings import AppSettings

    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture()
def no_dialogs(monkeypatch):  # noqa: ANN001, ANN201
    """Message boxes record their text instead of blocking."""
    from PySide6.QtWidgets import QMessageBox

    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: messages.append(text))
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: messages.append(text))
    return messages


def _window(qtbot, settings, **kwargs):  # noqa: ANN001, ANN202
    from faceedit.gui.main_window import MainWindow

    window = MainWindow(device="cpu", synchronous=True, settings=settings, **kwargs)
    window.ask_about_unsaved_edits = lambda: "discard"  # never a modal question in tests (one test asks itself)
    qtbot.addWidget(window)
    return window


def test_window_slider_changes_the_face_and_reset_restores(qtbot, settings, no_dialogs, tiny_model_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    window = _window(qtbot, settings, model=str(tiny_model_path), photo=str(london_neutral))
    original = load_photo(london_neutral).pixels
    assert np.array_equal(window._current, original)
    slider = window.panel.sliders["happiness"]
    assert slider.isEnabled()
    slider.setValue(100 if slider.value() < 50 else 0)
    assert not np.array_equal(window._current, original)
    assert "render" in window.render_label.text()
    window.reset_all()
    assert np.array_equal(window._current, original)
    # undo brings the edit back, redo the reset
    window.state.undo_stack.undo()
    assert not np.array_equal(window._current, original)
    window.state.undo_stack.redo()
    assert np.array_equal(window._current, original)
    # per-slider reset returns that expression to the photo's own intensity
    slider.setValue(100 if slider.value() < 50 else 0)
    window.panel.reset.emit("happiness")
    assert np.array_equal(window._current, original)
    assert not no_dialogs
    window.close()


def test_face_is_neutral_starts_the_sliders_at_zero_and_undoes(qtbot, settings, no_dialogs, tiny_model_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    window = _window(qtbot, settings, model=str(tiny_model_path), photo=str(london_neutral))
    original = load_photo(london_neutral).pixels
    read = window._photo.recognised[0]
    assert any(v > 0.01 for v in read)  # the tiny model reads some expression into it
    window.neutral_action.trigger()  # Edit → Face Is Neutral
    assert window.neutral_action.isChecked() and window._photo.recognised[0] == (0.0,) * 6
    assert "taken as neutral" in window.face_label.text()
    assert all(window.panel.sliders[name].value() == 0 for name in window.panel.sliders)
    assert np.array_equal(window._current, original)  # at its new start the face is unchanged
    window.panel.sliders["happiness"].setValue(100)
    from_neutral = window._current.copy()
    assert not np.array_equal(from_neutral, original)
    window.neutral_action.trigger()  # back to the model's reading: the same slider state, rendered from there
    assert not window.neutral_action.isChecked() and window._photo.recognised[0] == read
    assert not np.array_equal(window._current, from_neutral)
    window.state.undo_stack.undo()  # undo "face as recognised": neutral again, the smile from neutral back
    assert window.neutral_action.isChecked() and window._photo.recognised[0] == (0.0,) * 6
    assert np.array_equal(window._current, from_neutral)
    window.state.undo_stack.undo()  # the slider move
    window.state.undo_stack.undo()  # "face is neutral"
    assert not window.neutral_action.isChecked() and window._photo.recognised[0] == read
    assert np.array_equal(window._current, original)
    assert not no_dialogs
    window.close()


def test_faces_are_selected_and_edited_one_at_a_time_or_all(qtbot, settings, no_dialogs, tiny_model_path: Path, tmp_path: Path) -> None:  # noqa: ANN001
    left, right = (load_photo(shared_file(f"london/neutral/{n}.jpg")).pixels for n in ("001", "002"))
    group = tmp_path / "two.png"
    from faceedit.core.imageio import save_photo

    save_photo(group, np.hstack([left, right]))
    window = _window(qtbot, settings, model=str(tiny_model_path), photo=str(group))
    original = load_photo(group).pixels
    assert len(window._photo.boxes) == 2
    boxes = sorted(window._photo.boxes)  # left face first
    right_index = window._photo.boxes.index(boxes[1])
    window.view.select(right_index)
    window.view.face_clicked.emit(right_index)
    window.panel.sliders["surprise"].setValue(100)
    changed = np.any(window._current != original, axis=2)
    assert changed[:, 512:].any() and not changed[:, :512].any()  # only the right face
    window.edit_all.setChecked(True)
    window.panel.sliders["anger"].setValue(100)
    changed = np.any(window._current != original, axis=2)
    assert changed[:, :512].any() and changed[:, 512:].any()
    window.close()


def test_compare_save_and_transfer(qtbot, settings, no_dialogs, monkeypatch, tiny_model_path: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    source = tmp_path / "face.jpg"
    source.write_bytes(shared_file("london/neutral/001.jpg").read_bytes())
    window = _window(qtbot, settings, model=str(tiny_model_path), photo=str(source))
    original = load_photo(source).pixels
    window.panel.sliders["happiness"].setValue(100 if window.panel.sliders["happiness"].value() < 50 else 0)
    edited = window._current.copy()
    # hold to see the original; split view: original on the left of the line
    window.view.show_original(True)
    assert np.array_equal(window.view.displayed(), original)
    window.view.show_original(False)
    window.view.set_split(0.5)
    shown = window.view.displayed()
    assert np.array_equal(shown[:, :256], original[:, :256]) and np.array_equal(shown[:, 256:], edited[:, 256:])
    window.view.set_split(None)
    # save at full resolution; the original is only replaced after a yes
    out = tmp_path / "out.png"
    assert window.save_to(str(out)) and np.array_equal(load_photo(out).pixels, edited)
    before = source.read_bytes()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    assert not window.save_to(str(source))
    assert source.read_bytes() == before
    # transfer: the face takes exactly the reference's recognised expression
    window.worker.recognise_reference(str(shared_file("london/smiling/002.jpg")))
    state = window.state.states[0]
    assert all(v is not None for v in state.values)
    window.close()


def test_window_without_a_model_still_opens_photos(qtbot, settings, no_dialogs, monkeypatch, tmp_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv("FACEEDIT_MODEL", str(tmp_path / "missing.pt"))
    window = _window(qtbot, settings, photo=str(london_neutral))
    assert "does not exist" in window.statusBar().currentMessage() or any("does not exist" in m for m in no_dialogs)
    assert window._current is not None
    assert not window.panel.sliders["happiness"].isEnabled()
    assert "No model is loaded" in window.face_label.text()
    assert "1 face(s) found; load a model" in window.statusBar().currentMessage()
    window.open_photo(str(tmp_path / "nope.jpg"))
    assert any("no such file" in m for m in no_dialogs)
    window.close()


def test_paste_from_clipboard_and_recent_files(qtbot, settings, no_dialogs, tiny_model_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    from PySide6.QtGui import QGuiApplication

    from faceedit.gui.photo_view import to_qimage

    window = _window(qtbot, settings, model=str(tiny_model_path), photo=str(london_neutral))
    assert settings.recent == [str(london_neutral)]
    QGuiApplication.clipboard().setImage(to_qimage(load_photo(london_neutral).pixels))
    window.paste_photo()
    assert window._photo.name == "pasted image" and len(window._photo.recognised) == 1
    window.close()


def test_worker_errors_show_once_per_live_message(qtbot, settings, no_dialogs, london_neutral: Path) -> None:  # noqa: ANN001
    from faceedit.engine.worker import ErrorKind, WorkerError

    window = _window(qtbot, settings, photo=str(london_neutral))
    no_dialogs.clear()
    live = WorkerError(ErrorKind.LIVE, "frame trouble")  # told apart by its kind, not its text
    for _ in range(3):
        window.worker.failed.emit(live)
    assert no_dialogs == ["frame trouble"]  # one box for a run of identical live errors
    assert window.statusBar().currentMessage() == "frame trouble"
    window.worker.failed.emit(WorkerError(ErrorKind.LIVE, "other trouble"))
    for _ in range(2):
        window.worker.failed.emit(WorkerError(ErrorKind.RENDER, "render failed: X"))
    assert no_dialogs == ["frame trouble", "other trouble", "render failed: X", "render failed: X"]
    window.close()


def test_precision_menu_reloads_the_model_and_is_remembered(qtbot, settings, no_dialogs, tiny_model_path: Path) -> None:  # noqa: ANN001
    window = _window(qtbot, settings, model=str(tiny_model_path))
    assert window._model is not None and window._model.device.endswith(", fp32")  # conftest: FACEEDIT_PRECISION=fp32
    labels = [a.text() for a in window.model_menu.actions() if a.menu() and "Precision" in a.text()]
    assert labels, "Model → Precision"
    window.set_precision("bf16")
    assert window._model.device.endswith(", bf16") and "bfloat16 (asked for)" in window._model.details.runs_on
    assert settings.precision == "bf16"
    window.close()


def test_a_long_status_message_is_elided_before_the_labels_with_the_whole_text_in_the_tooltip(qtbot, settings, no_dialogs) -> None:  # noqa: ANN001
    window = _window(qtbot, settings)
    window.resize(900, 600)
    window.show()
    qtbot.waitExposed(window)
    message = "cannot read " + "/very/long/path" * 30 + "/photo.jpg: the file is damaged"
    window.statusBar().showMessage(message)
    shown = window.statusBar().currentMessage()
    assert shown.endswith("…") and len(shown) < len(message)
    assert window.statusBar().toolTip() == message
    window.statusBar().showMessage("Saved x.jpg")
    assert window.statusBar().currentMessage() == "Saved x.jpg" and window.statusBar().toolTip() == ""
    window.close()


def test_unsaved_edits_are_asked_about_before_they_are_lost(qtbot, settings, no_dialogs, monkeypatch, tiny_model_path: Path, london_neutral: Path, tmp_path: Path) -> None:  # noqa: ANN001
    """Opening another photo or closing with moved sliders asks Save / Discard / Cancel, as photo editors do."""
    window = _window(qtbot, settings, model=str(tiny_model_path), photo=str(london_neutral))
    answers: list[str] = []
    window.ask_about_unsaved_edits = lambda: answers.pop(0)
    assert not window.state.has_unsaved_edits
    slider = window.panel.sliders["happiness"]
    slider.setValue(100 if slider.value() < 50 else 0)
    assert window.state.has_unsaved_edits
    edited = window._current.copy()
    answers.append("cancel")
    window.open_photo(str(london_neutral))  # cancelled: the edit stays
    assert np.array_equal(window._current, edited) and not answers
    answers.append("cancel")
    assert not window.close() and not answers  # closing cancelled too
    out = tmp_path / "saved.png"
    monkeypatch.setattr("faceedit.gui.main_window.QFileDialog.getSaveFileName", lambda *a, **k: (str(out), ""))
    answers.append("save")
    assert window.close() and out.exists() and not answers  # saved, then closed


def test_presets_menu_neutral_button_and_saving_a_preset(qtbot, settings, no_dialogs, monkeypatch, tiny_model_path: Path, london_neutral: Path, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv("FACEEDIT_PRESETS_DIR", str(tmp_path / "presets"))
    window = _window(qtbot, settings, model=str(tiny_model_path), photo=str(london_neutral))
    original = window._current.copy()
    names = [a.text() for a in window.presets_menu.actions() if a.text()]
    assert names[:4] == ["neutral", "slight smile", "big smile", "surprised"] and names[-1] == "&Save Current as Preset…"
    next(a for a in window.presets_menu.actions() if a.text() == "big smile").trigger()
    assert window.state.states[0].as_dict()["happiness"] == 1.0 and not np.array_equal(window._current, original)
    window.state.undo_stack.undo()  # one undo step
    assert np.array_equal(window._current, original)
    from PySide6.QtWidgets import QInputDialog, QPushButton

    next(b for b in window.findChildren(QPushButton) if b.text() == "Neutral").click()
    assert window.state.states[0].values == (0.0,) * 6
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("my calm", True))
    window.save_preset_dialog()
    assert (tmp_path / "presets" / "my calm.json").exists()
    window._fill_presets()
    assert "my calm" in [a.text() for a in window.presets_menu.actions()]
    window.close()
