"""Time the editing pipeline's stages on this machine (issue: foundation).

    .venv/bin/python bench/bench_pipeline.py [--runs 20]

Uses a London-set photo from ../shared/data (512×512) upscaled to the test sizes, and
random weights (speed does not depend on the weights). Prints median and 5–95 % range.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line, time_it  # noqa: E402

from faceedit.core.alignment import align_face  # noqa: E402
from faceedit.core.models.file import in_memory_model  # noqa: E402
from faceedit.core.compositing import apply_edit  # noqa: E402
from faceedit.core.editor import ExpressionEditor  # noqa: E402
from faceedit.core.expressions import ExpressionTargets  # noqa: E402
from faceedit.core.faces import face_detector  # noqa: E402
from faceedit.core.imageio import decode_photo  # noqa: E402
from faceedit.core.models.exprgan import Generator, ExprGANConfig  # noqa: E402

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "london" / "neutral" / "001.jpg"
PRESETS = {
    "paper (128 px, width 1)": ExprGANConfig(image_size=128, width=1.0),
    "half (128 px, width 0.5)": ExprGANConfig(image_size=128, width=0.5),
    "small (64 px, width 0.5)": ExprGANConfig(image_size=64, width=0.5),
}


def _photo_of_size(base: np.ndarray, width: int, height: int) -> np.ndarray:
    """The face photo placed on a canvas of this size, face about a third of the height."""
    scale = height / 3 / 220  # the London face is ~220 px tall in its 512² photo
    face = cv2.resize(base, None, fx=scale * 1.6, fy=scale * 1.6, interpolation=cv2.INTER_CUBIC)
    canvas = np.full((height, width, 3), 180, np.uint8)
    y, x = (height - face.shape[0]) // 2, (width - face.shape[1]) // 2
    fy0, fx0 = max(0, -y), max(0, -x)
    canvas[max(0, y) : max(0, y) + face.shape[0] - 2 * fy0, max(0, x) : max(0, x) + face.shape[1] - 2 * fx0] = face[
        fy0 : face.shape[0] - fy0, fx0 : face.shape[1] - fx0
    ]
    return canvas


def _jpeg(pixels: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return data.tobytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--precisions", default="fp32", help="comma-separated: fp32, bf16 (default fp32)")
    args = parser.parse_args()
    if not PHOTO.exists():
        print(f"needs {PHOTO} (../shared/data)", file=sys.stderr)
        return 1
    torch.set_grad_enabled(False)
    print(f"machine: {machine_line()}")
    base = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    detector = face_detector()
    photos = {"640×480": _photo_of_size(base, 640, 480), "4000×3000": _photo_of_size(base, 4000, 3000)}
    faces = {}
    for name, pixels in photos.items():
        data = _jpeg(pixels)
        print(f"\n[{name} photo]")
        print(f"  decode JPEG ({len(data) // 1024} KiB)       {time_it(lambda: decode_photo(data), runs=args.runs)}")
        found = detector.detect(pixels)
        assert found, f"no face in the {name} test photo"
        faces[name] = found[0]
        print(f"  detect + landmarks            {time_it(lambda: detector.detect(pixels), runs=max(5, args.runs // 4))}")
        print(f"  align to 128 px               {time_it(lambda: align_face(pixels, found[0].landmarks, 128), runs=args.runs)}")

    for (preset, config), precision in ((p, q) for p in PRESETS.items() for q in args.precisions.split(",")):
        torch.manual_seed(0)
        editor = ExpressionEditor(in_memory_model(Generator(config), preset, precision=precision))
        info = editor.model.info
        print(f"\n[{preset}: {info.parameters / 1e6:.1f} M parameters, {precision}]")
        for name, pixels in photos.items():
            encoded = editor.encode(pixels, faces[name])
            print(f"  {name}: encode (align+enc+base)   {time_it(lambda: editor.encode(pixels, faces[name]), runs=args.runs)}")
            values = iter(np.linspace(0, 1, 10_000))
            render_decoder = lambda: editor.change(encoded, np.array([0, 0, 0, next(values), 0, 0], np.float32))  # noqa: E731
            print(f"  {name}: decoder re-render         {time_it(render_decoder, runs=args.runs)}")
            change = editor.change(encoded, np.array([0, 0, 0, 1, 0, 0], np.float32))
            target = pixels.copy()
            print(f"  {name}: paste-back                {time_it(lambda: apply_edit(target, change, encoded.aligned.to_photo), runs=args.runs)}")
            state = iter(np.linspace(0, 1, 10_000))
            slider = lambda: editor.render(pixels, [encoded], ExpressionTargets.from_mapping({"happiness": float(next(state))}))  # noqa: E731
            print(f"  {name}: slider move → pixels      {time_it(slider, runs=args.runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
