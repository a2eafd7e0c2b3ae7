"""Entry point of the PyInstaller build: the ``faceedit`` command, frozen.

Two things differ from the ``faceedit`` console script:
- ``multiprocessing.freeze_support()``: the trainer's ``prepare`` step uses a process
  pool, whose children (spawned on Windows and macOS) re-enter this executable.
- ``faceedit -m trainer.cli ARGS``: Model → Retrain… starts the trainer as
  ``sys.executable -m trainer.cli ARGS``. In a frozen build ``sys.executable`` is this
  program, not a Python interpreter, so that one ``-m`` form is handled here.
- ``faceedit PHOTO``: "Open with" on Windows and macOS (via argv emulation) passes the
  photo as the only argument; it opens in the app as ``faceedit gui PHOTO`` would.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path


def main() -> int:
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    if args[:2] == ["-m", "trainer.cli"]:
        from trainer.cli import main as train_main

        return train_main(args[2:])
    if len(args) == 1 and Path(args[0]).suffix and Path(args[0]).is_file():
        args = ["gui", args[0]]  # commands have no file extension, so this shadows none
    from faceedit.launcher import main as faceedit_main

    return faceedit_main(args)


if __name__ == "__main__":
    sys.exit(main())
