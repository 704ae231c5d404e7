"""`convert` killed with SIGKILL at each stage leaves nothing behind once the next convert has run: not in
$TMPDIR (its work folder, pnnx's files, onnxruntime's `.ses`), not beside OUT (`.OUT.tmp-*`). Each kill
lands at a known stage: `SSD2NCNN_PAUSE_AFTER=<stage>` makes convert stop itself once the stage has
written its output, and the test kills the stopped process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import cli

pytestmark = pytest.mark.slow  # converts and spawns processes

STAGES = ("export", "simplify", "pnnx", "patch")
REPO = Path(__file__).resolve().parents[1]


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _convert(ckpt: Path, out: Path, tmpdir: Path, pause_after: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO)}
    env.pop("ORT_DISABLE_TELEMETRY", None)  # convert must turn onnxruntime's .ses off itself
    if pause_after:
        env["SSD2NCNN_PAUSE_AFTER"] = pause_after
    return subprocess.Popen([sys.executable, "-m", "ssd2ncnn", "convert", str(ckpt), "-o", str(out), "--force"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kill_after(stage: str, ckpt: Path, out: Path, tmpdir: Path) -> None:
    proc = _convert(ckpt, out, tmpdir, stage)
    assert proc.stderr is not None
    for line in proc.stderr:  # convert writes this line, then stops itself
        if line.strip() == f"paused after {stage}":
            break
    else:
        pytest.fail(f"convert ended (exit {proc.wait()}) without pausing after {stage}")
    # SIGKILL whether or not the SIGSTOP has landed yet: either way nothing of convert's cleanup runs
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


def test_a_rerun_after_kills_at_every_stage_succeeds_and_leaves_nothing(tmp_path):
    ckpt, out, tmpdir = tmp_path / "m.pth", tmp_path / "work" / "out", tmp_path / "tmp"
    tmpdir.mkdir()
    res = CliRunner().invoke(cli, ["init", "--preset", "voc300", "--num-classes", "3", "--width-mult", "0.25",
                                   "-o", str(ckpt)])
    assert res.exit_code == 0, res.output
    for stage in STAGES:
        _kill_after(stage, ckpt, out, tmpdir)
        # this kill left its work behind (its convert folder, a temporary OUT); the previous kill's was
        # removed when this run started
        left = sorted(p.name for p in [*tmpdir.iterdir(), *out.parent.iterdir()])
        assert len([n for n in left if n.startswith("ssd2ncnn-convert-")]) == 1, (stage, left)
        assert len([n for n in left if n.startswith(".out.tmp-")]) == 1, (stage, left)
        if stage != "export":
            assert _bytes_under(tmpdir) > 100_000, stage

    proc = _convert(ckpt, out, tmpdir)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["model.bin", "model.json", "model.onnx", "model.param"]
    assert [p.name for p in out.parent.iterdir()] == ["out"]
    assert [p.name for p in tmpdir.iterdir()] == [] and _bytes_under(tmpdir) == 0
