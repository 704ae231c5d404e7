"""Many files through one model: reading ahead and writing behind in a few threads, in input order, with
a bounded number of files in flight so memory stays flat in the number of files.

Pillow releases the GIL while it decodes and encodes, so a small pool overlaps that work with ncnn's
forward pass in the main thread, but only on cores ncnn's own threads leave free: on a 2-core machine
running ncnn with 2 threads, reader threads made `detect --json` 15-30% slower than reading in the main
thread (benchmarks/detect_speed.py), so there the work runs in the main thread (`pool_size`). A file that cannot
be read or written becomes a `FileFailure` record instead of an exception: batch commands process every
file they can and report each one they cannot (exit 1 at the end, docs/api.md)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import InputError

R = TypeVar("R")

WORKERS = 2  # reader (and writer) threads: enough to hide decoding behind a 2-3 ms forward pass
AHEAD = 4  # files read ahead of the one the network runs on (each a decoded image in memory)


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one: taskset, containers)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def pool_size(busy_threads: int, cores: int | None = None) -> int:
    """Reader/writer threads beside `busy_threads` compute threads: the cores left over, at most `WORKERS`;
    0 (work in the caller's thread) when none are left, since a thread competing with ncnn's OpenMP
    threads for a core slows both."""
    free = (available_cores() if cores is None else cores) - busy_threads
    return max(0, min(WORKERS, free))


@dataclass(frozen=True)
class FileFailure:
    """A file the batch could not process, and why (one line)."""

    path: Path
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"image": str(self.path), "error": self.message}


def failure_of(path: Path, exc: BaseException) -> FileFailure:
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename else path
        return FileFailure(path, f"cannot access {where}: {exc.strerror or exc}")
    return FileFailure(path, str(exc))


def _guarded(fn: Callable[[Path], R], path: Path) -> R | FileFailure:
    try:
        return fn(path)
    except (InputError, OSError) as exc:
        return failure_of(path, exc)


def read_ahead(fn: Callable[[Path], R], paths: Iterable[Path], workers: int = WORKERS,
               ahead: int = AHEAD) -> Iterator[tuple[Path, R | FileFailure]]:
    """(path, fn(path)) in the order of `paths`, fn running in `workers` threads at most `ahead` files
    ahead of the consumer; a file whose fn raised InputError or OSError gives its `FileFailure`.
    `workers=0` runs fn in the consumer's thread, one file at a time."""
    if workers == 0:
        for path in paths:
            yield path, _guarded(fn, path)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="ssd2ncnn-read")
    pending: deque[tuple[Path, Future]] = deque()
    todo = iter(paths)
    try:
        for path in todo:
            pending.append((path, pool.submit(_guarded, fn, path)))
            if len(pending) > ahead:
                done, fut = pending.popleft()
                yield done, fut.result()
        while pending:
            done, fut = pending.popleft()
            yield done, fut.result()
    finally:  # also when the consumer stops early: nothing more starts, running reads finish
        pool.shutdown(wait=True, cancel_futures=True)


class WriteBehind:
    """Runs write jobs in `workers` threads, at most `depth` queued (the caller waits for the oldest
    beyond that); `close()` waits for all and returns the failures in submission order. `workers=0` runs
    each job in `submit`, in the caller's thread."""

    def __init__(self, workers: int = WORKERS, depth: int = AHEAD):
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="ssd2ncnn-write") if workers else None
        self.depth = depth
        self.pending: deque[Future] = deque()
        self.failures: list[FileFailure] = []

    def submit(self, path: Path, fn: Callable[..., Any], *args: Any) -> None:
        if self.pool is None:
            self._record(_guarded(lambda _p: fn(*args), path))
            return
        self.pending.append(self.pool.submit(_guarded, lambda _p: fn(*args), path))
        while len(self.pending) > self.depth:
            self._record(self.pending.popleft().result())

    def _record(self, result: object) -> None:
        if isinstance(result, FileFailure):
            self.failures.append(result)

    def close(self) -> list[FileFailure]:
        while self.pending:
            self._record(self.pending.popleft().result())
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        return self.failures

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
