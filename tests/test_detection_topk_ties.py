"""Ties at DetectionOutput's per-class nms_top_k cut (ncnn src/layer/detectionoutput.cpp: per class, the
candidates above confidence_threshold are sorted by score and cut to nms_top_k before NMS).

When the last place of a class's list and the first candidate left out are tied, which of the tied
candidates make the list is the sort's tie order: ncnn's qsort and torch's sort differ there, and NMS
keeps other boxes downstream. The cases below are worked out by hand on a few boxes; the property test
stands in for ncnn's qsort with DetectionOutput (`select`, stable) run on the priors in another order,
which is DetectionOutput with another order of the exactly tied scores."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssd2ncnn.config import get_preset
from ssd2ncnn.verify.detections import Candidates, CutTie, compare_detections, nms_top_k_ties, reference_rows
from ssd2ncnn.verify.tolerances import FP32

CFG = replace(get_preset("voc300", num_classes=3), conf_threshold=0.05, nms_threshold=0.45, nms_top_k=3,
              keep_top_k=12)
NOISE = 3e-6  # measured score error: tie tolerance max(1e-5, 4 x 3e-6) = 1.2e-5
TIE = 1.2e-5

# Class 1, five priors. A (0.9) is alone above the rest; B overlaps A (IoU 0.6 > 0.45), so any NMS that
# sees A first drops B; C, D, E touch nothing. B is the last prior, so a stable sort puts it last among
# the tied ones.
A, C, D, E, B = range(5)
BOXES = np.array([[0.00, 0.00, 0.20, 0.20],  # A
                  [0.50, 0.00, 0.60, 0.10],  # C
                  [0.70004, 0.00, 0.80, 0.10],  # D (messages round it to 0.7)
                  [0.50, 0.50, 0.60, 0.60],  # E
                  [0.05, 0.00, 0.25, 0.20]],  # B: IoU with A = 0.03 / 0.05 = 0.6
                 np.float32)


def _cand(fg: list[float]) -> Candidates:
    fg_ = np.asarray(fg, np.float32)
    return Candidates(BOXES, np.stack([1 - fg_, fg_, 0 * fg_], axis=1).astype(np.float32))


def _rows(cand: Candidates, priors: list[int]) -> np.ndarray:
    return np.array([[1, cand.scores[p, 1], *cand.boxes[p]] for p in priors], np.float32)


def _check(ncnn: np.ndarray, cand: Candidates, cfg=CFG):
    return compare_detections(ncnn, reference_rows(cand, cfg), cfg, FP32, cand, NOISE)


TIED = _cand([0.9, 0.5, 0.5, 0.5, 0.5])  # C, D, E, B tied at 0.5 for the 2 places after A


def test_the_reference_keeps_the_first_tied_priors_by_index():
    # nms_top_k 3: the list is A, C, D (stable: the tied ones by prior index); NMS keeps all three
    assert [tuple(r[2:]) for r in reference_rows(TIED, CFG)] == [tuple(BOXES[p]) for p in (A, C, D)]


def test_the_cut_tie_is_found_and_counted_by_hand():
    # scores above 0.05, sorted: 0.9, 0.5 x 4; the 3rd (0.5) and the 4th (0.5) are tied; 4 candidates
    # within 2 x 1.2e-5 of 0.5, 1 above them: 2 places
    assert nms_top_k_ties(TIED, CFG, TIE) == {1: CutTie(1, pytest.approx(0.5), 4, 2)}
    assert CutTie(1, 0.5, 4, 2).reason() == "tie at the nms_top_k cut of class 1: 4 candidates at score 0.5 for 2 places"
    # a gap of 3e-5 > 2 x 1.2e-5 between the last place and the first left out: no tie
    assert nms_top_k_ties(_cand([0.9, 0.5, 0.5, 0.5 - 3e-5, 0.5 - 3e-5]), CFG, TIE) == {}
    # as many candidates as places: nothing is cut
    assert nms_top_k_ties(_cand([0.9, 0.5, 0.5, 0.01, 0.01]), CFG, TIE) == {}


def test_the_tied_block_around_a_cut_by_hand():
    # nms_top_k 3 on 0.9, 0.50002, 0.5, 0.49999, 0.49997: the last place scores 0.5 and the first left out
    # 0.49999, 1e-5 apart (< 2 x 1.2e-5); within 2.4e-5 of 0.5 lie 0.50002, 0.5 and 0.49999 (0.49997 is
    # 3e-5 away), one candidate (0.9) lies above them: 3 candidates for 2 places
    cand = _cand([0.9, 0.50002, 0.5, 0.49999, 0.49997])
    assert nms_top_k_ties(cand, CFG, TIE) == {1: CutTie(1, 0.5, 3, 2)}


def test_a_tie_straddling_the_cut_is_excused():
    # ncnn's qsort ordering the tied ones B, C, D, E fills the list with A, B, C; NMS drops B (under A):
    # ncnn outputs A, C and PyTorch A, C, D. D is only in PyTorch, at the cut.
    ncnn = _rows(TIED, [A, C])
    check = _check(ncnn, TIED)
    assert check.passed and check.matched == 2 and (check.unmatched_ncnn, check.unmatched_ref) == (0, 1), check
    assert check.excused == {"nms tie": 0, "keep_top_k cut": 0, "threshold cut": 0, "nms_top_k cut": 1}
    (row,) = [r for r in check.rows if r["status"] == "excused"]
    assert row["side"] == "PyTorch" and row["reason"] == "tie at the nms_top_k cut of class 1: 4 candidates at score 0.5 for 2 places"
    as_json = check.as_dict()  # the --report JSON of the case
    assert (as_json["compared"], as_json["verdict"], as_json["excused"]["nms_top_k cut"]) == (3, "pass", 1)


def test_every_choice_of_the_tied_candidates_is_excused():
    # B never survives A; each pair of C, D, E can fill the 2 places (or one of them, with B in the list)
    for kept in ([A, C, D], [A, C, E], [A, D, E], [A, C], [A, D], [A, E]):
        assert _check(_rows(TIED, kept), TIED).passed, kept


def test_the_tie_does_not_excuse_more_places_than_it_has():
    # A alone: the list would need two places filled by boxes A suppresses, and only B is one
    check = _check(_rows(TIED, [A]), TIED)
    assert not check.passed and any("ncnn drops label 1 prior" in u for u in check.unexplained), check
    # A and three tied ones: only 2 places
    check = _check(_rows(TIED, [A, C, D, E]), TIED)
    assert not check.passed and any("ncnn keeps label 1 prior" in u for u in check.unexplained), check


def test_a_smaller_nms_top_k_with_distinct_scores_fails():
    # A 0.9, C 0.7, D 0.6, E 0.55, B 0.5: PyTorch's list A, C, D, all kept; ncnn run with nms_top_k 2
    # keeps A, C: D (0.6) is 0.05 from E, no tie
    cand = _cand([0.9, 0.7, 0.6, 0.55, 0.5])
    ncnn = reference_rows(cand, replace(CFG, nms_top_k=2))
    assert len(ncnn) == 2
    check = _check(ncnn, cand)
    assert nms_top_k_ties(cand, CFG, TIE) == {}
    assert not check.passed and check.unexplained == [
        "ncnn drops label 1 prior 2 (PyTorch score 0.600000, box [0.7, 0.0, 0.8, 0.1]), which DetectionOutput "
        "keeps for every score change within 1.2e-05"], check


def test_a_tie_far_from_the_cut_does_not_excuse_a_cut_change():
    # C and D tied at 0.8, well above the cut; the 3rd and 4th scores 0.8 and 0.6 are no tie. ncnn with
    # nms_top_k 2 keeps A and one of C, D: the other is dropped, and no reorder of C and D explains it.
    cand = _cand([0.9, 0.8, 0.8, 0.6, 0.5])
    assert nms_top_k_ties(cand, CFG, TIE) == {}
    check = _check(reference_rows(cand, replace(CFG, nms_top_k=2)), cand)
    assert not check.passed and any("ncnn drops label 1 prior 2" in u for u in check.unexplained), check


def test_a_suppressor_scored_just_below_the_box_it_suppresses_is_a_tie():
    # A alone at 0.9; C 0.5, B2 0.500001 (overlaps C: IoU 0.6), U 0.500002 (touches nothing): three within
    # 2e-6 for the 2 places after A. PyTorch's list A, U, B2 keeps all three (C is left out). ncnn's noise
    # may order C, B2, U: the list A, C, B2 keeps A and C (C suppresses B2). For the replay to fill the list
    # with B2 rather than U, C (kept, moved up) must count as B2's suppressor though it scores 1e-6 lower.
    boxes = np.array([[0.00, 0.0, 0.20, 0.2], [0.50, 0.0, 0.60, 0.1], [0.525, 0.0, 0.625, 0.1],
                      [0.50, 0.5, 0.60, 0.6]], np.float32)
    fg = np.array([0.9, 0.5, 0.500001, 0.500002], np.float32)
    cand = Candidates(boxes, np.stack([1 - fg, fg, 0 * fg], axis=1))
    assert [tuple(r[2:]) for r in reference_rows(cand, CFG)] == [tuple(boxes[p]) for p in (0, 3, 2)]
    check = _check(np.array([[1, fg[p], *boxes[p]] for p in (0, 1)], np.float32), cand)
    assert check.passed and check.excused["nms_top_k cut"] == 3, check


def test_a_larger_nms_top_k_fails_when_the_list_had_no_place():
    # A 0.9 and B 0.8 (B under A) fill nms_top_k 2; C (0.5, alone) has no place: DetectionOutput gives A
    # only. ncnn run with nms_top_k 3 also keeps C. B cannot be moved out of the list: it is 0.3 above C.
    cand = _cand([0.9, 0.5, 0.01, 0.01, 0.8])
    cfg = replace(CFG, nms_top_k=2)
    assert len(reference_rows(cand, cfg)) == 1
    ncnn = reference_rows(cand, CFG)
    check = compare_detections(ncnn, reference_rows(cand, cfg), cfg, FP32, cand, NOISE)
    assert not check.passed and any("ncnn keeps label 1 prior 1" in u for u in check.unexplained), check


def _tied_candidates(seed: int, priors: int = 60) -> Candidates:
    """Clustered boxes (NMS acts) with scores on a 0.05 grid: ties at every cut."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.2, 0.8, (6, 2))[rng.integers(0, 6, priors)] + rng.normal(0, 0.05, (priors, 2))
    half = rng.uniform(0.03, 0.12, (priors, 2))
    boxes = np.concatenate([centres - half, centres + half], axis=1).astype(np.float32)
    fg = np.round(rng.uniform(0, 0.45, (priors, 2)) * 20) / 20
    return Candidates(boxes, np.concatenate([1 - fg.sum(1, keepdims=True), fg], axis=1).astype(np.float32))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from([4, 8, 15]), st.sampled_from([6, 40]))
