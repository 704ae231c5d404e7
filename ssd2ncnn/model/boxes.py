"""Box coding shared by training (encode) and inference (decode), in ncnn DetectionOutput's CENTER_SIZE
form with the config's variances (`src/layer/detectionoutput.cpp`). Boxes are (x1, y1, x2, y2)."""

from __future__ import annotations

import torch


def to_center_size(boxes: torch.Tensor) -> torch.Tensor:
    """(..., 4) corners -> (..., 4) (cx, cy, w, h)."""
    wh = boxes[..., 2:] - boxes[..., :2]
    return torch.cat([(boxes[..., :2] + boxes[..., 2:]) * 0.5, wh], dim=-1)


def encode(gt: torch.Tensor, priors: torch.Tensor, variances) -> torch.Tensor:
    """Regression targets for matched ground-truth boxes `gt` (P, 4) against `priors` (P, 4)."""
    g, p = to_center_size(gt), to_center_size(priors)
    v = torch.as_tensor(variances, dtype=gt.dtype, device=gt.device)
    dxy = (g[..., :2] - p[..., :2]) / (p[..., 2:] * v[:2])
    dwh = torch.log(g[..., 2:].clamp(min=1e-8) / p[..., 2:]) / v[2:]
    return torch.cat([dxy, dwh], dim=-1)


def decode(loc: torch.Tensor, priors: torch.Tensor, variances) -> torch.Tensor:
    """Boxes (..., P, 4) from regressions `loc` (..., P, 4), as DetectionOutput decodes them."""
    p = to_center_size(priors)
    v = torch.as_tensor(variances, dtype=loc.dtype, device=loc.device)
    cxy = v[:2] * loc[..., :2] * p[..., 2:] + p[..., :2]
    wh = torch.exp(v[2:] * loc[..., 2:]) * p[..., 2:]
    return torch.cat([cxy - wh * 0.5, cxy + wh * 0.5], dim=-1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU (..., N, M) of corner boxes (..., N, 4) and (..., M, 4) (leading dims broadcast, so a
    padded batch of ground truth is one call); zero-area pairs give 0 (0 / clamped 0). In place on its
    own temporaries: training matches thousands of priors per step. Not differentiable."""
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    a, b = a[..., :, None, :], b[..., None, :, :]
    inter = torch.min(a[..., 2], b[..., 2]).sub_(torch.max(a[..., 0], b[..., 0])).clamp_(min=0)
    inter.mul_(torch.min(a[..., 3], b[..., 3]).sub_(torch.max(a[..., 1], b[..., 1])).clamp_(min=0))
    union = (area_a[..., :, None] + area_b[..., None, :]).sub_(inter).clamp_(min=1e-12)
    return inter.div_(union)
