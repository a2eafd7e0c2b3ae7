"""Damaged copies of the bundled model: how many are refused, and do any edit wrongly without a word?

    .venv/bin/python bench/damage_bundled_model.py [--copies 40] [--seed 2026]

The experiment of the integrity issue: random single and multiple byte flips, zeroed
4 KB spans, truncations and insertions (the damage generator of
tests/core/test_model_integrity.py), each copy used for a happiness-1.0 edit of the
sample photo and compared with the clean model's edit. Prints the count of each outcome.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from faceedit.core.editor import ExpressionEditor  # noqa: E402
from faceedit.core.errors import FaceeditError  # noqa: E402
from faceedit.core.expressions import ExpressionTargets  # noqa: E402
from faceedit.core.faces import face_detector  # noqa: E402
from faceedit.core.imageio import load_photo  # noqa: E402
from faceedit.core.models.file import load_model  # noqa: E402
from faceedit.core.resources import bundled_model_path, sample_photo_path  # noqa: E402

KINDS = ("flip", "flips", "zeroed", "truncated", "inserted")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("integrity", ROOT / "tests" / "core" / "test_model_integrity.py")
    integrity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(integrity)
    pixels = load_photo(sample_photo_path()).pixels
    faces = face_detector().detect(pixels)

    def edit(path: Path) -> np.ndarray:
        editor = ExpressionEditor(load_model(path, "cpu", "fp32"))
        return editor.render(pixels, [editor.encode(pixels, f) for f in faces], ExpressionTargets.from_mapping({"happiness": 1.0}))

    clean = edit(bundled_model_path())
    data = bundled_model_path().read_bytes()
    rng = np.random.default_rng(args.seed)
    outcomes: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.copies):
            kind = KINDS[i % len(KINDS)]
            path = Path(folder) / f"damaged-{i}.pt"
            path.write_bytes(integrity._damaged(data, rng, kind))
            try:
                outcomes["same edit as the clean file" if np.array_equal(edit(path), clean) else "DIFFERENT EDIT, NOT REFUSED"] += 1
            except FaceeditError:
                outcomes[f"refused ({kind})"] += 1
    for outcome, count in sorted(outcomes.items()):
        print(f"{count:4d}  {outcome}")
    return 1 if outcomes["DIFFERENT EDIT, NOT REFUSED"] else 0


if __name__ == "__main__":
    sys.exit(main())