def test_detection_output_with_another_tie_order_is_excused(seed, nms_top_k, keep_top_k):
    cand = _tied_candidates(seed)
    cfg = replace(CFG, nms_top_k=nms_top_k, keep_top_k=keep_top_k)
    perm = np.random.default_rng(seed + 1).permutation(len(cand.boxes))
    ncnn = reference_rows(Candidates(cand.boxes[perm], cand.scores[perm]), cfg)
    check = compare_detections(ncnn, reference_rows(cand, cfg), cfg, FP32, cand, NOISE)
    assert check.passed, check.unexplained[:3]


def test_the_property_is_not_vacuous():
    # on most seeds the other tie order keeps other boxes, and the nms_top_k cut is where it happens
    cfg = replace(CFG, nms_top_k=8, keep_top_k=40)
    changed = at_cut = 0
    for seed in range(20):
        cand = _tied_candidates(seed)
        perm = np.random.default_rng(seed + 1).permutation(len(cand.boxes))
        ncnn = reference_rows(Candidates(cand.boxes[perm], cand.scores[perm]), cfg)
        check = compare_detections(ncnn, reference_rows(cand, cfg), cfg, FP32, cand, NOISE)
        changed += check.unmatched_ncnn + check.unmatched_ref > 0
        at_cut += check.excused["nms_top_k cut"] > 0
    assert changed >= 10 and at_cut >= 10, (changed, at_cut)


