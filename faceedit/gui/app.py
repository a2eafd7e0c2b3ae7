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
    parser.add_argument("--light", action="store_true", help="light theme instead of the dark one")
    args = parser.parse_args(list(argv))

    from PySide6.QtWidgets import QApplication

    from faceedit.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("faceedit")
    app.setOrganizationName("faceedit")
    if not args.light:
        import qdarkstyle

        app.setStyleSheet(qdarkstyle.load_stylesheet(qt_api="pyside6"))
    window = MainWindow(model=args.model, device=args.device, photo=args.image)
    window.show()
    return app.exec()
