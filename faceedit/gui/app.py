"""Start the desktop app: ``faceedit`` or ``faceedit gui [IMAGE]`` (GUI thread)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def run_app(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="faceedit gui", description="Open the faceedit desktop app.")
    parser.add_argument("image", nargs="?", help="photo to open (default: the sample photo)")
    parser.add_argument("--model", metavar="FILE", help="model file (default: $FACEEDIT_MODEL or the bundled model)")
    parser.add_argument("--device", default=None, metavar="DEV", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--theme", choices=("dark", "light"), help="colour theme (default: the saved one, else dark)")
    args = parser.parse_args(list(argv))

    from PySide6.QtWidgets import QApplication

    from faceedit.gui.main_window import MainWindow, apply_theme
    from faceedit.gui.settings import AppSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("faceedit")
    app.setOrganizationName("faceedit")
    settings = AppSettings()
    if args.theme:
        settings.theme = args.theme
    apply_theme(settings.theme)
    window = MainWindow(model=args.model, device=args.device, photo=args.image, settings=settings)
    window.show()
    return app.exec()
