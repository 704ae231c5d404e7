"""The tolerance plumbing by hand: which set a folder gets, `--tol NAME=VALUE` parsing and overriding,
the logit scale a case's limits grow with. (Survivors of scripts/mutation.sh: nothing covered these.)"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.modelfolder import ModelInfo
from ssd2ncnn.verify.tolerances import FP16, FP32, INT8, Tolerances, for_model, logit_scale, parse_overrides


def test_each_kind_of_folder_gets_its_set():
    info = ModelInfo(config=get_preset("voc300"), input_size=300)
    assert for_model(info) is FP32
    assert for_model(replace(info, fp16_weights=True)) is FP16
    assert for_model(replace(info, int8=True)) is INT8
    assert for_model(replace(info, int8=True, fp16_weights=True)) is INT8  # int8 folders keep fp16 leftovers


def test_the_sets_state_their_values():
    assert (FP32.head_atol, FP32.head_rtol, FP32.softmax_atol, FP32.prior_atol, FP32.box_atol) == (1e-4, 1e-4, 1e-5, 1e-6, 1e-3)
    assert (FP32.conf_atol, FP32.score_atol, FP32.copy_atol, FP32.match_iou, FP32.min_score) == (None, None, 0.0, 0.5, 0.0)
    assert (FP16.head_atol, FP16.conf_atol, FP16.score_atol, FP16.box_atol, FP16.map_atol) == (5e-3, 5e-3, 5e-3, 1e-2, 1.0)
    assert (INT8.score_atol, INT8.box_atol, INT8.min_score, INT8.map_atol) == (0.1, 0.05, 0.3, 1.0)
    assert FP32.map_atol == 0.5 and FP32.tie_atol == 1e-5


def test_tol_parsing_and_overriding():
    assert parse_overrides(("score_atol=1e-3", " box_atol = 0.01")) == {"score_atol": 1e-3, "box_atol": 0.01}
    assert parse_overrides(()) == {}
    for bad in ("score_atol", "score_atol=x", "=", "score_atol:1e-3", "score_atol=1e-3=2"):
        with pytest.raises(InputError, match=r"--tol expects NAME=VALUE \(e.g. score_atol=1e-3\), got"):
            parse_overrides((bad,))
    tol = FP32.override({"score_atol": 2, "box_atol": 0.5})
    assert tol.score_atol == 2.0 and isinstance(tol.score_atol, float) and tol.box_atol == 0.5
    assert tol.head_atol == FP32.head_atol and FP32.score_atol is None  # a copy; FP32 unchanged
    with pytest.raises(InputError, match=r"unknown tolerance\(s\) \['nope', 'zz'\]; known: box_atol, conf_atol"):
        FP32.override({"zz": 1, "nope": 2, "box_atol": 1})


def test_the_unscaled_limits_by_hand():
    # softmax moves by at most half its logits' change: 0.5 x 1e-4 + softmax_atol 1e-5; sigmoid by a quarter
    assert FP32.conf_limit() == pytest.approx(6e-5, rel=1e-12) == FP32.score_limit()
    assert FP32.conf_limit("sigmoid") == pytest.approx(3.5e-5, rel=1e-12) == FP32.score_limit("sigmoid")
    assert FP32.score_limit("softmax", 2.0) == pytest.approx(0.5 * 3e-4 + 1e-5, rel=1e-12)


def test_the_logit_scale_is_the_largest_magnitude_over_all_maps():
    maps = [np.array([[0.5, -2.0]]), np.array([[[1.5]], [[-7.25]]]), np.zeros((2, 2))]
    assert logit_scale(maps) == 7.25
    assert logit_scale([np.array([3.0])]) == 3.0
    # the case limits grow with it: 0.5 x (1e-4 + 1e-4 x 7.25) + 1e-5
    case = Tolerances().for_case("softmax", logit_scale(maps))
    assert case.conf_atol == pytest.approx(0.5 * (1e-4 + 7.25e-4) + 1e-5, rel=1e-12)
    assert case.score_atol == case.conf_atol and case.head_atol == 1e-4