@pytest.mark.slow
def test_ncnn_fills_a_tied_cut_in_its_own_order_and_verify_excuses_it(tmp_path):
    """End to end, on ncnn itself: a width-0.25 voc300 model whose first level's class logits are its
    biases alone (conv weights zeroed), with anchor 0 at logits (0, 3, 0): all 100 of that anchor's priors
    at 160 px score exactly softmax = 0.909443 for class 1, above every other class-1 candidate. nms_top_k
    30 cuts inside that block; torch's stable sort takes the first 30 priors, ncnn's qsort others."""
    import torch
    from conftest import make_model

    from ssd2ncnn.checkpoint import save_checkpoint
    from ssd2ncnn.converter.convert import convert_model
    from ssd2ncnn.model.ssdlite import head_conv
    from ssd2ncnn.verify.parity import verify_checkpoint
    from ssd2ncnn.verify.verify_images import synthetic_images

    model = make_model("voc300", width=0.25, seed=1, num_classes=3)
    model.cfg = replace(model.cfg, nms_top_k=30)
    with torch.no_grad():
        conv = head_conv(model.conf_heads[0])
        conv.weight.zero_()
        conv.bias[:3] = torch.tensor([0.0, 3.0, 0.0])
    convert_model(model, tmp_path / "out")
    ckpt = save_checkpoint(tmp_path / "model.pth", model)
    (case,) = verify_checkpoint(ckpt, tmp_path / "out", synthetic_images(1, seed=11), [160], FP32).cases
    d = case.detections
    assert case.passed and d.verdict == "pass" and d.matched > 0, case.failures()
    assert d.unmatched_ncnn + d.unmatched_ref > 0  # ncnn did fill the places with other priors
    assert d.excused["nms_top_k cut"] == d.unmatched_ncnn + d.unmatched_ref
    assert {r["reason"] for r in d.rows if r["status"] == "excused"} == {
        "tie at the nms_top_k cut of class 1: 100 candidates at score 0.909443 for 30 places"}


