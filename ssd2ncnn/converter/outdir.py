"""Atomic output folders: everything is written into a temporary sibling and swapped in at the end, so a
failed or interrupted run leaves an existing folder exactly as it was."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from ..fileio import umask_mode


def check_writable(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a folder; choose another -o")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"output folder {out} is not empty; pass --force to replace it, or choose another -o")


@contextlib.contextmanager
def atomic_dir(out: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `out`, on any exception it is removed."""
    out = Path(out)
    check_writable(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
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
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rmdir(old)
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
