"""The SSD tail's less travelled paths, by hand: the HWC order of mbox_loc on a map larger than 1 x 1, the
sigmoid activation, configs without max sizes or with corner clipping, and the patch's refusals.
(Survivors of scripts/mutation.sh; the MemoryData tail of tests/contract_by_hand.py, real ncnn.)"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from contract_by_hand import head_maps, tail_folder, tail_graph_text

from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.modelfolder import read_info
from ssd2ncnn.ncnn_format import parse_param, read_param
from ssd2ncnn.patches import run_passes
from ssd2ncnn.runtime.net import load_net, run_net
from ssd2ncnn.verify.expected_params import expected_detection_output, expected_priorbox


def _run(folder, size, blobs):
    net = load_net(folder / "model.param", folder / "model.bin", read_info(folder).ncnn_options)
    return run_net(net, np.zeros((3, size, size), np.float32), blobs)


def test_mbox_loc_is_hwc_ordered_on_a_2x2_map(tmp_path):
    """permute.cpp order_type 3: (c, h, w) -> (h, w, c), so cell (y, x) holds its 4 priors x 4 coordinates."""
    cfg = get_preset("voc300")
    locs, confs = head_maps(cfg)
    c = np.arange(16, dtype=np.float32)[:, None, None]
    locs[0] = (c * 100 + np.arange(2)[None, :, None] * 10 + np.arange(2)[None, None, :]).astype(np.float32)
    confs[0] = np.repeat(np.repeat(confs[0], 2, axis=1), 2, axis=2)
    loc = _run(tail_folder(tmp_path, cfg, locs, confs), 300, ["mbox_loc"])["mbox_loc"].reshape(-1)
    assert loc.size == (4 * 4 + 4 + 6 + 6 + 6 + 4 + 4 - 4) * 4  # level 0 has 4 cells now
    np.testing.assert_array_equal(loc[:4], [0, 100, 200, 300])  # cell (0, 0), prior 0
    np.testing.assert_array_equal(loc[12:16], [1200, 1300, 1400, 1500])  # cell (0, 0), prior 3
    np.testing.assert_array_equal(loc[16:20], [1, 101, 201, 301])  # cell (0, 1)
    np.testing.assert_array_equal(loc[32:36], [10, 110, 210, 310])  # cell (1, 0)
    np.testing.assert_array_equal(loc[60:64], [1211, 1311, 1411, 1511])  # cell (1, 1), prior 3


def test_a_sigmoid_model_scores_each_class_on_its_own(tmp_path):
    cfg = replace(get_preset("voc300"), score_activation="sigmoid")
    locs, confs = head_maps(cfg)
    confs[0].reshape(4, 21)[0, :3] = [0.0, np.log(3.0), -np.log(3.0)]
    folder = tail_folder(tmp_path, cfg, locs, confs)
    types = [ly.type for ly in read_param(folder / "model.param").layers]
    assert "Sigmoid" in types and "Softmax" not in types
    scores = _run(folder, 300, ["mbox_conf_flatten"])["mbox_conf_flatten"].reshape(30, 21)
    np.testing.assert_allclose(scores[0, :4], [0.5, 0.75, 0.25, 0.5], atol=1e-6)  # 1 / (1 + e^-z)


def test_the_tail_adds_its_layers_and_refuses_a_graph_without_its_blobs():
    cfg = get_preset("voc300")
    locs, confs = head_maps(cfg)
    # per level: Permute + Flatten for loc and for conf, a PriorBox; then 3 Concat, Reshape, Softmax,
    # Flatten, DetectionOutput
    assert run_passes(parse_param(tail_graph_text(locs, confs)), cfg, only=("ssd-tail",)) == {"ssd-tail": 6 * 5 + 7}
    text = tail_graph_text(locs, confs)
    with pytest.raises(InputError, match="the backend graph has no input blob 'input'"):
        run_passes(parse_param(text.replace("Input input 0 1 input", "Input data 0 1 data")), cfg)
    with pytest.raises(InputError, match=r"expected 12 head outputs \(loc and conf per level\); the backend graph lacks loc3, conf5"):
        run_passes(parse_param(text.replace(" loc3 ", " other3 ").replace(" conf5 ", " other5 ")), cfg)


def test_check_expects_what_other_configs_mean():
    base = get_preset("voc300")
    no_max = replace(base, max_sizes=(), clip=True, clip_rule="corners", offset=0.25, variances=(0.1, 0.2, 0.3, 0.4))
    assert expected_priorbox(no_max, 2) == {
        0: [150.0], 2: [2.0, 3.0], 3: 0.1, 4: 0.2, 5: 0.3, 6: 0.4, 7: 1, 8: 1,
        9: -233, 10: -233, 11: -233.0, 12: -233.0, 13: 0.25, 14: 1, 15: 1,
    }
    tv = replace(base, clip=True, clip_rule="center_size", step_rule="exact", center_rule="standard")
    assert {k: expected_priorbox(tv, 0)[k] for k in (1, 8, 14, 15)} == {1: [105.0], 8: 0, 14: 0, 15: 0}
    cfg = replace(base, nms_threshold=0.3, nms_top_k=50, keep_top_k=20, conf_threshold=0.2, variances=(1.0, 2.0, 3.0, 4.0))
    assert expected_detection_output(cfg) == {0: 21, 1: 0.3, 2: 50, 3: 20, 4: 0.2, 5: 1.0, 6: 2.0, 7: 3.0, 8: 4.0}
