"""Atomic writes: the one way this project replaces a file or an output folder, so that a crash or an error
mid-write never leaves a truncated file or a partial folder under the final name, and what it writes has the
mode any plain write would give it (mkstemp's temporary files are 0600)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError
from .owned_temp import dead_owner, owned_dir, sweep


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


def check_writable(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a folder; choose another -o")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"output folder {out} is not empty; pass --force to replace it, or choose another -o")


def _restore_interrupted_swap(out: Path) -> None:
    """A run killed between its two renames left `out` moved to `.out.old-<dead owner>-*`: put it back."""
    if out.exists():
        return
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):
        if dead_owner(old.name, f".{out.name}.old-"):
            os.replace(old, out)
            return


@contextlib.contextmanager
def atomic_dir(out: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `out`, on any exception it is removed. The
    temporary folders are named after their owner (`owned_temp`), so what a killed run left beside `out`
    is removed by the next run into it."""
    out = Path(out)
    if out.parent.is_dir():
        _restore_interrupted_swap(out)
        for kind in ("tmp", "old"):
            sweep(out.parent, f".{out.name}.{kind}-")
    check_writable(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = owned_dir(out.parent, f".{out.name}.tmp-")
    except OSError as exc:
        raise InputError(f"cannot write into {out.parent} ({exc.strerror}); choose another -o") from exc
    os.chmod(tmp, umask_mode(0o777))  # mkdtemp makes 0700; the result should look like any mkdir
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = owned_dir(out.parent, f".{out.name}.old-")
        os.rmdir(old)
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
