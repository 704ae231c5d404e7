"""`check` against a writer it does not trust: each PriorBox and DetectionOutput param, written wrong as a
buggy writer would write it (model.json's hashes then agree with the file), is named by `check`. The
folders are the MemoryData stand-ins of tests/contract_by_hand.py: real ncnn, no conversion."""

from __future__ import annotations

import pytest
from contract_by_hand import head_maps, tail_folder
from test_contract_by_hand import CASES

from ssd2ncnn.modelfolder import read_info, write_info
from ssd2ncnn.ncnn_format import read_param, write_param
from ssd2ncnn.verify.folder_check import check_folder


@pytest.fixture(scope="module")
def voc300_folder(tmp_path_factory):
    cfg = CASES["own voc300"][0]()
    return tail_folder(tmp_path_factory.mktemp("tail") / "out", cfg, *head_maps(cfg))


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_correct_folder_of_every_source_passes(case, tmp_path):
    cfg = CASES[case][0]()
    res = check_folder(tail_folder(tmp_path, cfg, *head_maps(cfg)))
    assert res.passed, [str(f) for f in res.findings]
    assert "PriorBox x6 and DetectionOutput params match the config" in res.passed_checks


def _rewrite(folder, layer_type, level, pid, value, tmp_path):
    """A copy of `folder` whose `level`-th layer of `layer_type` has param `pid` = value, hashes refreshed."""
    import shutil

    copy = tmp_path / "edited"
    shutil.copytree(folder, copy)
    graph = read_param(copy / "model.param")
    layer = [ly for ly in graph.layers if ly.type == layer_type][level]
    if value is None:
        del layer.params[pid]
    else:
        layer.params[pid] = value
    write_param(graph, copy / "model.param")
    write_info(copy, read_info(copy))
    return copy


# (param, a wrong value a writer bug could write; None = left out, so ncnn's default applies)
PRIORBOX_EDITS = [
    (0, [61.0]), (1, [104.0]), (2, [3.0]), (3, 0.2), (4, 0.2), (5, 0.1), (6, 0.1), (7, 0), (8, 1),
    (9, 300), (10, 300), (11, 16.0), (12, 16.0), (13, 0.25), (13, None), (14, 0), (15, 0),
]


@pytest.mark.parametrize("pid, value", PRIORBOX_EDITS)
def test_each_priorbox_param_written_wrong_is_named(voc300_folder, tmp_path, pid, value):
    res = check_folder(_rewrite(voc300_folder, "PriorBox", 1, pid, value, tmp_path))
    text = [str(f) for f in res.findings]
    assert not res.passed
    assert any(f"PriorBox priorbox1: param {pid} " in t for t in text), text
    assert not any(t.startswith("model.param differs") for t in text)  # the hashes agree: the params tell


@pytest.mark.parametrize("pid, value", [(0, 20), (1, 0.5), (2, 200), (3, 99), (4, 0.02), (5, 0.2), (8, 0.1), (4, None)])
def test_each_detection_output_param_written_wrong_is_named(voc300_folder, tmp_path, pid, value):
    res = check_folder(_rewrite(voc300_folder, "DetectionOutput", 0, pid, value, tmp_path))
    text = [str(f) for f in res.findings]
    assert any(f"DetectionOutput detection_out: param {pid} " in t for t in text), text
