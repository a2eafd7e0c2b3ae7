"""Frames per second of the webcam path at 640×480 with live editing (issue: webcam).

    .venv/bin/python bench/bench_webcam.py [--seconds 6] [--threads 1[,2]] [--model FILE | --bundled]

A fake camera: a London-set face (../shared/data) moving and turning on a 640×480
background with sensor-like noise, 30 fps, Motion-JPEG. Random weights (speed does not
depend on them) for the two shipped sizes, ExprGAN 128 px ×0.5 and 64 px ×0.5.

Per preset and torch thread count it prints:

1. stage timings, one thread (read+RGB, tracking, encode, decoder, paste-back);
2. per-frame totals and fps, one thread doing everything in turn, for three strategies:
   ``full``     tracker + encode + decoder + paste on every frame (what
                ``EditWorker.request_frame`` does today);
   ``reuse``    the proposed live path (:class:`faceedit.core.live.LiveEditor`): a face's
                encoding and its rendered change are kept while the face's shape in the
                aligned crop barely changes; each frame then costs the tracker and a
                paste-back at the frame's *current* alignment. Sliders held still;
   ``reuse+drag`` the same with the slider moving every frame (one decoder pass a frame);
3. ``app``: the real thing, threaded: CameraSource (capture + tracking thread) feeding the
   real EditWorker thread (newest only) from a 30 fps fake camera; edited frames shown
   per second. This is what a user sees today; it can at most reach the camera's 30.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import Timing, machine_line, time_it  # noqa: E402

from faceedit.core.models.file import Provenance, load_model, save_model  # noqa: E402
from faceedit.core.compositing import apply_edit  # noqa: E402
from faceedit.core.editor import ExpressionEditor  # noqa: E402
from faceedit.core.expressions import ExpressionTargets  # noqa: E402
from faceedit.core.faces import DetectedFace  # noqa: E402
from faceedit.core.models.exprgan import Generator, ExprGANConfig  # noqa: E402
from faceedit.core.live import LiveEditor  # noqa: E402
from faceedit.core.tracking import FaceTracker  # noqa: E402

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "london" / "neutral" / "001.jpg"
PRESETS = {
    "128 px ×0.5": ExprGANConfig(image_size=128, width=0.5),
    "64 px ×0.5": ExprGANConfig(image_size=64, width=0.5),
}
SIZE, FPS = (640, 480), 30.0


def make_video(path: Path, frames: int = 150) -> None:
    """A face moving on a sine path and turning ±5°, with noise; MJPG in .avi."""
    rng = np.random.default_rng(0)
    face = cv2.resize(cv2.imread(str(PHOTO)), (280, 280), interpolation=cv2.INTER_AREA)
    width, height = SIZE
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.dstack([100 + 60 * xx / width, 120 + 40 * yy / height, np.full((height, width), 150.0)]).astype(np.float32)
    inside_src = np.ones((280, 280), np.float32)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    for i in range(frames):
        phase = 2 * np.pi * i / 75
        matrix = cv2.getRotationMatrix2D((140, 140), 5 * np.sin(phase), 1.0)
        matrix[:, 2] += (width / 2 - 140 + 50 * np.sin(phase), height / 2 - 140 + 15 * np.cos(phase))
        warped = cv2.warpAffine(face, matrix, SIZE).astype(np.float32)
        inside = cv2.warpAffine(inside_src, matrix, SIZE)[..., None]
        frame = background * (1 - inside) + warped * inside + rng.normal(0, 3.0, (height, width, 3))
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()


def read_video(path: Path) -> list[np.ndarray]:
    capture, frames = cv2.VideoCapture(str(path)), []
    while (item := capture.read())[0]:
        frames.append(cv2.cvtColor(item[1], cv2.COLOR_BGR2RGB))
    return frames


def summarise(samples: list[float]) -> Timing:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]  # noqa: E731
    return Timing(statistics.median(ordered), pick(0.05), pick(0.95), len(ordered))


face_of = DetectedFace.from_landmarks


def per_frame(frames: list[np.ndarray], step) -> list[float]:  # noqa: ANN001
    samples = []
    for index, frame in enumerate(frames):
        start = time.perf_counter()
        step(index, frame)
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def line(name: str, samples: list[float]) -> str:
    timing = summarise(samples)
    throughput = 1000.0 * len(samples) / sum(samples)
    return f"  {name:<28}{timing}   → {1000.0 / timing.median_ms:5.1f} fps at the median, {throughput:5.1f} fps overall"


def sequential(frames: list[np.ndarray], editor: ExpressionEditor) -> None:
    """One thread doing everything, per frame: the three strategies."""
    happy = ExpressionTargets.from_mapping({"happiness": 0.9})
    for name in ("full", "reuse", "reuse+drag"):
        tracker = FaceTracker()
        tracker.update(frames[0], 0.0)  # loads the predictor
        reusing = LiveEditor(editor)

        def step(index: int, frame: np.ndarray, name: str = name) -> None:
            tracking = tracker.update(frame, index / FPS)
            if name == "full":
                faces = [editor.encode(frame, face_of(p)) for p in tracking.landmarks]
                editor.render(frame, faces, happy)
            else:
                targets = happy if name == "reuse" else ExpressionTargets.from_mapping({"happiness": (index % 50) / 50})
                reusing.edit(frame, tracking.landmarks, targets, index / FPS)

        samples = per_frame(frames, step)
        extra = f"  ({reusing.encodes} encodes, {reusing.decodes} decodes in {len(frames)} frames)" if name != "full" else ""
        print(line(name, samples) + extra)


def stages(frames: list[np.ndarray], video: Path, editor: ExpressionEditor) -> None:
    capture = cv2.VideoCapture(str(video))

    def read() -> None:
        ok, frame = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = capture.read()
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    print(f"  {'read + BGR→RGB':<28}{time_it(read, runs=60)}")
    tracker = FaceTracker()
    results = [tracker.update(frame, i / FPS) for i, frame in enumerate(frames)][1:]
    tracked = [r.milliseconds for r in results if not r.detected]
    detected = [r.milliseconds for r in results if r.detected]
    print(f"  {'track (shape predictor)':<28}{summarise(tracked)}")
    print(f"  {'track + detect (every 10th)':<28}{summarise(detected)}")
    landmarks = results[0].landmarks[0]
    frame = frames[1]
    encoded = editor.encode(frame, face_of(landmarks))
    print(f"  {'encode (align+enc+base dec)':<28}{time_it(lambda: editor.encode(frame, face_of(landmarks)), runs=20)}")
    values = iter(np.linspace(0, 1, 10_000))
    print(f"  {'decoder (slider change)':<28}{time_it(lambda: editor.change(encoded, np.array([0, 0, 0, next(values), 0, 0], np.float32)), runs=20)}")
    change = editor.change(encoded, np.array([0, 0, 0, 1, 0, 0], np.float32))
    target = frame.copy()
    print(f"  {'paste-back':<28}{time_it(lambda: apply_edit(target, change, encoded.aligned.to_photo), runs=40)}")


def app_path(video: Path, model: Path, seconds: float) -> str:
    """CameraSource + the real EditWorker thread (``model`` loaded as the app would), fed by a 30 fps fake camera."""
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    from faceedit.engine.camera import CameraSource
    from faceedit.engine.worker import EditWorker, FrameRequest

    app = QCoreApplication.instance() or QCoreApplication([])
    assert app is not None  # kept alive for the measurement
    worker = EditWorker()
    loop = QEventLoop()
    worker.model_ready.connect(lambda _: loop.quit())
    worker.failed.connect(lambda error: (print(f"  worker: {error.message}"), loop.quit()))
    worker.load_model(str(model), "cpu")
    loop.exec()
    source = CameraSource()
    stamp, shown, frames = [0], [], []
    targets = ExpressionTargets.from_mapping({"happiness": 0.9})

    def forward(frame) -> None:  # noqa: ANN001
        stamp[0] += 1
        frames.append(frame.index)
        worker.request_frame(FrameRequest(stamp[0], frame.pixels, frame.landmarks, targets))

    source.frame_ready.connect(forward)
    worker.frame_rendered.connect(lambda result: shown.append((time.monotonic(), result.milliseconds)))
    source.start(str(video))
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    source.stop()
    worker.stop()
    settled = [item for item in shown if item[0] >= shown[0][0] + 1.0] if shown else []  # after 1 s warm-up
    if len(settled) < 2:
        return "  app: too few frames edited to measure"
    fps = (len(settled) - 1) / (settled[-1][0] - settled[0][0])
    edit = summarise([ms for _, ms in settled])
    return f"  {'app (camera ‖ worker)':<28}{fps:5.1f} fps shown; worker edit per frame {edit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="how long the threaded app run lasts")
    parser.add_argument("--threads", default="1", help="torch thread counts to try, e.g. 1,2 (2 is far slower on a busy 2-core machine)")
    parser.add_argument("--model", metavar="FILE", type=Path, help="time this model file instead of the random-weight sizes")
    parser.add_argument("--bundled", action="store_true", help="time the bundled model")
    args = parser.parse_args()
    if not PHOTO.exists():
        print(f"needs {PHOTO} (../shared/data)", file=sys.stderr)
        return 1
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as folder:
        video = Path(folder) / "fake-camera.avi"
        make_video(video)
        frames = read_video(video)
        if args.model or args.bundled:
            from faceedit.core.resources import bundled_model_path

            models = {"bundled model" if args.bundled else args.model.name: bundled_model_path() if args.bundled else args.model}
        else:  # random weights: speed does not depend on them
            models = {}
            for preset, config in PRESETS.items():
                torch.manual_seed(0)
                models[preset] = Path(folder) / f"{config.image_size}-{config.width:g}.pt"
                save_model(models[preset], Generator(config), provenance=Provenance(data="random weights for a benchmark"))
        for threads in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(threads)
            print(f"\nmachine: {machine_line()}")
            try:
                with open("/proc/loadavg") as load:
                    print(f"load average before: {' '.join(load.read().split()[:3])} (other work on the machine slows everything)")
            except OSError:
                pass
            for name, model in models.items():
                editor = ExpressionEditor(load_model(model, "cpu"))
                print(f"\n[{name} ({editor.model.info.describe()}, {editor.model.precision.name}), torch threads {threads}; "
                      f"{len(frames)} frames of 640×480]")
                stages(frames, video, editor)
                sequential(frames, editor)
                print(app_path(video, model, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
