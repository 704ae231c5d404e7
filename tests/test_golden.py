"""Golden outputs: the stored tensors match a fresh conversion, and a perturbed golden tensor fails."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import cli

pytestmark = pytest.mark.slow  # converts, trains or runs processes: `pytest -m "not slow"` skips it

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "voc300-tiny"


def test_golden_outputs_match_and_a_perturbed_golden_fails(tmp_path, monkeypatch):
    # the retired regeneration variable, left set in a shell: the check still only checks (#21)
    monkeypatch.setenv("SSD2NCNN_UPDATE_GOLDEN", "1")
    runner = CliRunner()
    copy = tmp_path / "copy"
    shutil.copytree(GOLDEN, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    res = runner.invoke(cli, ["verify", "--golden", str(copy)])
    assert res.exit_code == 0, res.output
    assert "golden outputs match" in res.output and "SSD2NCNN_UPDATE_GOLDEN is ignored" in res.output
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before

    bad = tmp_path / "golden"
    shutil.copytree(GOLDEN, bad)
    arrays = dict(np.load(bad / "golden.npz"))
    key = next(k for k in arrays if k.endswith("/mbox_conf_flatten"))
    arrays[key] = arrays[key] + 1e-3
    np.savez_compressed(bad / "golden.npz", **arrays)
    res = runner.invoke(cli, ["verify", "--golden", str(bad)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.exception
    assert "mbox_conf_flatten" in res.output and "golden" in res.output


def test_golden_folder_without_tensors_is_bad_input(tmp_path):
    res = CliRunner().invoke(cli, ["verify", "--golden", str(tmp_path)])
    assert res.exit_code == 2 and "not a golden folder" in res.output


def test_golden_with_a_checkpoint_or_images_is_bad_input(tmp_path):
    res = CliRunner().invoke(cli, ["verify", str(GOLDEN / "model.pth"), str(tmp_path), "--golden", str(GOLDEN)])
    assert res.exit_code == 2 and "drop CHECKPOINT" in res.output
    res = CliRunner().invoke(cli, ["verify", "--golden", str(GOLDEN), "--images", str(tmp_path)])
    assert res.exit_code == 2 and "drop --images" in res.output
