"""The pytorch-ssd golden folders (scripts/make_pytorch_ssd_golden.py) turned back into what a user has:
the state dict their `net.save` writes and the label file beside it; and the comparison of ncnn's
detections with their Predictor's, which excuses exactly the documented differences (docs/pytorch-ssd.md)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = tuple(sorted(p.name for p in GOLDEN.glob("pytorch-ssd-*")))
# the bar: priors to 1e-6, scores to 1e-4, boxes to 1e-3 of the image side
PRIOR_ATOL, SCORE_ATOL, BOX_ATOL = 1e-6, 1e-4, 1e-3
IOU_EPS = 1e-5  # their iou_of's epsilon in the denominator (vision/utils/box_utils.py)


def state_dict(folder: Path, meta: dict) -> dict[str, torch.Tensor]:
    arrays = np.load(folder / "weights.npz")
    sd = {}
    for key, shape in meta["shapes"].items():
        if f"b:{key}" in arrays:
            signs = np.unpackbits(arrays[f"b:{key}"], count=int(np.prod(shape))).astype(np.float32) * 2 - 1
            sd[key] = torch.from_numpy(signs.reshape(shape) * arrays[f"s:{key}"])
        else:
            sd[key] = torch.from_numpy(arrays[f"t:{key}"].copy())
    return sd


def write_checkpoint(folder: Path, meta: dict, root: Path) -> Path:
    """`{net}-Epoch-0-Loss-1.0.pth` (train_ssd.py's name) with the label file beside it."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{meta['net']}-Epoch-0-Loss-1.0.pth"
    torch.save(state_dict(folder, meta), path)
    shutil.copy(folder / meta["label_file"], root / meta["label_file"])
    return path


def predictor_rows(stored, name: str, width: int, height: int) -> np.ndarray:
    """Their Predictor's output as rows (label, score, x1, y1, x2, y2) in [0, 1] of the picture."""
    boxes = stored[f"{name}/boxes"].astype(np.float64).reshape(-1, 4) / np.array([width, height, width, height])
    return np.column_stack([stored[f"{name}/labels"].astype(np.float64), stored[f"{name}/scores"], boxes]).reshape(-1, 6)


def _iou(box: np.ndarray, others: np.ndarray, eps: float) -> np.ndarray:
    """Their iou_of: areas of clamped sizes, overlap / (area0 + area1 - overlap + eps)."""
    lt, rb = np.maximum(box[:2], others[:, :2]), np.minimum(box[2:], others[:, 2:])
    overlap = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(np.clip(box[2:] - box[:2], 0, None))
    areas = np.prod(np.clip(others[:, 2:] - others[:, :2], 0, None), axis=1)
    return overlap / (area + areas - overlap + eps)


def hard_nms_rows(boxes: np.ndarray, scores: np.ndarray, cfg, eps: float) -> np.ndarray:
    """Their Predictor's selection (per class: score > threshold, best `nms_top_k`, greedy NMS dropping
    IoU > threshold with their epsilon), class by class, on given candidates."""
    rows = []
    for c in range(1, scores.shape[1]):
        idx = np.nonzero(scores[:, c] > cfg.conf_threshold)[0]
        order = list(idx[np.argsort(-scores[idx, c], kind="stable")][: cfg.nms_top_k])
        while order:
            best, order = order[0], order[1:]
            rows.append((c, scores[best, c], *boxes[best]))
            if order:
                keep = _iou(boxes[best], boxes[order], eps) <= cfg.nms_threshold
                order = [p for p, k in zip(order, keep, strict=True) if k]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 6)


def by_class(rows: np.ndarray) -> np.ndarray:
    """The Predictor's order (class by class, score descending): the output-order difference, excused."""
    return rows[np.lexsort((-rows[:, 1], rows[:, 0]))]



@dataclass
class GoldenCheck:
    passed: bool
    matched: int
    excused: dict[str, int]  # rule -> rows (or 1 for the order)
    max_score_err: float
    max_box_err: float
    detail: object  # the failing verify.detections check, for the assertion message


def judge(pred: np.ndarray, got: np.ndarray, cand, cfg) -> GoldenCheck:
    """Their Predictor's rows `pred` against ncnn's `got`, with ncnn's candidates `cand`; differences are
    excused by these named rules only:
    - "output order": the Predictor groups rows by class, DetectionOutput sorts all by score;
    - verify's near-tie rules (nms tie, threshold cut), which replay DetectionOutput on the candidates with
      scores moved within the measured noise (`verify.detections`);
    - "iou epsilon": rows that differ because their IoU has +1e-5 in the denominator; excused only when
      their selection replayed on ncnn's candidates with the epsilon gives the Predictor's rows exactly and
      without it ncnn's rows exactly, so nothing else differs.
    Their per-class top_k is not excused: the Predictor ran with its default (none)."""
    from ssd2ncnn.verify.detections import compare_detections
    from ssd2ncnn.verify.tolerances import Tolerances

    tol = Tolerances(score_atol=SCORE_ATOL, box_atol=BOX_ATOL, match_iou=0.5)
    order = {"output order": int(not np.array_equal(by_class(got), got))}
    check = compare_detections(pred, got, cfg, tol, cand)
    if check.passed:
        excused = order | {k: v for k, v in check.excused.items() if v}
        return GoldenCheck(True, check.matched, excused, check.max_score_err, check.max_box_err, check)
    boxes, scores = cand.boxes.astype(np.float64), cand.scores.astype(np.float64)
    with_eps, without = hard_nms_rows(boxes, scores, cfg, IOU_EPS), hard_nms_rows(boxes, scores, cfg, 0.0)
    same = [compare_detections(a, b, cfg, tol) for a, b in ((pred, with_eps), (got, without))]
    if not all(c.passed and c.unmatched_ncnn == c.unmatched_ref == 0 for c in same):
        return GoldenCheck(False, check.matched, {}, check.max_score_err, check.max_box_err, check)
    diff = compare_detections(with_eps, without, cfg, tol)
    return GoldenCheck(True, diff.matched, order | {"iou epsilon": diff.unmatched_ncnn + diff.unmatched_ref},
                       max(c.max_score_err for c in same), max(c.max_box_err for c in same), diff)
