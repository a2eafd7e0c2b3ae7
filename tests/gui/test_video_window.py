"""The video window: open a generated clip, scrub, set keyframes with the sliders, export, cancel."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from faceedit.core.video import probe_video
from video_clips import decode_audio, make_clip

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "face.mp4", frames=24).path


@pytest.fixture
def window(qtbot, tiny_model_path: Path, clip: Path):  # noqa: ANN001, ANN201
    from faceedit.gui.video_window import VideoWindow

    window = VideoWindow(None, str(tiny_model_path), "cpu", "fp32")
    qtbot.addWidget(window)
    window.show()
    window.open_path(clip)
    qtbot.waitUntil(lambda: window.last_preview is not None, timeout=30000)
    yield window
    window.runner.stop()


def test_opens_a_video_and_previews_its_first_frame(window) -> None:  # noqa: ANN001
    assert window.info.frames == 24 and window.time_slider.isEnabled()
    preview = window.last_preview
    assert preview is not None and preview.index == 0 and preview.faces == 1
    np.testing.assert_array_equal(preview.edited, preview.original)  # no slider set yet
    assert "0:00.00 / 0:02.00" == window.time_label.text()


def test_a_slider_sets_a_keyframe_at_the_current_time_and_the_preview_shows_it(qtbot, window) -> None:  # noqa: ANN001
    window.time_slider.setValue(1000)  # 1 s
    window.sliders["happiness"].setValue(100)
    qtbot.waitUntil(lambda: window.last_preview.stamp == window._stamp, timeout=30000)
    assert window.timeline.keyframes[0].expression == "happiness"
    assert window.timeline.keyframes[0].time == pytest.approx(1.0)
    assert window.last_preview.index == 12
    assert not np.array_equal(window.last_preview.edited, window.last_preview.original)
    assert window.value_labels["happiness"].text() == "1.00" and "1.00 at 0:01.00" in window.keyframes_label.text()
    # A second keyframe at 0 s: scrubbing between them shows the interpolated value.
    window.time_slider.setValue(0)
    window.sliders["happiness"].setValue(0)
    window.time_slider.setValue(500)
    assert window.sliders["happiness"].value() == 50 and len(window.timeline.keyframes) == 2
    window.clear_keyframes()
    assert window.timeline.keyframes == () and window.value_labels["happiness"].text() == "—"


def test_export_runs_off_the_gui_thread_with_progress_and_writes_the_video(qtbot, window, tmp_path: Path, clip: Path) -> None:  # noqa: ANN001
    window.sliders["happiness"].setValue(100)
    threads: set[int] = set()
    window.runner.export_progress.connect(lambda _: threads.add(threading.get_ident()), type=_direct())
    out = tmp_path / "edited.mp4"
    window.export_to(out)
    assert window._progress is not None and window._progress.isVisible()
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=60000)
    assert threads and threading.get_ident() not in threads  # progress came from the runner's thread
    assert window._progress is None and window.last_result.frames == 24
    assert "wrote" in window.status.text()
    assert probe_video(out).frames == 24
    np.testing.assert_array_equal(decode_audio(out), decode_audio(clip))


def test_cancel_leaves_no_output(qtbot, window, tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    window.sliders["happiness"].setValue(100)
    out = tmp_path / "cancelled.mp4"
    window.export_to(out)
    qtbot.waitUntil(lambda: window._progress is not None and window._progress.value() >= 3, timeout=30000)
    qtbot.mouseClick(window._progress.findChild(QPushButton), Qt.MouseButton.LeftButton)  # the Cancel button
    qtbot.waitUntil(lambda: window._progress is None, timeout=60000)
    assert "cancelled" in window.status.text() and window.last_result is None
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_video_says_so(qtbot, tiny_model_path: Path, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    from faceedit.gui.video_window import VideoWindow

    monkeypatch.setattr(QMessageBox, "open", lambda self: None)
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    window = VideoWindow(None, str(tiny_model_path), "cpu", "fp32")
    qtbot.addWidget(window)
    window.open_path(bad)
    qtbot.waitUntil(lambda: window.last_error is not None, timeout=30000)
    assert "not a video" in window.status.text() and not window.export_button.isEnabled()
    window.runner.stop()


def _direct():  # noqa: ANN202
    from PySide6.QtCore import Qt

    return Qt.ConnectionType.DirectConnection


def test_file_menu_opens_a_video_window(qtbot, tiny_model_path: Path, clip: Path, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QFileDialog

    from faceedit.gui.main_window import MainWindow
    from faceedit.gui.settings import AppSettings

    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(model=str(tiny_model_path), device="cpu", synchronous=True, settings=settings)
    qtbot.addWidget(window)
    action = next(a for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Open &Video…")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(clip), ""))
    action.trigger()
    video = window.video_window
    qtbot.waitUntil(lambda: video.last_preview is not None, timeout=30000)
    assert video.info.path == clip and video.isVisible()
    assert settings.folder("video") == str(clip.parent)
    # Not closed: the main window's teardown takes it along, and must end its runner's thread first.
