"""Errors whose message is meant for the person using faceedit.

The command line prints ``str(error)`` on one line and exits non-zero; the GUI shows it
in a message. Anything that is not a :class:`FaceeditError` is a bug and keeps its
traceback.
"""

from __future__ import annotations

from collections.abc import Callable


class FaceeditError(Exception):
    """Base class: the message says what went wrong and, where possible, what to do."""


class PhotoError(FaceeditError):
    """A photo could not be read (missing, unreadable, not an image, too large)."""


class NoFaceError(FaceeditError):
    """No usable face was found in a photo."""


class ModelFileError(FaceeditError):
    """A file is not a faceedit model, or is damaged, or was made by a newer faceedit."""


class OutputError(FaceeditError):
    """An output could not be written (exists, unwritable folder, unknown format)."""


def run_reporting_errors(program: str, command: Callable[[], int]) -> int:
    """Run a command-line command: a FaceeditError becomes one ``PROGRAM: error: …`` line and
    exit status 1, Ctrl-C exit status 130, a reader that went away (``faceedit info | head``)
    a quiet exit status 141 as other Unix tools give; anything else is a bug and keeps its traceback."""
    import os
    import sys

    try:
        return command()
    except FaceeditError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Point stdout at /dev/null so that Python's flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # SIGPIPE
