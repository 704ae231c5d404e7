"""Comparisons: tensors by max abs / max rel error, detections by label and IoU (row order is not
meaningful: DetectionOutput's quicksort is unstable for equal scores)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..data.boxes import iou_matrix


@dataclass
class TensorCheck:
    name: str
    stage: str  # the pipeline stage that produced the compared tensor: export, pnnx, patch
    max_abs: float
    max_rel: float
    limit: float
    passed: bool
    shape_ok: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def compare_tensor(name: str, stage: str, got: np.ndarray, ref: np.ndarray, atol: float, rtol: float = 0.0) -> TensorCheck:
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.size != ref.size:
        return TensorCheck(name, stage, float("inf"), float("inf"), atol, False, shape_ok=False)
    got, ref = got.reshape(-1), ref.reshape(-1)
    diff = np.abs(got - ref)
    max_abs = float(diff.max()) if diff.size else 0.0
    if not np.all(np.isfinite(got)):
        max_abs = float("inf")
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    max_rel = float((diff / np.maximum(np.abs(ref), 1e-6)).max()) if diff.size else 0.0
    limit = atol + rtol * scale
    return TensorCheck(name, stage, max_abs, max_rel, limit, max_abs <= limit)


@dataclass
class DetectionCheck:
    matched: int
    unmatched_ncnn: int
    unmatched_ref: int
    excused: int  # unmatched detections at a cut-off (conf threshold or keep_top_k), within score_atol of it
    ties: int  # unmatched detections with an equal-score (within score_atol) same-label detection opposite
    max_score_err: float
    max_box_err: float
    passed: bool

    def as_dict(self) -> dict:
        return asdict(self)


def match_detections(got: np.ndarray, ref: np.ndarray, match_iou: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs (ncnn row, reference row) of one label, taken greedily by decreasing IoU: a detection's own
    twin (IoU ~1) is always preferred over a neighbouring prior's box of similar score."""
    pairs: list[tuple[int, int]] = []
    if len(got) and len(ref):
        iou = iou_matrix(got[:, 2:6], ref[:, 2:6])
        iou[got[:, 0][:, None] != ref[:, 0][None, :]] = -1.0
        cand = np.argwhere(iou >= match_iou)
        order = np.argsort(-iou[cand[:, 0], cand[:, 1]], kind="stable")
        used_got, used_ref = set(), set()
        for j, i in cand[order]:
            if j not in used_got and i not in used_ref:
                pairs.append((int(j), int(i)))
                used_got.add(j)
                used_ref.add(i)
    got_left = sorted(set(range(len(got))) - {p[0] for p in pairs})
    ref_left = sorted(set(range(len(ref))) - {p[1] for p in pairs})
    return pairs, got_left, ref_left


# Ties may explain at most this share of the detections: a real defect (a wrong box decode, a permuted
# head) moves most of them and must not pass as "ties". Cut-offs are not capped: a detection within
# score_atol of the other list's boundary is exactly where the two lists may legitimately differ (an
# untrained model's scores all equal 1/C, so all of its detections sit at the boundary).
MAX_EXPLAINED_SHARE = 0.1


def compare_detections(got: np.ndarray, ref: np.ndarray, conf_threshold: float, keep_top_k: int, score_atol: float, box_atol: float, match_iou: float, min_score: float = 0.0) -> DetectionCheck:
    """`min_score` > 0 compares only the detections scoring above it (int8: the low-score tail moves)."""
    got = np.asarray(got, dtype=np.float64).reshape(-1, 6)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1, 6)
    if min_score > 0:
        got, ref = got[got[:, 1] > min_score], ref[ref[:, 1] > min_score]
        conf_threshold = max(conf_threshold, min_score)
    pairs, got_left, ref_left = match_detections(got, ref, match_iou)
    # A pair whose boxes disagree is two different, overlapping priors, not one detection with a wrong
    # box: both become unmatched and must be explained below.
    split = [(j, i) for j, i in pairs if np.abs(got[j, 2:6] - ref[i, 2:6]).max() > box_atol]
    pairs = [p for p in pairs if p not in split]
    got_left = sorted(got_left + [j for j, _ in split])
    ref_left = sorted(ref_left + [i for _, i in split])
    score_err = max((abs(got[j, 1] - ref[i, 1]) for j, i in pairs), default=0.0)
    box_err = max((float(np.abs(got[j, 2:6] - ref[i, 2:6]).max()) for j, i in pairs), default=0.0)

    def cutoff(rows: np.ndarray) -> float:
        # the other list ends at its lowest score when it is full (keep_top_k), else at the threshold
        return float(rows[:, 1].min()) if len(rows) >= keep_top_k else conf_threshold

    def tie(row: np.ndarray, others: np.ndarray) -> bool:
        # Flat image regions give neighbouring priors equal scores; which one NMS keeps is decided by
        # float rounding. A same-label detection of equal score on the other side explains it.
        return bool(np.any((others[:, 0] == row[0]) & (np.abs(others[:, 1] - row[1]) <= score_atol)))

    excused = ties = 0
    unexplained = 0
    for rows, left, others in ((got, got_left, ref), (ref, ref_left, got)):
        for k in left:
            if abs(rows[k, 1] - cutoff(others)) <= score_atol:
                excused += 1
            elif tie(rows[k], others):
                ties += 1
            else:
                unexplained += 1
    total = max(len(got), len(ref), 1)
    passed = bool(
        unexplained == 0
        and ties <= max(4, MAX_EXPLAINED_SHARE * total)
        and score_err <= score_atol
        and box_err <= box_atol
    )
    return DetectionCheck(len(pairs), len(got_left), len(ref_left), excused, ties, float(score_err), float(box_err), passed)
