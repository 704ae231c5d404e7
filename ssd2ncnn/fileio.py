"""Atomic file writes: the one way this project replaces a file, so that a crash or an error mid-write
never leaves a truncated file under the final name, and what it writes has the mode any plain write would
give it (mkstemp's temporary files are 0600)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def umask_mode(full: int = 0o666) -> int:
    """`full` (0o666 for a file, 0o777 for a folder) less the process umask, as open()/mkdir would give."""
    umask = os.umask(0)
    os.umask(umask)
    return full & ~umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; write it completely. On success it replaces `path` (keeping an
    existing file's mode, else `mode`, else the umask's), on any exception it is removed and `path` is
    untouched. Threads writing at once pass `mode=umask_mode()` computed before: reading the umask sets it."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:  # name the file the user asked for, not our temporary
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        try:
            mode = target.stat().st_mode & 0o777
        except OSError:
            mode = umask_mode() if mode is None else mode
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """`text` as UTF-8 with `\\n` line ends, flushed to disk before it replaces `path`."""
    with atomic_write(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
