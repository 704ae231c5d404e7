"""runtime.batch: read-ahead and write-behind keep the input order, bound the files in flight, and turn a
file's InputError/OSError into a record while other exceptions (bugs) still propagate."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ssd2ncnn.errors import InputError
from ssd2ncnn.runtime.batch import WORKERS, FileFailure, WriteBehind, pool_size, read_ahead

PATHS = [Path(f"im{k:02d}.jpg") for k in range(20)]


class Probe:
    """fn for read_ahead: sleeps longer for earlier files (so they finish out of order), records how many
    results were made but not yet consumed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.made = 0
        self.consumed = 0
        self.most_waiting = 0

    def __call__(self, path: Path) -> str:
        k = int(path.stem[2:])
        time.sleep(0.002 * (k % 4 == 0))
        if k == 7:
            raise InputError(f"cannot decode image {path}")
        if k == 11:
            raise FileNotFoundError(2, "No such file or directory", str(path))
        with self.lock:
            self.made += 1
            self.most_waiting = max(self.most_waiting, self.made - self.consumed)
        return path.stem.upper()


@pytest.mark.parametrize("workers", [0, 2])
def test_read_ahead_keeps_order_bounds_memory_and_records_failures(workers):
    probe = Probe()
    out = []
    for path, result in read_ahead(probe, PATHS, workers=workers, ahead=3):
        out.append((path, result))
        with probe.lock:
            probe.consumed += not isinstance(result, FileFailure)
    assert [p for p, _ in out] == PATHS
    assert out[0][1] == "IM00" and out[19][1] == "IM19"
    assert out[7][1] == FileFailure(PATHS[7], "cannot decode image im07.jpg")
    assert out[11][1] == FileFailure(PATHS[11], "cannot access im11.jpg: No such file or directory")
    # submitted at most `ahead` + 1 beyond the consumer: never more finished-and-waiting results than that
    assert probe.most_waiting <= 4


@pytest.mark.parametrize("workers", [0, 2])
def test_a_bug_in_fn_is_not_swallowed(workers):
    def broken(path: Path) -> str:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        list(read_ahead(broken, PATHS[:3], workers=workers))


def test_no_workers_reads_in_the_callers_thread_one_file_at_a_time():
    threads, started = set(), []

    def fn(path: Path) -> Path:
        threads.add(threading.get_ident())
        started.append(path)
        return path

    for k, (path, _) in enumerate(read_ahead(fn, PATHS, workers=0)):
        assert path == PATHS[k]
        assert started == PATHS[: k + 1]  # nothing read ahead of the consumer
    assert threads == {threading.get_ident()}


@pytest.mark.parametrize(("cores", "busy", "expected"), [
    (2, 2, 0),  # this CI machine with ncnn on 2 threads: no core left, read in the main thread
    (2, 1, 1),
    (3, 2, 1),
    (16, 2, WORKERS),  # capped
    (1, 4, 0),  # more compute threads than cores
])
def test_pool_size_is_the_cores_ncnn_leaves_free(cores, busy, expected):
    assert WORKERS == 2
    assert pool_size(busy, cores) == expected


def test_stopping_early_starts_nothing_more():
    started = []

    def fn(path: Path) -> Path:
        started.append(path)
        return path

    for _ in read_ahead(fn, PATHS, workers=1, ahead=2):
        break
    assert len(started) <= 4  # the first, the two ahead, and at most one more submitted before the stop


@pytest.mark.parametrize("workers", [0, 2])
def test_write_behind_collects_failures_in_order(tmp_path, workers):
    def write(path: Path, text: str) -> None:
        if text == "bad":
            raise InputError(f"cannot write {path.name}")
        path.write_text(text)

    with WriteBehind(workers=workers, depth=1) as writer:
        for k, text in enumerate(["a", "bad", "c", "bad", "e"]):
            target = tmp_path / f"{k}.txt"
            writer.submit(target, write, target, text)
        failures = writer.close()
    assert [f.message for f in failures] == ["cannot write 1.txt", "cannot write 3.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.txt", "2.txt", "4.txt"]
