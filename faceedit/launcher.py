"""The ``faceedit`` console script: the desktop app without a command, else the CLI.

Kept apart from :mod:`faceedit.cli` so that the command line never imports Qt.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

GUI_COMMAND = "gui"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] == GUI_COMMAND:
        from faceedit.gui.app import run_app

        return run_app(args[1:])
    from faceedit.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
