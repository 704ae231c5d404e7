"""Temporary folders that carry their owner in the name (`<prefix><host>-<pid>-<random>`), so that a later
run can tell what a killed run left (SIGKILL runs no cleanup) from what a live run is using, and remove
it. A folder is a leftover when its host is this host and no process has its pid (`os.kill(pid, 0)`); a
pid reused since is taken for alive, which keeps the folder: the safe side."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:40] or "host"


def owner_tag() -> str:
    return f"{HOST}-{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def dead_owner(name: str, prefix: str) -> bool:
    """Whether `name` is `<prefix><this host>-<pid>-...` of a pid that no longer runs."""
    m = re.fullmatch(re.escape(prefix) + r"(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-.*", name)
    if m is None:
        return False
    return m["host"] == HOST and int(m["pid"]) != os.getpid() and not pid_alive(int(m["pid"]))


def sweep(folder: Path, prefix: str) -> list[Path]:
    """Remove what dead owners of this host left in `folder` under `prefix`; returns what was removed."""
    try:
        entries = sorted(Path(folder).iterdir())
    except OSError:
        return []
    removed = []
    for path in entries:
        if dead_owner(path.name, prefix):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def owned_dir(folder: Path, prefix: str) -> Path:
    """A new folder `folder/<prefix><tag><random>`, after sweeping dead owners' leftovers there."""
    sweep(folder, prefix)
    return Path(tempfile.mkdtemp(prefix=prefix + owner_tag(), dir=folder))


@contextlib.contextmanager
def owned_tempdir(prefix: str) -> Iterator[Path]:
    """A folder in $TMPDIR, removed on exit; one left by a killed run is removed by the next."""
    path = owned_dir(Path(tempfile.gettempdir()), prefix)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
