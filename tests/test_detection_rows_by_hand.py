"""compare_detections' bookkeeping worked out by hand (no conversion, no ncnn): which rows are paired,
which overlaps break NMS, the report rows and the summary counts, on boxes whose IoU is exact in binary
floats (areas of 1, 1/2 and 1/16), so every boundary below is hit exactly. Issue #21."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ssd2ncnn.config import get_preset
from ssd2ncnn.verify.detections import (
    Candidates,
    compare_detections,
    detection_rows,
    match_detections,
    nms_violations,
)
from ssd2ncnn.verify.tolerances import FP32

CFG = replace(get_preset("voc300", num_classes=3), conf_threshold=0.05, nms_threshold=0.45, nms_top_k=40,
              keep_top_k=12)
UNIT = (0.0, 0.0, 1.0, 1.0)  # area 1
HALF = (0.0, 0.0, 1.0, 0.5)  # area 1/2 inside UNIT: IoU with UNIT exactly 0.5
CORNER = (0.0, 0.0, 0.25, 0.25)  # area 1/16, disjoint from FAR
FAR = (0.5, 0.5, 0.75, 0.75)


def rows(*r):
    return np.asarray([(label, score, *box) for label, score, box in r], np.float64).reshape(-1, 6)


# match_detections ---------------------------------------------------------------------------------------

def test_a_twin_is_matched_before_a_neighbour_and_each_row_is_used_once():
    """ncnn row 0 overlaps reference row 0 (its twin, IoU 1) and row 1 (IoU 0.5): the twin is taken, the
    neighbour is left over, and ncnn row 0 is not paired a second time."""
    got = rows((1, 0.9, UNIT))
    ref = rows((1, 0.9, HALF), (1, 0.9, UNIT))
    assert match_detections(got, ref, 0.5) == ([(0, 1)], [], [0])
    # the same from the other side: one reference row, two ncnn rows that overlap it
    assert match_detections(ref, got, 0.5) == ([(1, 0)], [0], [])


def test_iou_exactly_match_iou_matches_and_labels_must_agree():
    assert match_detections(rows((1, 0.9, UNIT)), rows((1, 0.9, HALF)), 0.5) == ([(0, 0)], [], [])
    assert match_detections(rows((1, 0.9, UNIT)), rows((1, 0.9, HALF)), 0.51) == ([], [0], [0])
    assert match_detections(rows((1, 0.9, UNIT)), rows((2, 0.9, UNIT)), 0.5) == ([], [0], [0])


def test_an_empty_side_leaves_every_row_of_the_other():
    assert match_detections(rows(), rows((1, 0.9, UNIT), (2, 0.5, FAR)), 0.5) == ([], [], [0, 1])
    assert match_detections(rows((1, 0.9, UNIT)), rows(), 0.5) == ([], [0], [])


# nms_violations -----------------------------------------------------------------------------------------

def test_two_kept_boxes_of_one_class_overlapping_are_named_with_their_label():
    """Label 1 keeps UNIT and HALF (IoU 0.5 > 0.45); label 2's box between them in the rows overlaps
    them too but is another class, so only the label-1 pair is named."""
    r = rows((1, 0.9, UNIT), (2, 0.7, UNIT), (1, 0.8, HALF))
    assert nms_violations(r, 0.45, "ncnn") == [
        "ncnn keeps two boxes of label 1 overlapping IoU 0.500 > nms_threshold 0.45: "
        "label 1 score 0.900000 box (0.0000, 0.0000, 1.0000, 1.0000) and "
        "label 1 score 0.800000 box (0.0000, 0.0000, 1.0000, 0.5000)"]
    assert nms_violations(r, 0.5, "ncnn") == []  # 0.5 is not above 0.5 + IOU_EPS
    assert nms_violations(rows((1, 0.9, UNIT), (1, 0.8, FAR)), 0.45, "ncnn") == []


def test_compare_names_the_side_that_breaks_nms():
    got = rows((1, 0.9, UNIT), (1, 0.8, HALF))
    check = compare_detections(got, got, CFG, FP32)
    assert check.matched == 2 and not check.passed
    assert check.unexplained == [
        f"{side} keeps two boxes of label 1 overlapping IoU 0.500 > nms_threshold 0.45: "
        "label 1 score 0.900000 box (0.0000, 0.0000, 1.0000, 1.0000) and "
        "label 1 score 0.800000 box (0.0000, 0.0000, 1.0000, 0.5000)" for side in ("ncnn", "PyTorch")]


def test_an_nms_violation_is_kept_next_to_the_replay_s_findings():
    """With candidates, the replay's differences are added to the NMS violations, not put in their place."""
    cand = Candidates(np.asarray([UNIT, HALF], np.float32), np.asarray([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0]], np.float32))
    ref = rows((1, cand.scores[0, 1], UNIT))  # DetectionOutput keeps prior 0 only: IoU 0.5 > 0.45
    got = rows((1, cand.scores[0, 1], UNIT), (1, cand.scores[1, 1], HALF))
    check = compare_detections(got, ref, CFG, FP32, cand, 0.0)
    assert (check.matched, check.unmatched_ncnn, check.unmatched_ref) == (1, 1, 0)
    assert len(check.unexplained) == 2
    assert check.unexplained[0].startswith("ncnn keeps two boxes of label 1 overlapping IoU 0.500")
    assert check.unexplained[1].startswith("ncnn keeps label 1 prior 1 (PyTorch score 0.800000)")


