"""The tie tolerance of `verify` pinned by value, and score gaps just above it that must fail.

The tolerance is max(tie_atol, 4 x the measured class-score error), at most the score limit
(verify/detections.py). FP32's score limit, worked out by hand from verify/tolerances.py: softmax moves
by at most 1/2 of its logits' change, so 0.5 x head_atol 1e-4 (+ head_rtol x 0 for the unscaled limit)
+ softmax_atol 1e-5 = 6e-5; FP16 states score_atol 5e-3. A tolerance widened by 10 or 100 would excuse
the real NMS / top-k regressions of the 3e-5..1e-3 range, which is where these examples sit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ssd2ncnn.config import get_preset
from ssd2ncnn.verify.detections import Candidates, compare_detections, reference_rows, tie_tolerance
from ssd2ncnn.verify.tolerances import FP16, FP32

CFG = replace(get_preset("voc300", num_classes=3), conf_threshold=0.05, nms_top_k=40, keep_top_k=12)
NOISE = 3e-6  # the measured score error the comparisons below report: 4 x 3e-6 = 1.2e-5


@pytest.mark.parametrize("tol, measured, want", [
    (FP32, 0.0, 1e-5),  # nothing measured: tie_atol
    (FP32, 1e-6, 1e-5),  # 4e-6 < tie_atol
    (FP32, 5e-6, 2e-5),  # 4 x 5e-6
    (FP32, 1e-5, 4e-5),
    (FP32, 2e-5, 6e-5),  # 8e-5, capped at the score limit
    (FP32, 1e-2, 6e-5),
    (FP16, 1e-4, 4e-4),  # FP16 keeps tie_atol 1e-5: 4 x 1e-4
    (FP16, 1e-2, 5e-3),  # capped at FP16's score_atol
])
def test_the_tie_tolerance_and_its_cap(tol, measured, want):
    assert tie_tolerance(tol, measured) == pytest.approx(want, rel=1e-9)
    assert (FP32.tie_atol, FP32.score_limit(), FP16.score_limit()) == pytest.approx((1e-5, 6e-5, 5e-3), rel=1e-9)


# The replay moves each score by at most the tie tolerance (A up, B down), so a gap up to 2 x 1.2e-5 is a
# tie and one of 3e-5 is not.
def _two_overlapping(gap: float) -> tuple[Candidates, np.ndarray]:
    """A and B of class 1 overlap (IoU 0.6 > nms 0.45); B scores `gap` above A, so DetectionOutput keeps
    B. The returned ncnn rows keep A instead, and C (disjoint, 0.8, not tied: both sides keep it)."""
    boxes = np.array([[0.10, 0.1, 0.50, 0.5], [0.20, 0.1, 0.60, 0.5], [0.10, 0.7, 0.30, 0.9]], np.float32)
    fg = np.array([0.5, 0.5 + gap, 0.8], np.float64)
    scores = np.stack([1 - fg, fg, 0 * fg], axis=1).astype(np.float32)
    ncnn = np.array([[1, scores[2, 1], *boxes[2]], [1, scores[0, 1], *boxes[0]]], np.float32)
    return Candidates(boxes, scores), ncnn


def _check(cand: Candidates, ncnn: np.ndarray):
    return compare_detections(ncnn, reference_rows(cand, CFG), CFG, FP32, cand, NOISE)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.floats(3e-5, 1e-3))
@example(5e-4)  # between score_atol and 10 x score_atol
@example(2e-4)
@example(5e-5)  # above the tie, below score_atol: only the tie rule can reject it
@example(3e-5)
def test_nms_keeping_the_lower_box_by_a_real_gap_fails(gap):
    cand, ncnn = _two_overlapping(gap)
    check = _check(cand, ncnn)
    assert not check.passed and any("ncnn keeps label 1 prior 0" in u for u in check.unexplained), check


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.floats(1e-6, 2.3e-5))
@example(1e-7)
@example(2.3e-5)
def test_nms_keeping_either_of_near_tied_boxes_passes(gap):
    cand, ncnn = _two_overlapping(gap)
    check = _check(cand, ncnn)
    assert check.passed and check.excused["nms tie"] == 2, check


# FP32's score limit is 6e-5 (module docstring): 2e-4 and 5e-4 lie between 1e-4 and 1e-3 and must fail
@pytest.mark.parametrize("err, passes", [(3e-5, True), (5.5e-5, True), (7e-5, False), (2e-4, False), (5e-4, False), (1e-3, False)])
def test_a_matched_detection_score_error_against_score_atol(err, passes):
    cand, _ = _two_overlapping(0.01)
    ref = reference_rows(cand, CFG)
    got = ref.astype(np.float64)
    got[:, 1] += err
    check = compare_detections(got, ref, CFG, FP32, cand, NOISE)
    assert check.passed is passes, check
    assert check.max_score_err == pytest.approx(err, abs=1e-7)
