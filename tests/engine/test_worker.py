"""The inference worker (engine, QtCore): newest-only rendering, and typed error reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceedit.core.expressions import ExpressionTargets
from faceedit.engine.worker import ErrorKind

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
    assert failure.args[0].kind is ErrorKind.MODEL
    assert "not a readable model file" in failure.args[0].message
    with qtbot.waitSignal(worker.failed) as failure:
        worker.open_photo(str(tmp_path / "missing.jpg"))
    assert failure.args[0].kind is ErrorKind.PHOTO
    assert "no such file" in failure.args[0].message
    assert str(failure.args[0]) == failure.args[0].message


def test_worker_reports_a_failed_live_frame_as_a_live_error(qtbot, tiny_model_path: Path) -> None:  # noqa: ANN001
    from faceedit.engine.worker import EditWorker, FrameRequest

    worker = EditWorker(synchronous=True)
    worker.load_model(str(tiny_model_path), "cpu")
    frame = np.zeros((120, 160, 3), np.uint8)
    with qtbot.waitSignal(worker.failed) as failure:
        worker.request_frame(FrameRequest(1, frame, (np.zeros((5, 2)),), ExpressionTargets()))  # 5 points, not 68
    error = failure.args[0]
    assert error.kind is ErrorKind.LIVE
    assert error.message.startswith("live edit failed: ValueError")  # the text the user sees
    with qtbot.waitSignal(worker.frame_rendered) as done:  # a frame without faces passes through
        worker.request_frame(FrameRequest(2, frame, (), ExpressionTargets()))
    assert done.args[0].stamp == 2 and np.array_equal(done.args[0].pixels, frame)
