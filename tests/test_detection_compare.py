"""The tie-aware detection comparison on its own (no ncnn): DetectionOutput's algorithm
(`model.postprocess.select`) on seeded candidates stands in for both runtimes, so the test controls
exactly which differences there are."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ssd2ncnn.config import get_preset
from ssd2ncnn.verify.detections import Candidates, compare_detections, reference_rows
from ssd2ncnn.verify.tolerances import FP32

CFG = replace(get_preset("voc300", num_classes=3), conf_threshold=0.05, nms_top_k=40, keep_top_k=12)
NOISE = 3e-6  # the "float noise between the runtimes" the property tests add: well inside tie_atol (1e-5)


def candidates(seed: int, priors: int = 80, tied: bool = True) -> Candidates:
    """Boxes in a few clusters (so NMS acts) and scores on a coarse grid (so many are tied), or spread
    out (`tied=False`: then every difference is a real one)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.2, 0.8, (5, 2))[rng.integers(0, 5, priors)] + rng.normal(0, 0.03, (priors, 2))
    half = rng.uniform(0.05, 0.15, (priors, 2))
    boxes = np.concatenate([centres - half, centres + half], axis=1).astype(np.float32)
    fg = rng.uniform(0, 0.45, (priors, 2))
    if tied:
        fg = np.round(fg * 20) / 20  # levels 0.05 apart: ties everywhere
    scores = np.concatenate([1 - fg.sum(1, keepdims=True), fg], axis=1).astype(np.float32)
    return Candidates(boxes, scores)


def noisy(cand: Candidates, seed: int, scale: float = NOISE) -> Candidates:
    rng = np.random.default_rng(seed + 10_000)
    return Candidates(cand.boxes, (cand.scores + rng.uniform(-scale, scale, cand.scores.shape)).astype(np.float32))


def compare(ncnn_rows, cand, cfg=CFG, measured=NOISE):
    return compare_detections(ncnn_rows, reference_rows(cand, cfg), cfg, FP32, cand, measured)


def _kept(rows):
    return {(int(r[0]), *np.round(r[2:6], 6)) for r in rows}


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000))
def test_a_reorder_of_near_tied_scores_is_accepted(seed):
    cand = candidates(seed)
    ncnn = reference_rows(noisy(cand, seed), CFG)  # DetectionOutput on scores moved by float noise
    check = compare(ncnn, cand)
    assert check.passed, check.unexplained[:3]


def test_the_noise_really_changes_the_detections():
    """The property above is not vacuous: on most seeds the noisy run keeps other boxes than the exact
    one, and the check excuses them as near-ties."""
    changed = 0
    for seed in range(30):
        cand = candidates(seed)
        ncnn = reference_rows(noisy(cand, seed), CFG)
        if _kept(ncnn) != _kept(reference_rows(cand, CFG)):
            changed += 1
            check = compare(ncnn, cand)
            assert check.passed and sum(check.excused.values()) > 0, check
    assert changed >= 10, changed


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from([0.25, 0.35, 0.6, 0.8]))
def test_a_changed_nms_threshold_is_not_accepted(seed, nms):
    # untied scores: with ties everywhere a changed threshold can give an output that a reorder of tied
    # scores also gives, and then nothing distinguishes them
    cand = candidates(seed, tied=False)
    edited = replace(CFG, nms_threshold=nms)
    ncnn = reference_rows(noisy(cand, seed), edited)
    assume(_kept(ncnn) != _kept(reference_rows(noisy(cand, seed), CFG)))  # the edit changed the output
    assert not compare(ncnn, cand).passed


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(0, 11))
def test_a_dropped_box_is_not_accepted(seed, k):
    cand = candidates(seed)
    ncnn = reference_rows(noisy(cand, seed), CFG)
    assume(k < len(ncnn) and ncnn[k, 1] > CFG.conf_threshold + 1e-4)  # not a row at the threshold cut
    check = compare(np.delete(ncnn, k, axis=0), cand)
    assert not check.passed and check.unexplained


