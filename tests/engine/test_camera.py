"""The camera source and the video recorder (engine, QtCore), with the fake camera video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import BACK, GONE, MOVING, STILL, VIDEO_FPS

pytest.importorskip("pytestqt")


def collect(qtbot, source, start) -> tuple[list, list[str]]:  # noqa: ANN001
    """The frames and failure messages of one run of ``source``, until it stops."""
    frames, messages = [], []
    source.frame_ready.connect(frames.append)
    source.failed.connect(messages.append)
    with qtbot.waitSignal(source.stopped, timeout=30_000):
        start()
    return frames, messages


def test_camera_source_plays_a_video_file_with_landmarks(qtbot, video: Path) -> None:  # noqa: ANN001
    from faceedit.engine.camera import CameraSource

    source = CameraSource()
    opened = []
    source.opened.connect(opened.append)
    frames, messages = collect(qtbot, source, lambda: source.start(str(video), loop=False, realtime=False))
    assert not messages
    assert opened and (opened[0].width, opened[0].height, opened[0].is_file) == (640, 480, True)
    assert [f.index for f in frames] == list(range(42))  # realtime=False: every frame, in order
    assert all(f.pixels.shape == (480, 640, 3) and f.pixels.dtype == np.uint8 for f in frames)
    assert all(len(frames[i].landmarks) == 1 and frames[i].landmarks[0].shape == (68, 2) for i in (*STILL, *MOVING, *BACK))
    assert not frames[GONE[-1]].landmarks
    # RGB, not OpenCV's BGR: the background was written with red (BGR's third) at 150, blue ~100.
    corner = frames[0].pixels[5:20, 5:20].reshape(-1, 3).mean(axis=0)
    assert abs(corner[0] - 150) < 6 and abs(corner[2] - 100) < 6


def test_camera_source_loops_a_file_in_real_time_and_stops(qtbot, video: Path) -> None:  # noqa: ANN001
    from faceedit.engine.camera import CameraSource

    source = CameraSource()
    frames = []
    source.frame_ready.connect(frames.append)
    source.start(str(video))  # a fake camera: plays at 30 fps and loops
    qtbot.waitUntil(lambda: bool(frames) and frames[-1].index >= 45, timeout=20_000)
    assert frames[-1].timestamp > 42 / VIDEO_FPS  # the clock runs on across the loop
    with qtbot.waitSignal(source.stopped, timeout=5_000):
        source.stop()
    assert not source.is_running


def test_missing_camera_and_bad_files_give_messages(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    from faceedit.engine.camera import CameraSource, available_cameras

    assert isinstance(available_cameras(), list)
    source = CameraSource()
    _, messages = collect(qtbot, source, lambda: source.start(99))
    assert messages and messages[0].startswith("cannot open camera 99")
    _, messages = collect(qtbot, source, lambda: source.start(str(tmp_path / "missing.avi")))
    assert messages == [f"cannot open video {tmp_path / 'missing.avi'}: no such file"]
    text = tmp_path / "notes.avi"
    text.write_text("not a video")
    _, messages = collect(qtbot, source, lambda: source.start(str(text)))
    assert messages and "notes.avi" in messages[0]


def test_video_recorder_writes_a_readable_mp4(tmp_path: Path) -> None:
    from faceedit.core.errors import OutputError
    from faceedit.engine.camera import VideoRecorder

    recorder = VideoRecorder(tmp_path / "clip.mp4", (160, 120), fps=10)
    for i in range(10):  # 1 s of frames at an uneven 10–20 fps
        recorder.write(np.full((120, 160, 3), i * 20, np.uint8), now=i * 0.1 + (0.05 if i % 2 else 0))
    path = recorder.close()
    assert path == tmp_path / "clip.mp4" and not list(tmp_path.glob(".*"))
    assert 9 <= int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT)) <= 11
    with pytest.raises(OutputError, match="already exists"):
        VideoRecorder(path, (160, 120))
