"""Pascal VOC detection metric in pure numpy (no torch), for training, `ssd2ncnn eval` and the verifier.

Per class, detections of all images are sorted by score; each is compared with the ground truth of
highest IoU in its image (VOC devkit rule): IoU >= `iou` with an untaken non-difficult GT is a true
positive, with an already-taken one a false positive, with a difficult GT neither (it is skipped); a
lower IoU is a false positive. AP is the VOC07
11-point interpolated precision (`use_07=True`) or the area under the monotone precision envelope
("all-point", VOC2010+). IoU is continuous (no VOC "+1" pixel convention) so pixel and normalised
coordinates give identical results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .boxes import iou_matrix


def voc_ap(recall: np.ndarray, precision: np.ndarray, use_07: bool = True) -> float:
    """AP from cumulative recall/precision arrays (ordered by decreasing score)."""
    recall, precision = np.asarray(recall, dtype=np.float64), np.asarray(precision, dtype=np.float64)
    if use_07:
        ap = 0.0
        for t in np.linspace(0.0, 1.0, 11):
            above = precision[recall >= t]
            ap += (above.max() if above.size else 0.0) / 11.0
        return float(ap)
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # precision envelope
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def _gt_arrays(gt: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground truth of one image as (labels, boxes, difficult). Accepts a dict with "boxes", "labels"
    and optional "difficult", or an array of rows (label, x1, y1, x2, y2[, difficult])."""
    if isinstance(gt, dict):
        boxes = np.asarray(gt["boxes"], dtype=np.float64).reshape(-1, 4)
        labels = np.asarray(gt["labels"], dtype=np.int64).reshape(-1)
        diff = np.asarray(gt.get("difficult", np.zeros(len(labels))), dtype=bool).reshape(-1)
        return labels, boxes, diff
    rows = np.asarray(gt, dtype=np.float64)
    rows = rows.reshape(-1, rows.shape[-1] if rows.size else 5)
    diff = rows[:, 5].astype(bool) if rows.shape[1] > 5 else np.zeros(len(rows), dtype=bool)
    return rows[:, 0].astype(np.int64), rows[:, 1:5], diff


@dataclass
class DetectionMetrics:
    ap: np.ndarray  # (num_classes,), NaN for the background and classes without non-difficult GT
    num_gt: np.ndarray  # (num_classes,) non-difficult GT counts
    use_07: bool
    iou: float
    # class -> cumulative (recall, precision) by decreasing score, for classes with ground truth
    curves: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def map(self) -> float:
        valid = ~np.isnan(self.ap)
        return float(self.ap[valid].mean()) if valid.any() else 0.0


def evaluate_detections(
    dets_per_image: Sequence[np.ndarray],
    gts_per_image: Sequence[Any],
    num_classes: int,
    iou: float = 0.5,
    use_07: bool = True,
) -> DetectionMetrics:
    """`dets_per_image[i]`: (D, 6) rows (label, score, x1, y1, x2, y2), as `postprocess.detect` returns;
    `gts_per_image[i]`: see `_gt_arrays`. Same coordinate system for both. Labels 1..num_classes-1."""
    if len(dets_per_image) != len(gts_per_image):
        raise ValueError(f"{len(dets_per_image)} detection lists for {len(gts_per_image)} images")
    gts = [_gt_arrays(g) for g in gts_per_image]
    dets = [np.asarray(d, dtype=np.float64).reshape(-1, 6) for d in dets_per_image]
    ap = np.full(num_classes, np.nan)
    num_gt = np.zeros(num_classes, dtype=np.int64)
    curves = {}
    for c in range(1, num_classes):
        recall, precision, num_gt[c] = _class_curve(c, dets, gts, iou)
        if num_gt[c] == 0:
            continue  # AP undefined: not counted in the mean (VOC devkit behaviour gives NaN too)
        curves[c] = (recall, precision)
        ap[c] = voc_ap(recall, precision, use_07)
    return DetectionMetrics(ap=ap, num_gt=num_gt, use_07=use_07, iou=iou, curves=curves)


def _class_curve(c: int, dets: list[np.ndarray], gts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 iou: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Cumulative (recall, precision) of class `c`'s detections by decreasing score, and its
    non-difficult ground-truth count."""
    class_gt = [(boxes[labels == c], diff[labels == c]) for labels, boxes, diff in gts]
    npos = int(sum((~d).sum() for _, d in class_gt))
    image_ids = np.concatenate([np.full(int((d[:, 0] == c).sum()), i) for i, d in enumerate(dets)] or [np.zeros(0)]).astype(np.int64)
    found = np.concatenate([d[d[:, 0] == c] for d in dets] or [np.zeros((0, 6))])
    if npos == 0:
        return np.zeros(0), np.zeros(0), 0
    order = np.argsort(-found[:, 1], kind="stable")
    taken = [np.zeros(len(b), dtype=bool) for b, _ in class_gt]
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for k, j in enumerate(order):
        boxes, diff = class_gt[image_ids[j]]
        if len(boxes) == 0:
            fp[k] = 1
            continue
        overlaps = iou_matrix(found[j, 2:6], boxes)[0]
        best = int(overlaps.argmax())
        if overlaps[best] < iou:
            fp[k] = 1
        elif diff[best]:
            continue  # matching a difficult GT: neither TP nor FP
        elif not taken[image_ids[j]][best]:
            tp[k] = 1
            taken[image_ids[j]][best] = True
        else:
            fp[k] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    return tp / npos, tp / np.maximum(tp + fp, np.finfo(np.float64).eps), npos
