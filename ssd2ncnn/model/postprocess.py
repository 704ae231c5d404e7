"""Reference post-processing that mirrors ncnn DetectionOutput (`src/layer/detectionoutput.cpp`):
decode with the priors' variances (clipped to the image when `cfg.clip_boxes`), per class (background 0 skipped) keep scores > conf_threshold, sort
descending, keep nms_top_k, greedy NMS suppressing IoU > nms_threshold, gather all classes, sort, keep
keep_top_k. Output rows: (label, score, x1, y1, x2, y2) in [0, 1] input coordinates."""

from __future__ import annotations

import numpy as np
import torch

from ..config import SSDConfig
from .boxes import decode


def class_scores(conf_logits: torch.Tensor, cfg: SSDConfig) -> torch.Tensor:
    """(..., P, C) logits -> scores, with the config's activation (Softmax over classes, or Sigmoid)."""
    if cfg.score_activation == "sigmoid":
        return torch.sigmoid(conf_logits)
    return torch.softmax(conf_logits, dim=-1)


def _nms(boxes: np.ndarray, threshold: float) -> list[int]:
    """Greedy NMS on boxes sorted by score; ncnn's IoU (no +1, disjoint boxes give 0), in float32.
    A box is dropped when it overlaps an already picked one by more than `threshold`: the pairwise
    overlaps are computed once, so the loop only reads a row per picked box."""
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    areas = (x2 - x1) * (y2 - y1)
    iw = np.minimum(x2[:, None], x2[None, :]) - np.maximum(x1[:, None], x1[None, :])
    ih = np.minimum(y2[:, None], y2[None, :]) - np.maximum(y1[:, None], y1[None, :])
    inter = np.where((iw < 0) | (ih < 0), 0.0, iw * ih)
    union = areas[:, None] + areas[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        overlaps = inter / union > threshold  # NaN (0/0 of empty boxes) compares False, as in C
    suppressed = np.zeros(len(boxes), dtype=bool)
    picked: list[int] = []
    for i in range(len(boxes)):
        if not suppressed[i]:
            picked.append(i)
            suppressed |= overlaps[i]
    return picked


def select(boxes: np.ndarray, scores: np.ndarray, cfg: SSDConfig) -> list[tuple[int, int]]:
    """DetectionOutput's choice on decoded boxes (P, 4) and scores (P, C): the kept (class, prior) pairs in
    output order. Split from `detect` so verify can replay it on perturbed scores."""
    picked: list[tuple[int, int]] = []
    for c in range(1, scores.shape[1]):
        s = scores[:, c]
        keep = np.nonzero(s > cfg.conf_threshold)[0]
        if keep.size == 0:
            continue
        order = keep[np.argsort(-s[keep], kind="stable")][: cfg.nms_top_k]
        picked += [(c, int(order[i])) for i in _nms(boxes[order], cfg.nms_threshold)]
    picked.sort(key=lambda cp: -float(scores[cp[1], cp[0]]))  # stable, as ncnn's final sort of all classes
    return picked[: cfg.keep_top_k]


def decode_boxes(loc: torch.Tensor, priors: torch.Tensor, cfg: SSDConfig) -> np.ndarray:
    """(P, 4) regressions and priors -> (P, 4) float32 boxes in [0, 1] input coordinates."""
    boxes = decode(loc.float(), priors.float(), cfg.variances).numpy()
    if cfg.clip_boxes:  # torchvision clips to the image before NMS (`clip_boxes_to_image`)
        boxes = np.clip(boxes, 0.0, 1.0)
    return boxes


def detect(loc: torch.Tensor, scores: torch.Tensor, priors: torch.Tensor, cfg: SSDConfig) -> np.ndarray:
    """One image: loc (P, 4), scores (P, C) after activation, priors (P, 4) -> detections (D, 6)."""
    boxes = decode_boxes(loc, priors, cfg)
    scores_np = scores.float().numpy()
    picked = select(boxes, scores_np, cfg)
    if not picked:
        return np.zeros((0, 6), dtype=np.float32)
    return np.asarray([(float(c), float(scores_np[p, c]), *boxes[p].tolist()) for c, p in picked], dtype=np.float32)