# detection_rows and _box --------------------------------------------------------------------------------

def test_the_report_rows_by_hand():
    got = rows((1, 0.9, (0.1234567, 0.25, 0.5, 0.75)), (2, 0.3, CORNER))
    ref = rows((1, 0.875, (0.125, 0.25, 0.5, 0.75)), (1, 0.6, FAR), (2, 0.2, FAR))
    out = detection_rows(got, ref, [(0, 0)], {"ncnn": [1], "PyTorch": [1, 2]}, {("PyTorch", 2): "threshold cut"})
    assert out == [
        {"status": "matched", "label": 1, "ncnn_score": 0.9, "torch_score": 0.875,
         "ncnn_box": [0.123457, 0.25, 0.5, 0.75], "torch_box": [0.125, 0.25, 0.5, 0.75]},
        {"status": "unexplained", "side": "ncnn", "label": 2, "score": 0.3, "box": [0.0, 0.0, 0.25, 0.25],
         "reason": ""},
        {"status": "unexplained", "side": "PyTorch", "label": 1, "score": 0.6, "box": [0.5, 0.5, 0.75, 0.75],
         "reason": ""},
        {"status": "excused", "side": "PyTorch", "label": 2, "score": 0.2, "box": [0.5, 0.5, 0.75, 0.75],
         "reason": "threshold cut"},
    ]


# _pairs and the pass/fail limits ------------------------------------------------------------------------

def test_errors_exactly_at_the_limits_pass():
    """A box error of exactly box_atol keeps the pair (it is not split into two unmatched rows) and
    passes; a score error of exactly the score limit passes. 0.125 and 0.25 are exact in binary."""
    tol = replace(FP32, box_atol=0.125, score_atol=0.25)
    got = rows((1, 0.75, (0.0, 0.0, 0.5, 0.5)))
    ref = rows((1, 0.5, (0.0, 0.0, 0.625, 0.5)))  # IoU 0.8, x2 differs by 0.125
    check = compare_detections(got, ref, CFG, tol)
    assert (check.matched, check.unmatched_ncnn, check.unmatched_ref) == (1, 0, 0)
    assert (check.max_box_err, check.max_score_err, check.score_limit) == (0.125, 0.25, 0.25)
    assert check.passed and check.unexplained == []
    assert check.tie_tol == 0.25  # min(score limit 0.25, max(1e-5, 4 x 0.25))
    assert check.threshold == 0.05 and check.inconclusive == ""
    split = compare_detections(got, ref, CFG, replace(tol, box_atol=0.0625))
    assert (split.matched, split.unmatched_ncnn, split.unmatched_ref) == (0, 1, 1)


def test_a_score_exactly_min_score_is_not_compared_on_either_side():
    tol = replace(FP32, min_score=0.5)
    for got, ref in ((rows((1, 0.9, FAR), (1, 0.5, CORNER)), rows((1, 0.9, FAR))),
                     (rows((1, 0.9, FAR)), rows((1, 0.9, FAR), (1, 0.5, CORNER)))):
        check = compare_detections(got, ref, CFG, tol)
        assert (check.matched, check.unmatched_ncnn, check.unmatched_ref) == (1, 0, 0)
        assert check.threshold == 0.5 and check.passed


# compare_detections: the summary ------------------------------------------------------------------------

