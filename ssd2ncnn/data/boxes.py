"""Box geometry in numpy, for code that runs without torch (mAP, verify's detection matching, the data
augmentation and the synthetic set). The torch twin for training is `model/boxes.py:box_iou`."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def iou_matrix(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """IoU of every (x1, y1, x2, y2) box in `a` (N, 4) with every box in `b` (M, 4): (N, M). A box with
    negative width or height has area 0; a pair whose union is 0 has IoU 0."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
