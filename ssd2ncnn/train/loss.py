"""MultiBox loss: smooth L1 on positive priors + classification with 3:1 hard negative mining, both
normalised by the number of positives (Liu et al. 2016, eq. 1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def hard_negative_mask(neg_loss: torch.Tensor, positive: torch.Tensor, ratio: int = 3) -> torch.Tensor:
    """(N, P) mask of the negatives to train on: per image the `ratio * num_pos` highest-loss
    negatives (fewer if the image lacks them). Ranking by sort position makes the count exact even
    with ties. Batched over the images and free of host syncs (no boolean indexing)."""
    loss = torch.where(positive, torch.full_like(neg_loss, -float("inf")), neg_loss.detach())  # positives are never mined
    order = loss.argsort(dim=1, descending=True)
    position = torch.arange(loss.shape[1], device=loss.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, position)  # the inverse permutation of `order`
    num_pos = positive.sum(dim=1, keepdim=True)
    num_neg = torch.clamp(ratio * num_pos, max=positive.shape[1] - num_pos)
    return (rank < num_neg) & ~positive


def classification_loss(conf: torch.Tensor, target: torch.Tensor, activation: str) -> torch.Tensor:
    """(N, P, C) logits, (N, P) labels -> (N, P) per-prior loss. Softmax: cross-entropy. Sigmoid (as the
    deployed graph may score): binary cross-entropy against one-hot foreground targets, summed."""
    if activation == "sigmoid":
        onehot = F.one_hot(target, conf.shape[-1]).to(conf.dtype)
        onehot[..., 0] = 0  # the background column is not a class under sigmoid scoring
        return F.binary_cross_entropy_with_logits(conf, onehot, reduction="none").sum(-1)
    return F.cross_entropy(conf.reshape(-1, conf.shape[-1]), target.reshape(-1), reduction="none").view(target.shape)


def multibox_loss(loc: torch.Tensor, conf: torch.Tensor, loc_t: torch.Tensor, conf_t: torch.Tensor, neg_ratio: int = 3, activation: str = "softmax") -> tuple[torch.Tensor, torch.Tensor]:
    """(localisation loss, classification loss), each summed and divided by the positives' count. Masked
    sums rather than boolean indexing, so nothing here waits for the device."""
    positive = conf_t > 0
    num_pos = positive.sum().clamp(min=1).to(torch.float32)
    per_box = F.smooth_l1_loss(loc.float(), loc_t.float(), reduction="none").sum(-1)
    loss_l = torch.where(positive, per_box, torch.zeros_like(per_box)).sum()
    per_prior = classification_loss(conf.float(), conf_t, activation)
    selected = positive | hard_negative_mask(per_prior, positive, neg_ratio)
    loss_c = torch.where(selected, per_prior, torch.zeros_like(per_prior)).sum()
    return loss_l / num_pos, loss_c / num_pos
