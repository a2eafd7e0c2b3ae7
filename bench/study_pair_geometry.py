"""Can a per-face smile *shape* be predicted from the neutral face, better than the mean shift?

    .venv/bin/python bench/study_pair_geometry.py PREPARED_LONDON [--model FILE]

Issue #12 asks for geometry learned from data and "refined per face by the network where
that measures better". This measures whether London's pairs can teach a per-face
refinement. For every subject with a neutral and a smiling photo, both faces' 68 landmarks
are put in the model's mean-face frame (as `faceedit-train geometry` measures shifts); the
smile's shape change is their difference. On the held-out subjects it compares, by the
root-mean-square landmark error (in % of the crop side, averaged over faces):

- no change;
- the training pairs' mean shift (what the model's geometry is: one shift for every face);
- ridge regressions from the neutral face's shape (its first k principal components on
  the training faces, standardised) to the face's deviation from the mean shift, for
  several k and penalties; the training error is printed beside each, to show overfitting.

Deterministic (closed form). Prints the figures and the machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402

COMPONENTS = (2, 5, 10, 20)
PENALTIES = (0.01, 0.1, 1.0)


def rms_error(predicted: np.ndarray, target: np.ndarray) -> float:
    """Mean over faces of the RMS landmark error, in % of the crop side (N×136 inputs)."""
    squared = ((predicted - target) ** 2).reshape(len(target), 68, 2).sum(axis=2)
    return float(np.sqrt(squared.mean(axis=1)).mean() * 100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prepared", type=Path, help="a prepared London folder (faceedit-train prepare --kind pairs)")
    parser.add_argument("--model", type=Path, help="a geometry model whose mean face is the frame (default: the bundled model)")
    args = parser.parse_args()

    from faceedit.core.models.file import load_model
    from faceedit.core.models.geometry import to_reference_frame
    from faceedit.core.resources import bundled_model_path
    from trainer.manifest import read_prepared

    reference = load_model(args.model or bundled_model_path(), "cpu", "fp32").network.landmark_reference.numpy().astype(np.float64)
    info, records = read_prepared(args.prepared)
    by_subject: dict[tuple[str, str], dict] = {}
    for record in records:
        by_subject.setdefault((record.split, record.subject), {})[record.label] = record
    shapes: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    changes: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for (split, _), faces in sorted(by_subject.items()):
        if "neutral" in faces and "happiness" in faces:
            neutral, smile = (to_reference_frame(np.asarray(faces[label].landmarks) / info.size, reference)
                              for label in ("neutral", "happiness"))
            shapes[split].append(neutral.reshape(-1))
            changes[split].append((smile - neutral).reshape(-1))
    if not shapes["train"] or not shapes["test"]:
        print(f"{args.prepared} needs neutral/smiling pairs in both splits", file=sys.stderr)
        return 1
    x_train, y_train = np.array(shapes["train"]), np.array(changes["train"])
    x_test, y_test = np.array(shapes["test"]), np.array(changes["test"])
    mean_shift = y_train.mean(axis=0)
    print(f"machine: {machine_line()}")
    print(f"pairs: {len(x_train)} training, {len(x_test)} held-out subjects; error = RMS landmark error, % of the crop side")
    print(f"no change:   held-out {rms_error(np.zeros_like(y_test), y_test):.3f}")
    print(f"mean shift:  held-out {rms_error(np.tile(mean_shift, (len(y_test), 1)), y_test):.3f}   "
          f"training {rms_error(np.tile(mean_shift, (len(y_train), 1)), y_train):.3f}")
    centre = x_train.mean(axis=0)
    _, _, directions = np.linalg.svd(x_train - centre, full_matrices=False)
    for k in COMPONENTS:
        train_features, test_features = (x_train - centre) @ directions[:k].T, (x_test - centre) @ directions[:k].T
        scale = train_features.std(axis=0)
        train_features, test_features = train_features / scale, test_features / scale
        for penalty in PENALTIES:
            weights = np.linalg.solve(train_features.T @ train_features + penalty * len(train_features) * np.eye(k),
                                      train_features.T @ (y_train - mean_shift))
            held_out = rms_error(mean_shift + test_features @ weights, y_test)
            training = rms_error(mean_shift + train_features @ weights, y_train)
            print(f"ridge, {k:2d} components, penalty {penalty:4g}: held-out {held_out:.3f}   training {training:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
