"""BatchRunner: a folder export off the GUI thread, with progress, cancel and a summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from faceedit.core.expressions import ExpressionTargets
from faceedit.core.imageio import save_photo
from faceedit.engine.batch_runner import BatchRequest, BatchRunner, estimate_eta, summary_text

pytest.importorskip("pytestqt")

SMILE = ExpressionTargets.from_mapping({"happiness": 1.0})


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """Two faces, a file that is no image and a photo without a face (sorted: a, b, c, d)."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(shared_file("london/neutral/001.jpg"), folder / "a-face.jpg")
    (folder / "b-broken.jpg").write_bytes(b"not an image")
    save_photo(folder / "c-blank.png", np.full((120, 120, 3), 128, np.uint8))
    shutil.copy(shared_file("london/neutral/002.jpg"), folder / "d-face.jpg")
    return folder


@pytest.fixture()
def runner(tiny_model_path: Path):  # noqa: ANN201
    """A synchronous runner (the batch runs inside ``start``), with its signals recorded."""
    batch = BatchRunner(str(tiny_model_path), "cpu", synchronous=True)
    batch.seen = {"status": [], "progress": [], "finished": [], "failed": []}
    batch.status.connect(batch.seen["status"].append)
    batch.progress.connect(lambda *args: batch.seen["progress"].append(args))
    batch.finished.connect(batch.seen["finished"].append)
    batch.failed.connect(batch.seen["failed"].append)
    yield batch
    batch.stop()


def test_a_batch_exports_the_good_photos_and_reports_the_bad(runner, photos: Path, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    runner.start(BatchRequest(photos, out, SMILE, output_suffix=".png"))
    assert not runner.running
    assert runner.seen["status"] == ["Loading the model…", "Finding photos…"]
    progress = runner.seen["progress"]
    assert [(done, total, Path(path).name) for done, total, path, _ in progress] == [
        (1, 4, "a-face.jpg"), (2, 4, "b-broken.jpg"), (3, 4, "c-blank.png"), (4, 4, "d-face.jpg"),
    ]
    assert all(eta >= 0 for *_, eta in progress) and progress[-1][3] == 0.0
    assert not runner.seen["failed"]
    [summary] = runner.seen["finished"]
    assert (summary.total, summary.processed, summary.no_face, summary.failed, summary.cancelled) == (4, 2, 1, 1, False)
    assert sorted(p.name for p in out.iterdir()) == ["a-face.png", "d-face.png", "outputs.csv"]
    assert [path.name for path, _ in summary.problems] == ["b-broken.jpg", "c-blank.png"]
    text = summary_text(summary)
    assert "2 processed" in text and "b-broken.jpg:" in text and "c-blank.png:" in text

    # A second run resumes: the model is loaded once per runner and written photos are kept.
    runner.start(BatchRequest(photos, out, SMILE, output_suffix=".png"))
    assert runner.seen["status"] == ["Loading the model…", "Finding photos…", "Finding photos…"]
    assert (runner.seen["finished"][-1].existing, runner.seen["finished"][-1].processed) == (2, 0)


def test_cancel_stops_after_the_photo_being_edited(runner, photos: Path, tmp_path: Path) -> None:  # noqa: ANN001
    runner.progress.connect(lambda *_: runner.cancel())  # cancel during the first photo
    runner.start(BatchRequest(photos, tmp_path / "out", SMILE))
    [summary] = runner.seen["finished"]
    assert summary.cancelled and (summary.total, summary.processed) == (4, 1)
    assert len(runner.seen["progress"]) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a-face.jpg", "outputs.csv"]
    assert summary.line().endswith("— cancelled")


def test_a_job_that_cannot_run_fails_with_a_message(runner, tmp_path: Path) -> None:  # noqa: ANN001
    runner.start(BatchRequest(tmp_path / "missing", tmp_path / "out"))
    assert runner.seen["failed"] == [f"input folder {tmp_path / 'missing'} does not exist"]
    assert not runner.seen["finished"] and not runner.running

    bad_model = tmp_path / "bad.pt"
    bad_model.write_text("nope")
    broken = BatchRunner(str(bad_model), "cpu", synchronous=True)
    failures: list[str] = []
    broken.failed.connect(failures.append)
    broken.start(BatchRequest(tmp_path, tmp_path / "out"))
    assert len(failures) == 1 and "not a readable model file" in failures[0]
    assert not broken.running


def test_the_runner_works_on_its_own_thread(qtbot, tiny_model_path: Path, photos: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtCore import QThread

    runner = BatchRunner(str(tiny_model_path), "cpu")
    try:
        assert runner.thread() is not QThread.currentThread()
        summaries = []
        runner.finished.connect(summaries.append)
        request = BatchRequest(photos, tmp_path / "out", SMILE)
        with qtbot.waitSignal(runner.finished, timeout=60_000):
            runner.start(request)
            assert runner.running
            runner.start(request)  # refused while one is running
        assert not runner.running
        # Batches run in the order asked: had the refused one run, it would end before this.
        other = BatchRequest(photos, tmp_path / "other", SMILE)
        with qtbot.waitSignal(runner.finished, timeout=60_000, check_params_cb=lambda s: s.csv_path.parent == other.output_dir):
            runner.start(other)
        assert [s.csv_path.parent.name for s in summaries] == ["out", "other"]
        assert all(s.processed == 2 for s in summaries)
    finally:
        runner.stop()


def test_eta_is_the_mean_time_per_photo_times_those_left() -> None:
    assert estimate_eta(10.0, 2, 6) == pytest.approx(20.0)
    assert estimate_eta(10.0, 0, 6) == 0.0  # nothing done yet: no estimate
    assert estimate_eta(10.0, 6, 6) == 0.0
