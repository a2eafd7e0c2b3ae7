"""Slider move → updated pixels on screen, through the real window (issue: desktop app).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_app.py [--runs 30] [--model FILE | --bundled]

Times ``slider.setValue`` until the view holds the new pixmap: the edit state, the
worker's render (decoder + paste-back), and the view's image conversion. The worker runs
synchronously here, so the figure leaves out one cross-thread signal hop (microseconds).
Random weights of two presets (or the given model file); a London photo from ../shared/data placed on 640×480 and 4000×3000
canvases. Prints median, 95th percentile and the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import PHOTO, _photo_of_size  # noqa: E402
from machine import machine_line  # noqa: E402

import cv2  # noqa: E402
import torch  # noqa: E402

from faceedit.core.models.file import save_model  # noqa: E402
from faceedit.core.imageio import save_photo  # noqa: E402
from faceedit.core.models.exprgan import Generator, ExprGANConfig  # noqa: E402

PRESETS = {"128 px ×0.5 (desktop)": ExprGANConfig(128, 0.5), "128 px ×1 (paper)": ExprGANConfig(128, 1.0)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--model", type=Path, metavar="FILE", help="time this model file instead of random presets")
    parser.add_argument("--bundled", action="store_true", help="time the bundled model (resources/models)")
    args = parser.parse_args()
    if args.bundled:
        from faceedit.core.resources import bundled_model_path

        args.model = bundled_model_path()
    if not PHOTO.exists():
        print(f"needs {PHOTO}", file=sys.stderr)
        return 1
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from faceedit.gui.main_window import MainWindow
    from faceedit.gui.settings import AppSettings

    app = QApplication.instance() or QApplication([])
    print(f"machine: {machine_line()}")
    base = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    with tempfile.TemporaryDirectory() as tmp:
        photos = {}
        for name, (w, h) in {"640×480": (640, 480), "4000×3000": (4000, 3000)}.items():
            photos[name] = Path(tmp) / f"{w}x{h}.png"
            save_photo(photos[name], _photo_of_size(base, w, h))
        models = {args.model.name: args.model} if args.model else {}
        for preset, config in ({} if args.model else PRESETS).items():
            torch.manual_seed(0)
            models[preset] = Path(tmp) / f"model-{len(models)}.pt"
            save_model(models[preset], Generator(config), overwrite=True)
        for preset, model in models.items():
            for name, photo in photos.items():
                settings = AppSettings(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
                window = MainWindow(model=str(model), device="cpu", photo=str(photo), synchronous=True, settings=settings)
                window.ask_about_unsaved_edits = lambda: "discard"  # closing must not wait on a question
                slider = window.panel.sliders["happiness"]
                samples = []
                for i in range(args.runs + 2):
                    start = time.perf_counter()
                    slider.setValue(i % 100)  # each value differs from the last
                    app.processEvents()
                    samples.append((time.perf_counter() - start) * 1000)
                samples = sorted(samples[2:])
                p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
                print(f"{preset:24s} {name:>10s}: slider → pixels median {statistics.median(samples):7.1f} ms, 95th percentile {p95:7.1f} ms (n={len(samples)})")
                window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
