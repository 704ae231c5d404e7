"""Post-processing of a whole batch at once, on whatever device the network ran: the same detections as
`model.postprocess.detect` (which mirrors ncnn DetectionOutput, `src/layer/detectionoutput.cpp`) image by
image, without a Python loop over images or classes. Per (image, class): scores above `conf_threshold`,
stable-sorted by score, the first `nms_top_k`, greedy NMS dropping IoU > `nms_threshold` (ncnn's IoU, no
+1); then per image all classes by score (stable: class order, then rank), the first `keep_top_k`.

The greedy NMS runs one step per candidate rank for all (image, class) pairs together; the number of
steps is the batch's largest candidate count, read once per batch."""

from __future__ import annotations

import numpy as np
import torch

from ..config import SSDConfig
from ..model.boxes import decode

# Overlaps are computed in chunks of (image, class) pairs of at most this many K x K elements: on a GPU
# 128 MB of float32 temporaries; on a CPU one pair at a time, which stays in cache (the whole batch at
# once ran 3x slower than numpy image by image, measured). Only the boolean result is kept for the batch.
CHUNK_ELEMENTS = {"cuda": 1 << 25, "cpu": 1 << 16}


def _overlaps(boxes: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, K, 4) -> (B, K, K) IoU > threshold, in postprocess._nms's float32 arithmetic (0/0 is False)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    areas = (x2 - x1) * (y2 - y1)
    iw = torch.min(x2[:, :, None], x2[:, None, :]) - torch.max(x1[:, :, None], x1[:, None, :])
    ih = torch.min(y2[:, :, None], y2[:, None, :]) - torch.max(y1[:, :, None], y1[:, None, :])
    inter = torch.where((iw < 0) | (ih < 0), torch.zeros_like(iw), iw * ih)
    union = areas[:, :, None] + areas[:, None, :] - inter
    return inter / union > threshold


def _greedy_nms(overlaps: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, K, K) overlaps, (B, K) candidates in score order -> (B, K) kept."""
    kept = torch.zeros_like(valid)
    suppressed = ~valid
    for i in range(valid.shape[1]):
        pick = ~suppressed[:, i]
        kept[:, i] = pick
        suppressed |= pick[:, None] & overlaps[:, i, :]
    return kept


@torch.no_grad()
def detect_batch(loc: torch.Tensor, scores: torch.Tensor, priors: torch.Tensor, cfg: SSDConfig) -> list[np.ndarray]:
    """loc (N, P, 4), scores (N, P, C) after activation, priors (P, 4) -> per image (D, 6) rows
    (label, score, x1, y1, x2, y2) in [0, 1] input coordinates, as `detect` gives them."""
    n, num_priors, num_classes = scores.shape
    boxes = decode(loc.float(), priors.float().to(loc.device), cfg.variances)  # (N, P, 4)
    cls_scores = scores.float()[..., 1:].transpose(1, 2)  # (N, C-1, P), background skipped
    k = min(cfg.nms_top_k, num_priors)
    top, order = cls_scores.sort(dim=-1, descending=True, stable=True)  # ties: lower prior index first
    top, order = top[..., :k], order[..., :k]
    valid = top > cfg.conf_threshold  # a prefix of each row
    k = int(valid.sum(-1).max()) if valid.numel() else 0  # the one read of the device per batch
    if k == 0:
        return [np.zeros((0, 6), np.float32) for _ in range(n)]
    top, order, valid = top[..., :k], order[..., :k], valid[..., :k]
    cand = boxes.gather(1, order.reshape(n, -1, 1).expand(-1, -1, 4)).view(n, num_classes - 1, k, 4)
    flat_boxes = cand.reshape(-1, k, 4)
    overlaps = torch.empty((flat_boxes.shape[0], k, k), dtype=torch.bool, device=flat_boxes.device)
    chunk = max(1, CHUNK_ELEMENTS.get(flat_boxes.device.type, 1 << 25) // (k * k))
    for s in range(0, flat_boxes.shape[0], chunk):
        overlaps[s:s + chunk] = _overlaps(flat_boxes[s:s + chunk], cfg.nms_threshold)
    kept = _greedy_nms(overlaps, valid.reshape(-1, k)).view(n, num_classes - 1, k)
    # Per image: every kept row in class order then rank, stable-sorted by score, the first keep_top_k.
    flat_scores = torch.where(kept, top, torch.full_like(top, -float("inf"))).reshape(n, -1)
    best, pos = flat_scores.sort(dim=-1, descending=True, stable=True)
    best, pos = best[:, : cfg.keep_top_k], pos[:, : cfg.keep_top_k]
    labels = (pos // k + 1).float()
    rows = torch.cat([labels[..., None], best[..., None], cand.reshape(n, -1, 4).gather(1, pos[..., None].expand(-1, -1, 4))], -1)
    rows_np, counts = rows.cpu().numpy(), torch.isfinite(best).sum(-1).cpu().numpy()
    return [np.ascontiguousarray(rows_np[i, : counts[i]]) for i in range(n)]
