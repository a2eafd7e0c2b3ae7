"""Edits on a GPU: do they match the CPU's, and how long does a slider move take there?

    python bench/bench_gpu_edit.py --save-landmarks lm.npy          # here: detect the sample face once (dlib)
    python bench/bench_gpu_edit.py --landmarks lm.npy --device cuda  # on the GPU machine (no dlib needed)

The bundled model (or ``--model``) edits the sample photo (or ``--photo``) on the CPU in
fp32 and on ``--device`` in fp32 and bf16: the recognised intensities and every
expression at 1.0 (and a mix) are compared pixel by pixel with the CPU's. Then a slider
move (``ExpressionEditor.render``: one render plus the paste-back, the path the app's
worker runs) is timed at 640×480 and 4000×3000, for the model and for a paper-size
network with random weights (speed does not depend on the weights). Figures: median and
5–95 % range; the machine line names the GPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import machine_line, synchronised, time_it  # noqa: E402

from faceedit.core.editor import ExpressionEditor  # noqa: E402
from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets  # noqa: E402
from faceedit.core.faces import DetectedFace  # noqa: E402
from faceedit.core.imageio import load_photo  # noqa: E402
from faceedit.core.models.exprgan import ExprGANConfig, Generator  # noqa: E402
from faceedit.core.models.file import in_memory_model, load_model  # noqa: E402
from faceedit.core.resources import bundled_model_path, sample_photo_path  # noqa: E402


def _placed(pixels: np.ndarray, landmarks: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo scaled to the canvas's height and centred on a grey canvas, with its landmarks moved alike."""
    scale = height / pixels.shape[0]
    scaled = cv2.resize(pixels, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((height, width, 3), 180, np.uint8)
    x = (width - scaled.shape[1]) // 2
    canvas[:, max(0, x) : max(0, x) + min(width, scaled.shape[1])] = scaled[:, max(0, -x) : max(0, -x) + min(width, scaled.shape[1])]
    return canvas, landmarks * scale + np.array([x, 0.0])


def _targets() -> dict[str, ExpressionTargets]:
    states = {name: ExpressionTargets.from_mapping({name: 1.0}) for name in EXPRESSIONS}
    states["mix"] = ExpressionTargets.from_mapping({"happiness": 0.6, "surprise": 0.4})
    return states


def compare(model_path: Path, pixels: np.ndarray, face: DetectedFace, device: torch.device) -> None:
    """Print how far ``device``'s edits (fp32, bf16) are from the CPU's fp32 edits."""
    reference = ExpressionEditor(load_model(model_path, "cpu", "fp32"))
    encoded = reference.encode(pixels, face)
    expected = {name: reference.render(pixels, [encoded], state) for name, state in _targets().items()}
    print(f"CPU fp32 recognised {np.round(encoded.recognised, 3).tolist()}")
    for precision in ("fp32", "bf16"):
        editor = ExpressionEditor(load_model(model_path, device, precision))
        other = editor.encode(pixels, face)
        gap = float(np.abs(other.recognised - encoded.recognised).max())
        print(f"{device.type} {precision}: recognised differs by at most {gap:.4f}")
        for name, state in _targets().items():
            got = editor.render(pixels, [other], state)
            difference = np.abs(got.astype(np.int16) - expected[name].astype(np.int16))
            changed = np.abs(expected[name].astype(np.int16) - pixels.astype(np.int16)).max(axis=2) > 0
            print(f"  {name:<10} max |Δ| {difference.max():3d} levels; pixels off by > 2: {(difference.max(axis=2) > 2).mean() * 100:6.3f} %"
                  f" (the edit changes {changed.mean() * 100:.1f} % of the photo)")


def time_slider(editor: ExpressionEditor, pixels: np.ndarray, face: DetectedFace, runs: int) -> str:
    encoded = editor.encode(pixels, face)
    values = iter(np.linspace(0.0, 1.0, 100_000))
    device = editor.model.device

    def move() -> None:
        editor.render(pixels, [encoded], ExpressionTargets.from_mapping({"happiness": float(next(values))}))

    return str(time_it(synchronised(move, device), runs=runs, warmup=3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model file (default: the bundled model)")
    parser.add_argument("--photo", type=Path, default=None, help="photo with one face (default: the sample photo)")
    parser.add_argument("--landmarks", type=Path, help="68×2 landmarks of the photo's face (.npy), instead of detecting them")
    parser.add_argument("--save-landmarks", type=Path, help="detect the face (dlib), save its landmarks here and stop")
    parser.add_argument("--device", default="cuda", help="the device to compare with the CPU and time (default cuda)")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    model_path = args.model or bundled_model_path()
    pixels = load_photo(args.photo or sample_photo_path()).pixels
    if args.save_landmarks:
        from faceedit.core.faces import face_detector

        found = face_detector().detect(pixels)
        if not found:
            print("no face found in the photo", file=sys.stderr)
            return 1
        np.save(args.save_landmarks, found[0].landmarks)
        print(f"wrote {args.save_landmarks}")
        return 0
    if args.landmarks:
        face = DetectedFace.from_landmarks(np.load(args.landmarks))
    else:
        from faceedit.core.faces import face_detector

        face = face_detector().detect(pixels)[0]
    device = torch.device(args.device)
    print(machine_line(device))
    compare(model_path, pixels, face, device)
    sizes = {"640×480": (640, 480), "4000×3000": (4000, 3000)}
    torch.manual_seed(0)
    models = {
        "bundled": lambda dev, precision: load_model(model_path, dev, precision),
        "paper-size, random weights": lambda dev, precision: in_memory_model(
            Generator(ExprGANConfig(image_size=128, width=1.0)), "paper", device=dev, precision=precision),
    }
    print("slider move → pixels (ExpressionEditor.render), ms")
    for model_name, make in models.items():
        for dev, precision in (("cpu", "fp32"), (args.device, "fp32"), (args.device, "bf16")):
            editor = ExpressionEditor(make(torch.device(dev), precision))
            for size_name, (width, height) in sizes.items():
                photo, landmarks = _placed(pixels, face.landmarks, width, height)
                timing = time_slider(editor, photo, DetectedFace.from_landmarks(landmarks), args.runs)
                print(f"  {model_name:<28}{dev:<6}{precision:<6}{size_name:<11}{timing}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
