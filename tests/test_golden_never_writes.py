"""The golden check never writes: not with SSD2NCNN_UPDATE_GOLDEN set, not as test.sh's last step.
Regeneration is `scripts/update_golden.sh` (`verify --golden DIR --update-golden`) alone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import cli

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "fixtures" / "golden" / "voc300-tiny"


def test_the_variable_does_not_turn_a_check_into_a_regeneration(tmp_path, monkeypatch):
    # a folder that a regeneration would fill (it has the checkpoint) but a check refuses (no tensors)
    monkeypatch.setenv("SSD2NCNN_UPDATE_GOLDEN", "1")
    shutil.copy(GOLDEN / "model.pth", tmp_path / "model.pth")
    res = CliRunner().invoke(cli, ["verify", "--golden", str(tmp_path)])
    assert res.exit_code == 2 and "is not a golden folder (no golden.npz)" in res.output, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pth"]


def test_test_sh_golden_step_only_checks():
    lines = (REPO / "scripts" / "test.sh").read_text().splitlines()
    golden = [ln.strip() for ln in lines if "verify --golden" in ln and not ln.lstrip().startswith("#")]
    assert golden == ["env -u SSD2NCNN_UPDATE_GOLDEN .venv/bin/ssd2ncnn verify --golden fixtures/golden/voc300-tiny"]
    assert not any("--update-golden" in ln for ln in lines)


@pytest.mark.slow
def test_update_golden_sh_rewrites_with_the_recorded_settings(tmp_path):
    copy = tmp_path / "golden"
    shutil.copytree(GOLDEN, copy)
    stored = dict(np.load(GOLDEN / "golden.npz"))
    np.savez_compressed(copy / "golden.npz", **{k: v + 1.0 for k, v in stored.items()})  # stale tensors
    res = subprocess.run(["bash", "scripts/update_golden.sh", str(copy)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    fresh = dict(np.load(copy / "golden.npz"))
    assert sorted(fresh) == sorted(stored)  # the same cases: sizes, images and seed from golden.json
    for key, value in stored.items():
        np.testing.assert_allclose(fresh[key], value, atol=1e-4, err_msg=key)
    assert (copy / "COMMAND.txt").read_text().split()[-6:] == ["--sizes", "300,320", "--num-images", "2", "--seed", "0"]
