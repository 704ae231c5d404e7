"""owned_temp: a folder is a leftover only when this host's process that owned it is gone."""

from __future__ import annotations

import os

import pytest

from ssd2ncnn.errors import InputError
from ssd2ncnn.fileio import atomic_dir
from ssd2ncnn.owned_temp import HOST, owned_dir, pid_alive, sweep


def _dead_pid() -> int:
    for pid in range(int(open("/proc/sys/kernel/pid_max").read()) - 1, 1, -1):
        if not pid_alive(pid):
            return pid
    pytest.skip("no free pid")


def test_sweep_removes_dead_owners_of_this_host_only(tmp_path):
    dead = _dead_pid()
    gone = tmp_path / f"job-{HOST}-{dead}-abc"
    mine = tmp_path / f"job-{HOST}-{os.getpid()}-abc"
    other_host = tmp_path / f"job-{HOST}x-{dead}-abc"
    live = tmp_path / f"job-{HOST}-1-abc"  # pid 1 always runs
    unowned = tmp_path / "job-notes"
    for p in (gone, mine, other_host, live, unowned):
        p.mkdir()
        (p / "f").write_bytes(b"x" * 10)
    assert sweep(tmp_path, "job-") == [gone]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (mine, other_host, live, unowned))
    new = owned_dir(tmp_path, "job-")
    assert new.name.startswith(f"job-{HOST}-{os.getpid()}-")


def test_atomic_dir_removes_a_dead_runs_temporary_and_puts_back_an_interrupted_swap(tmp_path):
    dead = _dead_pid()
    (tmp_path / f".out.tmp-{HOST}-{dead}-x").mkdir()
    old = tmp_path / f".out.old-{HOST}-{dead}-y"  # killed between moving out away and moving the new one in
    old.mkdir()
    (old / "model.param").write_text("previous")
    with pytest.raises(InputError, match="not empty"), atomic_dir(tmp_path / "out", force=False):
        pass  # the previous folder is back under its name, so without --force it is kept
    assert (tmp_path / "out" / "model.param").read_text() == "previous"
    with atomic_dir(tmp_path / "out", force=True) as tmp:
        (tmp / "model.param").write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "model.param").read_text() == "new"
