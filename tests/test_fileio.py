"""fileio.atomic_write: all or nothing, and the mode a plain write would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ssd2ncnn.fileio import atomic_write, umask_mode, write_text_atomic


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_new_file_gets_the_umask_mode_and_no_temporary_is_left(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "a.txt", "x\n")
        assert _mode(tmp_path / "a.txt") == 0o640 == umask_mode()
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_existing_file_keeps_its_mode_and_a_failure_leaves_it_untouched(tmp_path: Path) -> None:
    target = tmp_path / "b.bin"
    target.write_bytes(b"old")
    target.chmod(0o604)
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["b.bin"]
    with atomic_write(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and _mode(target) == 0o604


def test_a_missing_folder_is_reported_under_the_target_name(tmp_path: Path) -> None:
    target = tmp_path / "none" / "c.txt"
    with pytest.raises(FileNotFoundError) as info:
        write_text_atomic(target, "x\n")
    assert info.value.filename == str(target)
