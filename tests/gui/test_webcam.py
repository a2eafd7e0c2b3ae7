"""The webcam path, with a generated video file as the fake camera (offscreen Qt).

The video: a London-set face on a plain background, still for half a second (with
sensor-like noise, so the landmark fit jitters as with a real camera), then moving and
turning slightly, then gone for a few frames, then back elsewhere. Written as Motion-JPEG
in .avi, which the headless OpenCV wheel both writes and reads.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceedit.core.expressions import ExpressionTargets

pytest.importorskip("pytestqt")

FPS = 30.0
STILL, MOVING, GONE, BACK = range(0, 15), range(15, 30), range(30, 36), range(36, 42)
SIZE = (640, 480)


def make_frames(photo: Path, seed: int = 0) -> list[np.ndarray]:
    """BGR frames of the face: still, moving and turning, gone, back elsewhere."""
    rng = np.random.default_rng(seed)
    face = cv2.resize(cv2.imread(str(photo)), (280, 280), interpolation=cv2.INTER_AREA)
    width, height = SIZE
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.dstack([100 + 60 * xx / width, 120 + 40 * yy / height, np.full((height, width), 150.0)]).astype(np.float32)

    def place(dx: float, dy: float, angle: float) -> np.ndarray:
        matrix = cv2.getRotationMatrix2D((140, 140), angle, 1.0)
        matrix[:, 2] += (width / 2 - 140 + dx, height / 2 - 140 + dy)
        warped = cv2.warpAffine(face, matrix, SIZE, flags=cv2.INTER_LINEAR).astype(np.float32)
        inside = cv2.warpAffine(np.ones((280, 280), np.float32), matrix, SIZE)[..., None]
        return background * (1 - inside) + warped * inside

    scenes = (
        [place(0, 0, 0) for _ in STILL]
        + [place(40 * (i + 1) / len(MOVING), -15 * (i + 1) / len(MOVING), 6 * (i + 1) / len(MOVING)) for i in range(len(MOVING))]
        + [background for _ in GONE]
        + [place(-60, 10, -3) for _ in BACK]
    )
    return [np.clip(scene + rng.normal(0, 4.0, scene.shape), 0, 255).astype(np.uint8) for scene in scenes]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory, london_neutral: Path) -> Path:
    path = tmp_path_factory.mktemp("video") / "fake-camera.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    assert writer.isOpened(), "MJPG/.avi should be writable by the headless OpenCV build"
    for frame in make_frames(london_neutral):
        writer.write(frame)
    writer.release()
    return path


def read_rgb(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


# --- the tracker (core, no Qt) ---------------------------------------------------------


def test_tracker_follows_smooths_and_redetects(video: Path) -> None:
    from faceedit.core.faces import face_detector
    from faceedit.core.tracking import FaceTracker

    frames = read_rgb(video)
    assert len(frames) == len(STILL) + len(MOVING) + len(GONE) + len(BACK)
    tracker = FaceTracker()
    results = [tracker.update(frame, index / FPS) for index, frame in enumerate(frames)]

    # Tracking, not detecting: the full detector runs on the first frame and every 10th.
    present = [results[i] for i in (*STILL, *MOVING)]
    assert all(len(r.faces) == 1 for r in present)
    assert sum(r.detected for r in present) <= 4
    assert len({r.faces[0].track_id for r in present}) == 1

    # A still face: the smoothed landmarks jitter far less than the raw shape-predictor fit.
    still = [results[i].faces[0] for i in STILL[3:]]  # after the filter settles
    smoothed_std = np.array([f.landmarks for f in still]).std(axis=0).mean()
    raw_std = np.array([f.raw_landmarks for f in still]).std(axis=0).mean()
    assert raw_std > 0.05, "the noisy frames should make the raw fit jitter"
    assert smoothed_std < 0.6 * raw_std, (smoothed_std, raw_std)

    # A moving face: followed within a couple of pixels of a fresh detection's landmarks.
    detector = face_detector()
    for i in MOVING:
        reference = detector.detect(frames[i])[0].landmarks
        assert np.abs(results[i].faces[0].landmarks - reference).mean() < 2.5, i
        assert np.abs(results[i].faces[0].raw_landmarks - reference).mean() < 1.0, i

    # Gone: dropped within two frames of the next detection; back: found again at once.
    assert all(not results[i].faces for i in GONE[2:])
    assert results[BACK[0]].detected and len(results[BACK[0]].faces) == 1
    assert results[BACK[0]].faces[0].track_id != present[0].faces[0].track_id
    back = results[BACK[-1]].faces[0]
    assert np.abs(back.landmarks - detector.detect(frames[BACK[-1]])[0].landmarks).mean() < 1.5
    assert not back.landmarks.flags.writeable  # results cross threads: read-only


def test_one_euro_filter_smooths_noise_but_follows_motion() -> None:
    from faceedit.core.tracking import OneEuroFilter

    rng = np.random.default_rng(0)
    still = OneEuroFilter(1.0, 4.0, 1.0)
    out = np.array([still(np.array([[100.0, 50.0]]) + rng.normal(0, 1.0, (1, 2)), t / 30, scale=50) for t in range(90)])
    assert out[30:].std(axis=0).mean() < 0.5  # half the raw jitter of 1 px
    moving = OneEuroFilter(1.0, 4.0, 1.0)
    track = [moving(np.array([[100.0 + 5 * t, 50.0]]), t / 30, scale=50) for t in range(30)]  # 150 px/s
    assert abs(track[-1][0, 0] - (100 + 5 * 29)) < 8  # lag well under two frames' motion


# --- the camera source (engine) --------------------------------------------------------


def collect(qtbot, source, start) -> tuple[list, list[str]]:  # noqa: ANN001
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
    assert frames[-1].timestamp > 42 / FPS  # the clock runs on across the loop
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


# --- the panel (gui) --------------------------------------------------------------------


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
