"""SSD prior matching (Liu et al. 2016, section 2.2 "Matching strategy")."""

from __future__ import annotations

import torch

from ..model.boxes import box_iou, encode


def match_priors(gt_boxes: torch.Tensor, gt_labels: torch.Tensor, priors: torch.Tensor, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Assign each prior a ground truth: (matched GT index (P,), label (P,), 0 = background).

    Every prior takes its best-overlapping GT if the IoU >= `threshold`; then every GT is forced onto its
    own best prior (even below the threshold), so no object goes unmatched. When two GTs share a best
    prior, the later one wins (what a sequential assignment gives)."""
    num_priors = priors.shape[0]
    if gt_boxes.numel() == 0:
        return torch.zeros(num_priors, dtype=torch.long, device=priors.device), torch.zeros(num_priors, dtype=torch.long, device=priors.device)
    iou = box_iou(gt_boxes, priors)  # (G, P)
    best_gt_iou, best_gt = iou.max(dim=0)  # per prior
    best_prior = iou.argmax(dim=1)  # per GT
    for g in range(gt_boxes.shape[0]):
        best_gt[best_prior[g]] = g
    best_gt_iou[best_prior] = 2.0  # forced matches survive the threshold
    labels = gt_labels[best_gt].clone()
    labels[best_gt_iou < threshold] = 0
    return best_gt, labels


def build_targets(boxes: list[torch.Tensor], labels: list[torch.Tensor], priors: torch.Tensor, variances, threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per batch: regression targets (N, P, 4) encoded with `variances`, class targets (N, P)."""
    locs, confs = [], []
    for b, lab in zip(boxes, labels, strict=True):
        b, lab = b.to(priors.device), lab.to(priors.device)
        idx, conf = match_priors(b, lab, priors, threshold)
        matched = b[idx] if b.numel() else priors  # background priors' loc targets are never used
        locs.append(encode(matched, priors, variances))
        confs.append(conf)
    return torch.stack(locs), torch.stack(confs)