def test_without_candidates_a_difference_off_the_cuts_is_named_by_side():
    got = rows((1, 0.9, CORNER))
    ref = rows((1, 0.9, FAR))
    check = compare_detections(got, ref, CFG, FP32)
    assert check.unexplained == [
        "only ncnn has label 1 score 0.900000 box (0.0000, 0.0000, 0.2500, 0.2500), not at a cut-off",
        "only PyTorch has label 1 score 0.900000 box (0.5000, 0.5000, 0.7500, 0.7500), not at a cut-off"]
    assert not check.passed and check.inconclusive == ""
    assert check.excused == dict.fromkeys(("nms tie", "keep_top_k cut", "threshold cut", "nms_top_k cut"), 0)
    assert [r["status"] for r in check.rows] == ["unexplained", "unexplained"]


def test_no_row_matched_but_each_at_the_threshold_is_inconclusive():
    """One ncnn row at the confidence threshold, nothing on the other side: excused, nothing compared."""
    check = compare_detections(rows((1, 0.05, CORNER)), rows(), CFG, FP32)
    assert check.inconclusive == "no row matched (1 only in ncnn, 0 only in PyTorch, each a near-tie)"
    assert check.verdict == "inconclusive" and check.passed and check.unexplained == []
    assert check.excused["threshold cut"] == 1


def test_all_candidate_scores_tied_every_difference_is_excused_as_such():
    """Two priors, both scoring exactly 0.5 for label 1 (class 2 scores 0): ncnn keeps one, PyTorch the
    other. No perturbation is needed to explain it and nothing can be judged."""
    cand = Candidates(np.asarray([CORNER, FAR], np.float32), np.asarray([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]], np.float32))
    check = compare_detections(rows((1, 0.5, CORNER)), rows((1, 0.5, FAR)), CFG, FP32, cand)
    assert check.tie_tol == 1e-5  # no pair, nothing measured: the floor tie_atol
    assert check.inconclusive == (
        "all 2 candidate scores above the threshold 0.05 lie within 0.0e+00 of each other (2 x the tie "
        "tolerance is 2.0e-05): which rows DetectionOutput keeps is float noise")
    assert check.unexplained == [] and check.passed and check.verdict == "inconclusive"
    assert check.excused == {"nms tie": 0, "keep_top_k cut": 0, "threshold cut": 0, "nms_top_k cut": 0,
                             "all scores tied": 2}
    assert [(r["status"], r["side"], r["reason"]) for r in check.rows] == [
        ("excused", "ncnn", "all scores tied"), ("excused", "PyTorch", "all scores tied")]
    assert (check.max_box_err, check.max_score_err) == (0.0, 0.0)


def test_equal_ious_go_to_the_lowest_row_index_whatever_their_number():
    """17 ncnn rows compete for one reference row: U rows are its twin (IoU 1), H rows overlap it by 0.5.
    Among the twins the first one (row 2) gets it; a sort that is not stable (NumPy's quicksort beyond 16
    elements) gives it to another twin on this pattern."""
    pattern = "HHUUHHHUHHUUUHUHU"
    got = rows(*((1, 0.9, UNIT if p == "U" else HALF) for p in pattern))
    pairs, got_left, ref_left = match_detections(got, rows((1, 0.9, UNIT)), 0.5)
    assert pairs == [(2, 0)] and ref_left == [] and got_left == [k for k in range(17) if k != 2]


def test_identify_takes_the_closest_prior_within_tolerance_not_the_first():
    """Two class-1 priors whose boxes differ by 5e-4 (inside box_atol 1e-3) with equal scores: an ncnn row
    that is exactly one of them is that prior, whichever comes first (the last mutant #21 had left)."""
    from ssd2ncnn.verify.detections import identify

    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.1005, 0.1, 0.5, 0.5]], np.float32)
    cand = Candidates(boxes, np.array([[0.1, 0.9], [0.1, 0.9]], np.float32))
    for k in (0, 1):
        row = np.array([[1.0, 0.9, *boxes[k]]], np.float32)
        assert identify(row, cand, 1e-3, 1e-5) == ([k], [])
    far = np.array([[1.0, 0.9, 0.2, 0.1, 0.5, 0.5]], np.float32)  # 0.1 from both boxes: no prior
    priors, failures = identify(far, cand, 1e-3, 1e-5)
    assert priors == [None] and len(failures) == 1 and "is no PyTorch prior's box and score" in failures[0]
