"""Shared fixtures: tiny random models, the shared face photos where they exist, and a fake camera video."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# float32 unless a test asks for bfloat16: tests compare exact values, and "auto" would pick
# bfloat16 on CPUs with native support (the CI machine has it).
os.environ["FACEEDIT_PRECISION"] = "fp32"

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared photo data not found at {SHARED_DATA}")


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or a skip with the reason where it is not there."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"{path} not available (the shared face photos are not on this machine)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Converted identity weights go to a temporary cache, never the user's own."""
    os.environ["FACEEDIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def _collect_qt_garbage_on_the_main_thread(request: pytest.FixtureRequest):  # noqa: ANN201
    """After each engine or GUI test, collect cyclic garbage here, on the main thread.

    Otherwise the collector may run next on a worker thread of a later test (the video
    runner's, the inference worker's) and free a dead test's Qt wrappers there; PySide
    then defers their deletion to the main thread, where it crashed the suite once
    (SIGSEGV in shiboken's BindingManager::runDeletionInMainThread, under gdb).
    """
    yield
    if any(part in ("engine", "gui") for part in request.path.parts):
        import gc

        gc.collect()


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 64-pixel model at a quarter of the paper's width (a test stand-in, not trained)."""
    import torch

    from faceedit.core.models.file import Provenance, save_model
    from faceedit.core.models.exprgan import Generator, ExprGANConfig

    torch.manual_seed(1234)
    generator = Generator(ExprGANConfig(image_size=64, width=0.25))
    path = tmp_path_factory.mktemp("models") / "tiny.pt"
    save_model(path, generator, provenance=Provenance(data="random weights for tests", steps=0))
    return path


@pytest.fixture(scope="session")
def lisa_path() -> Path:
    return shared_file("lisa/lisa1.jpg")


@pytest.fixture(scope="session")
def london_neutral() -> Path:
    return shared_file("london/neutral/001.jpg")


# --- a fake camera: a generated video file (core tracking, engine camera, gui webcam) ----
#
# A London-set face on a plain background, still for half a second (with sensor-like
# noise, so the landmark fit jitters as with a real camera), then moving and turning
# slightly, then gone for a few frames, then back elsewhere. Written as Motion-JPEG in
# .avi, which the headless OpenCV wheel both writes and reads.

VIDEO_FPS = 30.0
STILL, MOVING, GONE, BACK = range(0, 15), range(15, 30), range(30, 36), range(36, 42)
VIDEO_SIZE = (640, 480)


def make_frames(photo: Path, seed: int = 0) -> list[np.ndarray]:
    """BGR frames of the face: still, moving and turning, gone, back elsewhere."""
    rng = np.random.default_rng(seed)
    face = cv2.resize(cv2.imread(str(photo)), (280, 280), interpolation=cv2.INTER_AREA)
    width, height = VIDEO_SIZE
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.dstack([100 + 60 * xx / width, 120 + 40 * yy / height, np.full((height, width), 150.0)]).astype(np.float32)

    def place(dx: float, dy: float, angle: float) -> np.ndarray:
        matrix = cv2.getRotationMatrix2D((140, 140), angle, 1.0)
        matrix[:, 2] += (width / 2 - 140 + dx, height / 2 - 140 + dy)
        warped = cv2.warpAffine(face, matrix, VIDEO_SIZE, flags=cv2.INTER_LINEAR).astype(np.float32)
        inside = cv2.warpAffine(np.ones((280, 280), np.float32), matrix, VIDEO_SIZE)[..., None]
        return background * (1 - inside) + warped * inside

    scenes = (
        [place(0, 0, 0) for _ in STILL]
        + [place(40 * (i + 1) / len(MOVING), -15 * (i + 1) / len(MOVING), 6 * (i + 1) / len(MOVING)) for i in range(len(MOVING))]
        + [background for _ in GONE]
        + [place(-60, 10, -3) for _ in BACK]
    )
    return [np.clip(scene + rng.normal(0, 4.0, scene.shape), 0, 255).astype(np.uint8) for scene in scenes]


@pytest.fixture(scope="session")
def video(tmp_path_factory: pytest.TempPathFactory, london_neutral: Path) -> Path:
    """The fake camera's video file (42 frames at 30 fps, 640×480)."""
    path = tmp_path_factory.mktemp("video") / "fake-camera.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, VIDEO_SIZE)
    assert writer.isOpened(), "MJPG/.avi should be writable by the headless OpenCV build"
    for frame in make_frames(london_neutral):
        writer.write(frame)
    writer.release()
    return path


def read_rgb(path: Path) -> list[np.ndarray]:
    """Every frame of a video file, as RGB."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


@pytest.fixture(scope="session")
def built_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model as a build machine writes it: its paths in the provenance, metrics, a model card beside it."""
    import torch

    from faceedit.core.models.file import Provenance, save_model
    from faceedit.core.models.exprgan import Generator, ExprGANConfig

    torch.manual_seed(1234)
    folder = tmp_path_factory.mktemp("built")
    path = folder / "built.pt"
    provenance = Provenance(data="merged dataset at /work (prepared in /work/b6/bundled128)", steps=1000,
                            notes="London set (CC BY 4.0); prepared from /home/builder/data/london")
    metrics = {"summary/expression_accuracy": 0.1746, "summary/identity_distance": 0.2096,
               "summary/monotonicity": 0.9944, "summary/sharpness_ratio": 0.9547,
               "summary/saturation_ratio": 1.001, "identity_distance/threshold": 0.6,
               **{f"counts/test_labels/label{i:02d}": float(i) for i in range(80)}}
    save_model(path, Generator(ExprGANConfig(image_size=64, width=0.25)), provenance=provenance, metrics=metrics)
    (folder / "MODEL_CARD.md").write_text("# Model card: built.pt\n\nA **test** model card.\n", encoding="utf-8")
    return path
