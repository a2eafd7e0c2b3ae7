"""Atomic file output: write to a temporary file beside the target, then rename.

A reader never sees a half-written file, and an interrupted run leaves either the old
file or nothing (the temporary file is removed on failure). Writes are also *durable*, as
SQLite and git make theirs: the new file's data reach the disk before the rename that
publishes it, and the folder's entry after it, so a power cut during a save leaves the
old file or the new one, never an empty or partial one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from faceedit.core.errors import OutputError


def check_writable(path: Path, *, overwrite: bool) -> None:
    """Raise OutputError if ``path`` exists (and overwrite is False) or its folder is missing."""
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists (use --overwrite to replace it)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {path}: folder {parent} is not writable")


@contextlib.contextmanager
def atomic_path(path: Path | str, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it is renamed to ``path``.

    The temporary name keeps the target's suffix so that format-by-extension writers
    (OpenCV, Pillow, torch) behave as they would for the real name.
    """
    path = Path(path)
    check_writable(path, overwrite=overwrite)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=parent)
    except OSError as error:  # e.g. a folder that is writable to root but takes no new files (/sys)
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from error
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        if not overwrite and path.exists():
            raise OutputError(f"{path} appeared while it was being written; left untouched")
        sync_file(tmp)
        os.replace(tmp, path)
        sync_folder(parent)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def sync_file(path: Path) -> None:
    """Flush a closed file's data and size to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to the disk; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the rename is still atomic
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path | str, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: Path | str, text: str, *, overwrite: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"), overwrite=overwrite)
