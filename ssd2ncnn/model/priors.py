"""Prior (default) boxes with exactly ncnn PriorBox's semantics and order (`src/layer/priorbox.cpp`).

Per level: cells row-major; per cell: the min box, the sqrt(min*max) box, then for each aspect ratio r the
(r, 1/r) pair (flip=1). Boxes are (x1, y1, x2, y2) normalised by the image size. Arithmetic is float32
and follows the layer step by step (including the running `center_x += step_w`), so the PyTorch priors
equal ncnn's to float32 rounding.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..config import SSDConfig

if TYPE_CHECKING:
    import torch


def level_priors(cfg: SSDConfig, level: int, feat_h: int, feat_w: int, image_h: int, image_w: int) -> np.ndarray:
    """Priors of one level as a float32 array (feat_h * feat_w * priors_per_cell, 4)."""
    f32 = np.float32
    step_w = f32(image_w) / f32(feat_w)
    step_h = f32(image_h) / f32(feat_h)
    if cfg.step_rule == "ceil":
        step_w, step_h = f32(math.ceil(step_w)), f32(math.ceil(step_h))
    elif cfg.step_rule == "fixed":  # PriorBox params 11/12 given explicitly
        step_w = step_h = f32(cfg.strides[level])
    offset = f32(cfg.offset)
    min_size = f32(cfg.min_sizes[level])
    sizes = [(min_size, min_size)]
    if cfg.max_sizes:
        s = f32(math.sqrt(f32(min_size * f32(cfg.max_sizes[level]))))
        sizes.append((s, s))
    for ar in cfg.aspect_ratios[level]:
        root = math.sqrt(f32(ar))
        bw, bh = f32(min_size * root), f32(min_size / root)
        sizes += [(bw, bh), (bh, bw)]
    if cfg.clip and cfg.clip_rule in ("center_size", "center_size_all"):
        # torchvision's DefaultBoxGenerator clamps (w, h) to [0, 1] of the image before taking corners
        sizes = [(min(w, f32(image_w)), min(h, f32(image_h))) for w, h in sizes]
    half = np.array([[w * f32(0.5), h * f32(0.5)] for w, h in sizes], dtype=f32)  # (A, 2)

    if cfg.center_rule == "mmdet_v1":
        cx0, cy0 = offset * (step_w - f32(1)), offset * (step_h - f32(1))
    else:
        cx0, cy0 = offset * step_w, offset * step_h
    # ncnn: center_y = cy0 + i * step_h; center_x starts at cx0 and accumulates step_w per column.
    cy = (cy0 + np.arange(feat_h, dtype=f32) * step_h).astype(f32)
    cx = np.empty(feat_w, dtype=f32)
    acc = f32(cx0)
    for j in range(feat_w):
        cx[j] = acc
        acc = f32(acc + step_w)
    if cfg.clip and cfg.clip_rule == "center_size_all":  # pytorch-ssd clamps the centres too
        cx, cy = np.clip(cx, 0, f32(image_w)), np.clip(cy, 0, f32(image_h))
    cyy, cxx = np.meshgrid(cy, cx, indexing="ij")  # (H, W)
    centers = np.stack([cxx, cyy], axis=-1).reshape(-1, 1, 2)  # (HW, 1, 2)
    scale = np.array([image_w, image_h], dtype=f32)
    lo = ((centers - half[None]) / scale).astype(f32)
    hi = ((centers + half[None]) / scale).astype(f32)
    boxes = np.concatenate([lo, hi], axis=-1).reshape(-1, 4)  # (HW*A, 4): x1, y1, x2, y2
    if cfg.clip and cfg.clip_rule == "corners":
        boxes = np.clip(boxes, 0.0, 1.0)
    return boxes.astype(f32)


def generate_priors(cfg: SSDConfig, feature_sizes: list[tuple[int, int]], image_size: tuple[int, int]) -> torch.Tensor:
    """All priors (P, 4) in (x1, y1, x2, y2), level by level, for feature sizes [(h, w), ...] and an
    image of (h, w). Feature sizes come from a forward pass (`SSDLite.feature_sizes`), never a table."""
    import torch

    return torch.from_numpy(prior_boxes(cfg, feature_sizes, image_size))


def prior_boxes(cfg: SSDConfig, feature_sizes: list[tuple[int, int]], image_size: tuple[int, int]) -> np.ndarray:
    """`generate_priors` as a float32 array, without torch (`ssd2ncnn check` runs where torch is not)."""
    image_h, image_w = image_size
    parts = [level_priors(cfg, k, h, w, image_h, image_w) for k, (h, w) in enumerate(feature_sizes)]
    return np.concatenate(parts, axis=0)


def priorbox_blob(cfg: SSDConfig, priors: torch.Tensor | np.ndarray) -> np.ndarray:
    """The `mbox_priorbox` blob as ncnn lays it out: 2 rows x (P*4): boxes, then variances."""
    boxes = np.asarray(priors, dtype=np.float32).reshape(-1)
    var = np.tile(np.asarray(cfg.variances, dtype=np.float32), priors.shape[0])
    return np.stack([boxes, var])
