"""`ssd2ncnn check OUT`: a real converted folder, edited the way later tools edit it, against its own
model.json (no checkpoint)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import cli
from ssd2ncnn.ncnn_format import read_param, write_param
from ssd2ncnn.runtime.net import load_net, run_net


def check(*args):
    return CliRunner().invoke(cli, ["check", *map(str, args)])


@pytest.fixture()
def folder(converted, tmp_path):
    _, out = converted("voc300")  # voc300: mmdetection step and centre rules, PriorBox 14=1 15=1
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return copy


def _ncnnoptimize_like(folder):
    """What ncnnoptimize's writer does to our PriorBox lines: it writes params 0-13 and drops 14 and 15."""
    text = (folder / "model.param").read_text()
    edited = re.sub(r"(?m)^(PriorBox .*?) 14=1 15=1", r"\1", text)
    assert edited != text
    (folder / "model.param").write_text(edited)


def test_a_converted_folder_passes(folder):
    res = check(folder)
    assert res.exit_code == 0, res.output
    for what in ("file hashes", "blob names", "PriorBox x6 and DetectionOutput params", "priors at 300 and 332 px"):
        assert f"ok    {what}" in res.output


def test_ncnnoptimize_dropping_priorbox_keys_is_caught_named_and_restored(folder, tmp_path):
    _ncnnoptimize_like(folder)
    res = check(folder)
    assert res.exit_code == 1
    assert "PriorBox params 14, 15 are missing from all 6 PriorBox layers" in res.output
    assert "ncnnoptimize" in res.output and "convert --fp16" in res.output
    assert re.search(r"FAIL  priors at 300 px differ from the config's by up to 0\.0\d+", res.output), res.output
    assert "model.param differs from the sha256" in res.output

    fixed = tmp_path / "fixed"
    res = check(folder, "--restore", "-o", fixed)
    assert res.exit_code == 0, res.output
    assert json.loads((fixed / "model.json").read_text())["restored_from"] == str(folder)
    res = check(fixed)  # the copy passes on its own
    assert res.exit_code == 0 and "all checks passed" in res.output


def test_restored_output_equals_the_conversion(converted, folder, tmp_path):
    _, out = converted("voc300")
    _ncnnoptimize_like(folder)
    assert check(folder, "--restore", "-o", tmp_path / "fixed").exit_code == 0
    x = np.random.default_rng(1).normal(0, 50, (3, 300, 300)).astype(np.float32)
    blobs = ["mbox_priorbox", "detection_out"]
    a = run_net(load_net(out / "model.param", out / "model.bin"), x, blobs)
    b = run_net(load_net(tmp_path / "fixed" / "model.param", tmp_path / "fixed" / "model.bin"), x, blobs)
    for name in blobs:
        np.testing.assert_array_equal(a[name], b[name])


@pytest.mark.parametrize(
    "edit, expected",
    [
        ("nms", "DetectionOutput detection_out: param 1 is 0.3, the config needs 0.45"),
        ("variance", "param 5 is 0.1, the config needs 0.2"),
        ("rename", "blob(s) detection_out missing"),
        ("weights", "model.bin differs from the sha256"),
        # ncnn cannot load or parse the edit: still a finding beside the others, exit 1, not an error (exit 2)
        ("truncated", "ncnn cannot run the folder to check its priors: ncnn could not load weights"),
        ("garbage", "model.param does not parse"),
    ],
)
def test_other_edits_are_named(folder, edit, expected):
    if edit == "weights":
        data = bytearray((folder / "model.bin").read_bytes())
        data[100] ^= 0xFF
        (folder / "model.bin").write_bytes(bytes(data))
    elif edit == "truncated":
        (folder / "model.bin").write_bytes((folder / "model.bin").read_bytes()[:1000])
    elif edit == "garbage":
        (folder / "model.param").write_text("not a param\n")
    else:
        graph = read_param(folder / "model.param")
        if edit == "nms":
            graph.layer("detection_out").params[1] = 0.3
        elif edit == "variance":
            graph.layer("priorbox2").params[5] = 0.1
        else:
            graph.rename_blob("detection_out", "out")
        write_param(graph, folder / "model.param")
    res = check(folder)
    assert res.exit_code == 1, res.output
    assert expected in res.output, res.output
    if edit in ("truncated", "garbage"):  # the hash finding is listed too
        assert "differs from the sha256" in res.output and "Traceback" not in res.output


def test_bad_input(folder, tmp_path):
    res = check(folder, "--restore")
    assert res.exit_code == 2 and "pass -o FIXED" in res.output
    res = check(folder, "--force")
    assert res.exit_code == 2 and "--force is only for --restore" in res.output
    res = check(folder, "-o", tmp_path / "x")
    assert res.exit_code == 2 and "-o is only for --restore" in res.output and not (tmp_path / "x").exists()
    res = check(tmp_path / "nowhere")
    assert res.exit_code == 2 and "does not exist" in res.output