def test_a_row_that_is_no_prior_is_named():
    # ncnn's rows must each be a PyTorch prior of that class: box within box_atol (1e-3) and score within
    # the score limit (6e-5). C moved by 0.01 is no prior; D with its own box but score 0.51 is none either
    # (with E, which PyTorch's list of 3 has no place for, so the rows are replayed, not only matched).
    cand = _cand([0.9, 0.7, 0.6, 0.55, 0.5])
    moved = _rows(cand, [A, C, D])
    moved[1, 2] += 0.01
    check = _check(moved, cand)
    assert not check.passed and check.unexplained == [
        "ncnn's label 1 score 0.700000 box (0.5100, 0.0000, 0.6000, 0.1000) is no PyTorch prior's box and score "
        "(box error > 0.001)"], check
    rescored = _rows(cand, [A, C, D, E])
    rescored[2, 1] = 0.51
    check = _check(rescored, cand)
    assert not check.passed and any("score 0.510000 box (0.7000" in u for u in check.unexplained), check


def test_a_row_within_the_tie_of_min_score_may_fall_either_side():
    # int8 compares only rows scoring above min_score; X scores 6e-6 above min_score 0.3, within the tie
    # tolerance 1.2e-5, so ncnn may have it just below: only PyTorch has it, and that is excused
    tol = replace(FP32, min_score=0.3)
    cand = _cand([0.9, 0.3 + 6e-6, 0.01, 0.01, 0.01])
    ncnn = _rows(cand, [A])
    check = compare_detections(ncnn, reference_rows(cand, CFG), CFG, tol, cand, NOISE)
    assert check.passed and check.unmatched_ref == 1 and check.excused["threshold cut"] == 1, check
    # 3e-5 above it is no tie: ncnn must keep it
    cand = _cand([0.9, 0.3 + 3e-5, 0.01, 0.01, 0.01])
    check = compare_detections(ncnn, reference_rows(cand, CFG), CFG, tol, cand, NOISE)
    assert not check.passed and any("ncnn drops label 1 prior 1" in u for u in check.unexplained), check


def test_a_tie_at_the_cut_on_the_confidence_threshold():
    # nms_top_k 2; A 0.9; B (under A) at 0.050006 and U (alone) at 0.050018, both within the tie tolerance
    # of the threshold 0.05 and of each other: PyTorch's list A, U keeps both; ncnn's noise may order B
    # ahead of U: list A, B keeps A only. B, though scored below threshold + tolerance, must take the place.
    cfg = replace(CFG, nms_top_k=2)
    cand = _cand([0.9, 0.01, 0.01, 0.050018, 0.050006])
    assert [tuple(r[2:]) for r in reference_rows(cand, cfg)] == [tuple(BOXES[p]) for p in (A, E)]
    check = compare_detections(_rows(cand, [A]), reference_rows(cand, cfg), cfg, FP32, cand, NOISE)
    assert check.passed and check.excused["nms_top_k cut"] == 1, check


def test_a_box_at_exactly_the_nms_threshold_is_not_suppressed():
    # G overlaps A by IoU 18/40 = 0.45 exactly (dyadic corners): NMS drops only IoU > 0.45, so G is kept
    # whenever it is in the list and cannot fill a place that ncnn spent on a suppressed box. F (IoU 0.8
    # with A) can. nms_top_k 4: A, C, D and one of G, F; PyTorch's stable order takes G; ncnn took F.
    boxes = np.array([[0, 0, 29 / 64, 0.25], [0.50, 0.5, 0.60, 0.6], [0.70, 0.5, 0.80, 0.6],
                      [11 / 64, 0, 40 / 64, 0.25], [0.05, 0, 0.05 + 29 / 64, 0.25]], np.float32)
    fg = np.array([0.9, 0.5, 0.5, 0.5, 0.5], np.float32)
    cand = Candidates(boxes, np.stack([1 - fg, fg, 0 * fg], axis=1))
    cfg = replace(CFG, nms_top_k=4)
    assert len(reference_rows(cand, cfg)) == 4  # A, C, D and G: G survives A
    ncnn = np.array([[1, fg[p], *boxes[p]] for p in (0, 1, 2)], np.float32)
    check = compare_detections(ncnn, reference_rows(cand, cfg), cfg, FP32, cand, NOISE)
    assert check.passed and check.excused["nms_top_k cut"] == 1, check
