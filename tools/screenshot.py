"""Take the README's screenshot: the real window on the bundled model and sample photo, one slider moved.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python tools/screenshot.py -o docs/window.jpg [--expression happiness --value 1.0]

Runs the app's MainWindow (rendering synchronously, so the picture holds the finished
edit), moves one expression slider, and saves the window's pixels. The sample photo is a
London face (CC BY 4.0, DeBruine & Jones 2017): show the attribution with the picture.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from faceedit.core.expressions import EXPRESSIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--out", type=Path, required=True, help="the picture to write (.jpg or .png)")
    parser.add_argument("--expression", choices=EXPRESSIONS, default="happiness")
    parser.add_argument("--value", type=float, default=1.0, help="the slider's position, 0–1 (default 1)")
    parser.add_argument("--size", default="1280x800", help="window size WxH (default 1280x800)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from faceedit.core.resources import bundled_model_path, sample_photo_path
    from faceedit.gui.expression_panel import STEPS
    from faceedit.gui.main_window import MainWindow
    from faceedit.gui.settings import AppSettings

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        settings = AppSettings(QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat))
        window = MainWindow(model=str(bundled_model_path()), device="cpu", photo=str(sample_photo_path()),
                            synchronous=True, settings=settings)
        window.ask_about_unsaved_edits = lambda: "discard"  # closing must not wait on a question
        window.resize(width, height)
        window.show()
        app.processEvents()
        window.panel.sliders[args.expression].setValue(round(args.value * STEPS))
        for _ in range(20):
            app.processEvents()
        if not window.grab().save(str(args.out), quality=92):
            print(f"could not write {args.out}", file=sys.stderr)
            return 1
        window.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
