"""The webcam panel, with the fake camera video of tests/conftest.py (offscreen Qt).

The tracker's tests are in tests/core/test_tracking.py, the camera source's and the
recorder's in tests/engine/test_camera.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import BACK
from faceedit.core.expressions import ExpressionTargets

pytest.importorskip("pytestqt")


@pytest.fixture
def panel(qtbot, tiny_model_path: Path, tmp_path: Path):  # noqa: ANN001, ANN201
    import torch

    from faceedit.engine.worker import EditWorker
    from faceedit.gui.webcam import WebcamPanel

    # One torch thread: the capture thread tracks on the other core. With two, torch's
    # threads fight the tracker (and any other load) and a frame takes ~8× longer.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    worker = EditWorker(synchronous=True)
    worker.load_model(str(tiny_model_path), "cpu")
    assert worker.has_model
    targets = {"now": ExpressionTargets()}
    panel = WebcamPanel(worker, lambda: targets["now"], snapshot_folder=tmp_path / "shots", cameras=lambda: [])
    qtbot.addWidget(panel)
    panel.targets = targets  # the test's slider state
    yield panel
    panel.shutdown()
    torch.set_num_threads(threads)


def run_video(qtbot, panel, video: Path) -> None:  # noqa: ANN001
    with qtbot.waitSignal(panel.camera.stopped, timeout=30_000):
        panel.start(str(video), loop=False, realtime=False)


def test_panel_shows_live_edits_and_snapshots(qtbot, panel, video: Path) -> None:  # noqa: ANN001
    from faceedit.core.imageio import load_photo

    assert "No camera found" in panel.source_combo.itemText(0)
    assert "No camera found" in panel.message_label.text()

    run_video(qtbot, panel, video)  # no target set: every expression keeps its recognised value
    assert panel.current is not None and panel.current_source is not None
    assert np.array_equal(panel.current, panel.current_source.pixels)

    panel.targets["now"] = ExpressionTargets.from_mapping({"happiness": 1.0, "surprise": 0.0})
    run_video(qtbot, panel, video)
    assert panel.current_source.index == BACK[-1]  # the last frame, with a face
    assert not np.array_equal(panel.current, panel.current_source.pixels)
    assert "fps" in panel.fps_label.text() or panel.fps_label.text() == ""  # cleared on stop
    assert panel.last_result is not None and len(panel.last_result.recognised) == 1

    first, second = panel.snapshot(), panel.snapshot()
    assert first is not None and second is not None and first != second
    assert np.array_equal(load_photo(first).pixels.shape, panel.current.shape)
    assert sorted(p.name for p in panel.snapshot_folder.iterdir()) == sorted([first.name, second.name])


def test_panel_reports_a_missing_camera_without_crashing(qtbot, panel) -> None:  # noqa: ANN001
    with qtbot.waitSignal(panel.camera.stopped, timeout=10_000):
        panel.start(99)
    assert panel.message_label.text().startswith("cannot open camera 99")
    assert panel.start_button.text() == "Start"
    assert panel.snapshot() is None  # nothing shown yet: a message, not a crash
    assert "Nothing to save" in panel.message_label.text()


def test_panel_records_the_edited_frames(qtbot, panel, video: Path) -> None:  # noqa: ANN001
    panel.start(str(video))  # real time, looping
    qtbot.waitUntil(lambda: panel.current is not None, timeout=20_000)
    path = panel.start_recording()
    assert path is not None and path.suffix == ".mp4"
    qtbot.wait(600)
    assert panel.stop_recording() == path and path.exists()
    assert int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT)) >= 5
    panel.stop()