def test_a_flip_cascade_is_excused_but_a_real_score_gap_is_not():
    # A and B overlap (IoU 0.6) with near-tied scores; C overlaps B only. PyTorch keeps B (higher by 1e-7),
    # which suppresses A and C; ncnn keeps A, and so also C: two extra rows and one missing, all one tie.
    boxes = np.array([[0.10, 0.1, 0.50, 0.5], [0.20, 0.1, 0.60, 0.5], [0.35, 0.1, 0.75, 0.5]], np.float32)
    scores = np.array([[0.5, 0.5, 0.0], [0.5 - 1e-7, 0.5 + 1e-7, 0.0], [0.6, 0.4, 0.0]], np.float32)
    cand = Candidates(boxes, scores)
    ref = reference_rows(cand, CFG)
    assert [int(r[0]) for r in ref] == [1] and np.allclose(ref[0, 2:], boxes[1])
    ncnn = np.array([[1, 0.5, *boxes[0]], [1, 0.4, *boxes[2]]], np.float32)
    check = compare(ncnn, cand)
    assert check.passed and check.excused["nms tie"] == 3, check
    # the same choice with B ahead by 0.01 is no tie: ncnn's output is wrong
    scores[1] = [0.49, 0.51, 0.0]
    check = compare(ncnn, Candidates(boxes, scores))
    assert not check.passed and any("ncnn keeps label 1 prior 0" in u for u in check.unexplained), check


@pytest.mark.parametrize("gap, passes", [(1e-7, True), (1e-2, False)])
def test_a_tie_at_the_keep_top_k_cut(gap, passes):
    # 13 disjoint boxes (NMS keeps all), keep_top_k 12: the 12th and 13th scores differ by `gap`, PyTorch
    # keeps the higher one and ncnn the other.
    x = np.arange(13, dtype=np.float32) * 0.07
    boxes = np.stack([x, x * 0, x + 0.05, x * 0 + 0.05], axis=1)
    fg = np.linspace(0.9, 0.4, 13).astype(np.float32)
    fg[12] = fg[11] - gap
    cand = Candidates(boxes, np.stack([1 - fg, fg, fg * 0], axis=1).astype(np.float32))
    ref = reference_rows(cand, CFG)
    ncnn = np.concatenate([ref[:11], [[1, fg[12], *boxes[12]]]]).astype(np.float32)
    check = compare(ncnn, cand)
    assert check.passed is passes, check
    if passes:
        assert check.excused == {"nms tie": 0, "keep_top_k cut": 2, "threshold cut": 0, "nms_top_k cut": 0}


def test_without_candidates_only_cut_differences_pass():
    cand = candidates(5)
    ref = reference_rows(cand, CFG)
    check = compare_detections(ref[:-1], ref, CFG, FP32)  # the last row, above the threshold, missing
    assert not check.passed and "only PyTorch has" in check.unexplained[0]
    assert compare_detections(ref, ref, CFG, FP32).passed


def test_where_an_excused_row_sits_by_hand():
    """`_reason` on rows placed by hand: threshold 0.05, tie tolerance 1e-5, an nms_top_k tie of class 1 at
    0.5, keep_top_k 2 with the other side's lowest row at 0.3. Each boundary is inclusive."""
    from ssd2ncnn.verify.detections import CutTie, _reason

    tie, thr = 1e-5, 0.05
    cuts = {1: CutTie(1, 0.5, 4, 2)}
    others = np.array([[2, 0.9, 0, 0, 1, 1], [2, 0.3, 0, 0, 1, 1]])
    cut_text = "tie at the nms_top_k cut of class 1: 4 candidates at score 0.5 for 2 places"

    def why(label, score, x1=0.6, keep_top_k=2):
        return _reason(np.array([label, score, x1, 0.1, 0.9, 0.9]), others, thr, keep_top_k, tie, cuts)

    assert why(2, thr + tie) == ("threshold cut", "threshold cut")  # at the threshold plus the tolerance
    assert why(2, 0.06, x1=0.01, keep_top_k=3) == ("nms tie", "nms tie")  # the score decides, not x1
    assert why(1, 0.5 + 2 * tie) == ("nms_top_k cut", cut_text)  # within 2 tolerances of the cut score
    assert why(1, 0.5 + 2.5 * tie) == ("nms tie", "nms tie")  # above the tied block: 0.5 + 2.5e-5 > 0.3
    assert why(2, 0.3 + tie) == ("keep_top_k cut", "keep_top_k cut")  # the other side full, at its lowest
    assert why(2, 0.3 + tie, keep_top_k=3) == ("nms tie", "nms tie")  # the other side not full: no cut
    assert why(2, 0.3 + 2 * tie) == ("nms tie", "nms tie")


