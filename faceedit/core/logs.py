"""The desktop app's log file, in the platform's log folder, rotated so it never grows big.

``platformdirs.user_log_dir("faceedit")`` is ``~/.local/state/faceedit/log`` on Linux,
``%LOCALAPPDATA%\\faceedit\\faceedit\\Logs`` on Windows and ``~/Library/Logs/faceedit`` on
macOS; ``$FACEEDIT_LOG_DIR`` overrides it (tests, portable installs). A GUI started from a
desktop menu has no terminal, so this file is where its warnings and crashes end up.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

LOG_DIR_ENV = "FACEEDIT_LOG_DIR"
LOG_NAME = "faceedit.log"
MAX_BYTES = 1 << 20  # 1 MiB a file …
BACKUP_COUNT = 3  # … and three old ones: at most 4 MiB in all
FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"

log = logging.getLogger(__name__)


def log_dir() -> Path:
    """The folder for faceedit's log files (created by :func:`setup_logging`, not here)."""
    override = os.environ.get(LOG_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_log_dir("faceedit", appauthor=False))


def _handler_for(path: Path) -> logging.Handler | None:
    """The file handler already writing to ``path`` from an earlier call, if any."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RotatingFileHandler) and Path(handler.baseFilename) == path:
            return handler
    return None


def setup_logging(level: int = logging.INFO, directory: Path | None = None) -> Path | None:
    """Send log records of ``level`` and above to a rotating file; returns its path.

    Calling it again adds no second handler. Returns None, and logs only to stderr as
    before, where the folder cannot be written: a missing log must never stop the app.
    Uncaught exceptions (main and worker threads) are logged too, then passed on to the
    previous hooks, so they still reach the terminal where there is one.
    """
    path = (directory or log_dir()) / LOG_NAME
    root = logging.getLogger()
    if _handler_for(path) is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8")
        except OSError as error:
            logging.getLogger(__name__).warning("no log file at %s: %s", path, error)
            return None
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.setLevel(level)
        if not root.handlers:
            # Without handlers, warnings went to stderr (logging.lastResort); keep that for
            # a terminal once the file handler is there, which would otherwise silence it.
            console = logging.StreamHandler()
            console.setLevel(logging.WARNING)
            root.addHandler(console)
        root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    _install_excepthooks()
    return path


def _install_excepthooks() -> None:
    """Log uncaught exceptions, then hand them to the hooks that were there before."""
    if getattr(sys.excepthook, "_faceedit_logs", False):
        return
    previous, previous_thread = sys.excepthook, threading.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            log.critical("uncaught exception", exc_info=(kind, value, tb))
        previous(kind, value, tb)

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit and args.exc_value is not None:
            name = args.thread.name if args.thread else "?"
            log.critical("uncaught exception in thread %s", name,
                         exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        previous_thread(args)

    excepthook._faceedit_logs = True  # type: ignore[attr-defined]
    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
