"""Start the desktop app: ``faceedit`` or ``faceedit gui [IMAGE]`` (GUI thread)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtGui import QIcon

APP_ID = "io.github.faceedit.Faceedit"  # the .desktop file's name, AppStream id, macOS bundle id

log = logging.getLogger(__name__)


def run_app(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="faceedit gui", description="Open the faceedit desktop app.")
    parser.add_argument("image", nargs="?", help="photo to open (default: the sample photo)")
    parser.add_argument("--model", metavar="FILE", help="model file (default: $FACEEDIT_MODEL or the bundled model)")
    parser.add_argument("--device", default=None, metavar="DEV", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--theme", choices=("dark", "light"), help="colour theme (default: the saved one, else dark)")
    args = parser.parse_args(list(argv))
    started = time.perf_counter()
    from faceedit.gui.system_libs import check_gui_libraries

    problem = check_gui_libraries()  # before Qt loads: its own abort names the wrong package
    if problem is not None:
        message, fatal = problem
        print(message if fatal else f"{message}\nTrying anyway: Qt may start on Wayland.", file=sys.stderr)
        if fatal:
            return 1

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from faceedit import __version__
    from faceedit.core.logs import setup_logging
    from faceedit.gui.main_window import MainWindow, apply_theme
    from faceedit.gui.settings import AppSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("faceedit")
    app.setOrganizationName("faceedit")
    log_file = setup_logging()
    _log_qt_messages()
    log.info("faceedit %s starting (log: %s)", __version__, log_file)
    app.setDesktopFileName(APP_ID)  # Wayland and taskbars match the window to the .desktop entry
    app.setWindowIcon(_app_icon())
    settings = AppSettings()
    if args.theme:
        settings.theme = args.theme
    apply_theme(settings.theme)
    window = MainWindow(model=args.model, device=args.device, photo=args.image, settings=settings)
    window.show()
    # Logged from the event loop's first turn, when the window is drawn: roughly the wait a
    # person sees, less the interpreter's start (packaging/smoke_check.sh times it all).
    QTimer.singleShot(0, lambda: log.info("window shown %.2f s after the app began loading",
                                          time.perf_counter() - started))
    code = app.exec()
    log.info("faceedit exits with %d", code)
    return code


def _app_icon() -> QIcon:
    """The application icon in every rendered size (PNG: no SVG plugin needed)."""
    from PySide6.QtGui import QIcon

    from faceedit.core.resources import resources_dir

    icon = QIcon()
    for path in sorted((resources_dir() / "icons").glob("faceedit-*.png")):
        icon.addFile(str(path))
    return icon


def _log_qt_messages() -> None:
    """Send Qt's own warnings (qWarning and friends) to the log file as well."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
              QtMsgType.QtFatalMsg: logging.CRITICAL}
    qt_log = logging.getLogger("qt")

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        qt_log.log(levels.get(kind, logging.WARNING), "%s", message)

    qInstallMessageHandler(handler)