def test_reference_rows_are_float32_like_ncnn_detection_out():
    cand = candidates(3)
    rows = reference_rows(cand, CFG)
    assert rows.dtype == np.float32 and rows.shape[1] == 6 and len(rows) > 0
    assert reference_rows(Candidates(cand.boxes, cand.scores * 0), CFG).shape == (0, 6)


def test_candidates_from_the_contract_blobs_by_hand():
    """mbox_loc (P*4), mbox_conf_flatten (P*C) and mbox_priorbox (2, P*4: corner priors, then the
    variances), as ncnn writes them, decoded as DetectionOutput does (variances 0.1, 0.1, 0.2, 0.2)."""
    from ssd2ncnn.verify.detections import candidates_from_blobs

    priors = [0.1, 0.2, 0.3, 0.6, 0.5, 0.5, 0.7, 0.9]
    priorbox = np.array([priors, [0.1, 0.1, 0.2, 0.2] * 2])  # float64: the candidates are float32 all the same
    # prior 0 unmoved; prior 1 (centre 0.6, 0.7, size 0.2 x 0.4): centre x + 0.1 x 1 x 0.2, height x exp(0.2 x 5 ln 2 / ...)
    loc = np.array([0, 0, 0, 0, 1, 0, 0, np.log(2) / 0.2], np.float32)
    conf = np.array([0.7, 0.2, 0.1, 0.1, 0.3, 0.6])
    cand = candidates_from_blobs(loc, conf, priorbox, CFG)
    np.testing.assert_allclose(cand.boxes, [[0.1, 0.2, 0.3, 0.6], [0.52, 0.3, 0.72, 1.1]], atol=1e-6)
    np.testing.assert_array_equal(cand.scores, np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], np.float32))
    assert cand.scores.dtype == np.float32


def test_all_tied_by_hand():
    """Inconclusive when every foreground score that could pass the threshold (0.05, less the tolerance
    1e-5) lies within 2 x 1e-5 of every other."""
    from ssd2ncnn.verify.detections import all_tied

    def tied(*fg, threshold=0.05):
        fg_ = np.array([*fg, 0.01, 0.02])  # two priors far below the threshold: never counted
        return all_tied(Candidates(np.zeros((len(fg_), 4)), np.stack([1 - fg_, fg_], axis=1)), threshold, 1e-5)

    assert tied(0.05 + 5e-6, 0.05 + 6e-6) == (
        "all 2 candidate scores above the threshold 0.05 lie within 1.0e-06 of each other (2 x the tie "
        "tolerance is 2.0e-05): which rows DetectionOutput keeps is float noise")
    assert tied(0.3, 0.3 + 1.9e-5, 0.3 + 1e-5).startswith("all 3 candidate scores")
    assert tied(0.3, 0.3 + 2.5e-5) == ""  # spread 2.5e-5 > 2e-5
    assert tied(0.3) == ""  # one candidate: nothing to tie
    assert tied(0.3, 0.3, threshold=0.4) == ""  # none can pass the threshold
    assert all_tied(None, 0.05, 1e-5) == ""
    assert all_tied(Candidates(np.zeros((3, 4)), np.ones((3, 1))), 0.05, 1e-5) == ""  # background only
