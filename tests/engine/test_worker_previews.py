"""The worker's expression previews (pictures before words): six small images per face, newest request only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets
from faceedit.core.imageio import load_photo
from faceedit.core.previews import PREVIEW_HEIGHT, PreviewRegion, shrink
from faceedit.engine.worker import ErrorKind

pytest.importorskip("pytestqt")


def _ready_worker(qtbot, model: Path, photo: Path, synchronous: bool):  # noqa: ANN001, ANN202
    from faceedit.engine.worker import EditWorker

    worker = EditWorker(synchronous=synchronous)
    with qtbot.waitSignal(worker.model_ready, timeout=30_000):
        worker.load_model(str(model), "cpu")
    with qtbot.waitSignal(worker.photo_ready, timeout=30_000) as opened:
        worker.open_photo(str(photo))
    return worker, opened.args[0]


def test_previews_of_a_face_are_six_small_edited_crops(qtbot, tiny_model_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    worker, photo = _ready_worker(qtbot, tiny_model_path, london_neutral, synchronous=True)
    with qtbot.waitSignal(worker.previews_ready) as done:
        worker.request_previews(7, 0)
    previews = done.args[0]
    assert previews.stamp == 7 and previews.face_index == 0
    assert len(previews.images) == len(EXPRESSIONS)
    shapes = {image.shape for image in previews.images}
    assert len(shapes) == 1, shapes
    height, width, channels = shapes.pop()
    assert (height, channels) == (PREVIEW_HEIGHT, 3) and 0.5 * height <= width <= 2 * height
    assert all(image.dtype == np.uint8 for image in previews.images)
    # the crop around the face, edited: each differs from the unedited crop, and from the others
    unedited = shrink(PreviewRegion.around(photo.boxes[0], photo.pixels.shape).crop(load_photo(london_neutral).pixels))
    assert unedited.shape == previews.images[0].shape
    assert all(not np.array_equal(image, unedited) for image in previews.images)
    assert len({image.tobytes() for image in previews.images}) == len(EXPRESSIONS)
    # the region is centred on the face box
    x0, y0, x1, y1 = photo.boxes[0]
    region = PreviewRegion.around(photo.boxes[0], photo.pixels.shape)
    assert region.x0 <= x0 < x1 <= region.x1 and region.y0 <= y0 < y1 <= region.y1


def test_only_the_newest_preview_request_is_answered(qtbot, tiny_model_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    worker, _ = _ready_worker(qtbot, tiny_model_path, london_neutral, synchronous=False)
    try:
        results = []
        worker.previews_ready.connect(results.append)
        for stamp in range(1, 21):
            worker.request_previews(stamp, 0)
        qtbot.waitUntil(lambda: bool(results) and results[-1].stamp == 20, timeout=30_000)
        qtbot.wait(300)
        assert len(results) <= 2, f"{len(results)} answers to a burst of 20 requests: {[r.stamp for r in results]}"
        assert results[-1].stamp == 20
    finally:
        worker.stop()


def test_a_render_requested_after_previews_is_served_first(qtbot, tiny_model_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    worker, _ = _ready_worker(qtbot, tiny_model_path, london_neutral, synchronous=False)
    try:
        order: list[str] = []
        worker.rendered.connect(lambda result: order.append("render"))
        worker.previews_ready.connect(lambda previews: order.append("previews"))
        worker.request_previews(1, 0)
        worker.request_render(1, ExpressionTargets.from_mapping({"happiness": 1.0}))
        qtbot.waitUntil(lambda: len(order) == 2, timeout=30_000)
        assert order == ["render", "previews"]  # a slider drag never waits for the previews
    finally:
        worker.stop()


def test_a_failed_preview_is_a_preview_error(qtbot, monkeypatch, tiny_model_path: Path, london_neutral: Path) -> None:  # noqa: ANN001
    import faceedit.core.previews

    worker, _ = _ready_worker(qtbot, tiny_model_path, london_neutral, synchronous=True)

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("no memory left")

    monkeypatch.setattr(faceedit.core.previews, "render_preview", broken)
    with qtbot.waitSignal(worker.failed) as failure:
        worker.request_previews(1, 0)
    assert failure.args[0].kind is ErrorKind.PREVIEW
    assert failure.args[0].message == "previews failed: RuntimeError: no memory left"
    with qtbot.assertNotEmitted(worker.previews_ready), qtbot.assertNotEmitted(worker.failed):
        worker.request_previews(2, 5)  # no such face (the photo changed): nothing to answer
