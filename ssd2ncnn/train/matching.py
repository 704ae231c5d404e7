"""SSD prior matching (Liu et al. 2016, section 2.2 "Matching strategy"), batched over a whole batch of
padded ground truth: one IoU, no per-image Python loop and no host synchronisation, so on a GPU it is a
handful of kernels whatever the batch size."""

from __future__ import annotations

import torch

from ..model.boxes import box_iou, encode

PAD_LABEL = -1  # label of the padding rows of a batch's ground truth; real labels are >= 1


def pad_ground_truth(boxes: list[torch.Tensor], labels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (G_i, 4) boxes and (G_i,) labels -> (N, Gmax, 4) boxes (padding: zeros) and (N, Gmax)
    labels (padding: PAD_LABEL, which is the mask). Done on the CPU, in the loader's collate."""
    n, gmax = len(boxes), max((len(b) for b in boxes), default=0)
    out_b = torch.zeros((n, gmax, 4), dtype=torch.float32, device="cpu")
    out_l = torch.full((n, gmax), PAD_LABEL, dtype=torch.long, device="cpu")
    for i, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        out_b[i, : len(b)] = b
        out_l[i, : len(lab)] = lab
    return out_b, out_l


def _one_pad_row(gt_boxes: torch.Tensor, gt_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = gt_labels.shape[0]
    return gt_boxes.new_zeros((n, 1, 4)), gt_labels.new_full((n, 1), PAD_LABEL)


def match_batch(gt_boxes: torch.Tensor, gt_labels: torch.Tensor, priors: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Assign each prior of each image a ground truth: (matched GT index (N, P), label (N, P), 0 = background).

    `gt_boxes` (N, G, 4), `gt_labels` (N, G) padded with PAD_LABEL. Every prior takes its best-overlapping
    GT if the IoU >= `threshold`; then every GT is forced onto its own best prior (even below the
    threshold), so no object goes unmatched. When two GTs share a best prior, the later one wins (what a
    sequential assignment gives). Ties in IoU go to the lowest index, as torch's max/argmax do."""
    if gt_labels.shape[1] == 0:  # a batch without any ground truth: one padding row keeps the shapes valid
        gt_boxes, gt_labels = _one_pad_row(gt_boxes, gt_labels)
    valid = gt_labels != PAD_LABEL  # (N, G)
    # Padding rows are zero boxes: IoU 0 with every prior, and after the real rows, so a prior's max
    # (first index on ties) only lands on padding in an image without ground truth (IoU 0: background).
    iou = box_iou(gt_boxes, priors)  # (N, G, P)
    best_gt_iou, best_gt = iou.max(dim=1)  # per prior (N, P)
    best_prior = iou.argmax(dim=2)  # per GT (N, G)
    # The forced matches: for each prior, the highest valid GT index that chose it (-1: none).
    g_index = torch.arange(gt_labels.shape[1], device=gt_labels.device).expand_as(gt_labels)
    forced = torch.full_like(best_gt, -1).scatter_reduce(1, best_prior, torch.where(valid, g_index, -1), reduce="amax")
    is_forced = forced >= 0
    best_gt = torch.where(is_forced, forced, best_gt)
    best_gt_iou = torch.where(is_forced, torch.full_like(best_gt_iou, 2.0), best_gt_iou)  # survive the threshold
    labels = gt_labels.gather(1, best_gt).clamp(min=0)  # an image without GT gathers padding: background
    labels = torch.where(best_gt_iou < threshold, torch.zeros_like(labels), labels)
    return best_gt, labels


def build_targets(gt_boxes: torch.Tensor, gt_labels: torch.Tensor, priors: torch.Tensor, variances, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded batch (N, G, 4) / (N, G) -> regression targets (N, P, 4) encoded with `variances` and class
    targets (N, P). Background priors' regression targets are never used; in an image without ground
    truth they are the priors' own (zero) codes."""
    gt_boxes, gt_labels = gt_boxes.to(priors.device, non_blocking=True), gt_labels.to(priors.device, non_blocking=True)
    if gt_labels.shape[1] == 0:
        gt_boxes, gt_labels = _one_pad_row(gt_boxes, gt_labels)
    idx, conf = match_batch(gt_boxes, gt_labels, priors, threshold)
    matched = gt_boxes.gather(1, idx[..., None].expand(-1, -1, 4))  # (N, P, 4)
    has_gt = (gt_labels != PAD_LABEL).any(dim=1)
    matched = torch.where(has_gt[:, None, None], matched, priors)
    return encode(matched, priors, variances), conf
