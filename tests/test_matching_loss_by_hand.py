"""Matching and loss edges with values worked out by hand (the survivors of mutmut on train/matching.py and
train/loss.py, #21; docs/testing.md "Mutation score").

Where a rule is not ours it is cited: qfgaohao/pytorch-ssd `vision/utils/box_utils.py` `assign_priors`
(`labels[best_target_per_prior < iou_threshold] = 0`: an IoU equal to the threshold is positive) and
Liu et al. 2016, section 2.2 (threshold 0.5; negatives at most 3:1)."""

from __future__ import annotations

import math

import pytest
import torch

from ssd2ncnn.train.loss import hard_negative_mask, multibox_loss
from ssd2ncnn.train.matching import build_targets, match_batch, pad_ground_truth

VAR = (0.1, 0.1, 0.2, 0.2)
META = torch.device("meta")
# Two priors against one ground truth [0, 0, 1, 1] (area 1): IoU 1 and IoU 0.5 exactly (inter 0.5 / union 1).
PRIORS = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0], [2.0, 2.0, 3.0, 3.0]])
GT = torch.tensor([[0.0, 0.0, 1.0, 1.0]])


def softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def test_an_iou_equal_to_the_threshold_is_positive_and_the_default_threshold_is_one_half():
    boxes, labels = pad_ground_truth([GT], [torch.tensor([4])])
    # prior 1 (IoU 0.5) is not GT 0's best prior, so only the threshold decides it; prior 2 overlaps nothing
    assert match_batch(boxes, labels, PRIORS)[1].tolist() == [[4, 4, 0]]
    assert match_batch(boxes, labels, PRIORS, threshold=0.6)[1].tolist() == [[4, 0, 0]]
    assert build_targets(boxes, labels, PRIORS, VAR)[1].tolist() == [[4, 4, 0]]
    assert build_targets(boxes, labels, PRIORS, VAR, threshold=0.6)[1].tolist() == [[4, 0, 0]]


def test_threshold_zero_makes_every_prior_positive_but_an_image_without_ground_truth_stays_background():
    boxes, labels = pad_ground_truth([GT, torch.zeros(0, 4)], [torch.tensor([4]), torch.zeros(0, dtype=torch.long)])
    assert match_batch(boxes, labels, PRIORS, threshold=0.0)[1].tolist() == [[4, 4, 4], [0, 0, 0]]


def test_padding_of_an_empty_batch_and_of_mismatched_lists():
    boxes, labels = pad_ground_truth([], [])
    assert boxes.shape == (0, 0, 4) and labels.shape == (0, 0)
    with pytest.raises(ValueError):  # one label list short: an image must not silently lose its labels
        pad_ground_truth([GT, GT], [torch.tensor([1])])


def test_padding_is_cpu_float32_whatever_the_default_device_and_dtype():
    """The loader's collate runs on the CPU even when a training script changed torch's defaults."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with META:
            boxes, labels = pad_ground_truth([GT.float()], [torch.tensor([2], device="cpu")])
    finally:
        torch.set_default_dtype(old)
    assert (boxes.device.type, boxes.dtype, labels.device.type, labels.dtype) == ("cpu", torch.float32, "cpu", torch.int64)
    assert boxes.tolist() == [[[0.0, 0.0, 1.0, 1.0]]] and labels.tolist() == [[2]]


def test_matching_and_loss_keep_the_priors_device_without_reading_values():
    """On the meta device (shapes, no data) a tensor left on the CPU or a value read back to the host fails:
    what a GPU run would need, checked without a GPU."""
    boxes, labels = pad_ground_truth([GT, torch.zeros(0, 4)], [torch.tensor([1]), torch.zeros(0, dtype=torch.long)])
    loc_t, conf_t = build_targets(boxes, labels, PRIORS.to(META), VAR)  # ground truth still on the CPU
    assert loc_t.device == META and conf_t.device == META and loc_t.shape == (2, 3, 4)
    idx, lab = match_batch(boxes.to(META), labels.to(META), PRIORS.to(META))
    assert idx.device == META and lab.shape == (2, 3)
    conf = torch.zeros(2, 3, 5, device=META)
    loss_l, loss_c = multibox_loss(torch.zeros(2, 3, 4, device=META), conf, loc_t, conf_t)
    assert loss_l.device == META and loss_c.device == META


def test_hard_negative_ratio_defaults_to_three_and_multibox_passes_its_own():
    loss = torch.tensor([[0.0, 9.0, 8.0, 7.0, 6.0, 5.0]])
    pos = torch.tensor([[True, False, False, False, False, False]])
    assert hard_negative_mask(loss, pos).nonzero()[:, 1].tolist() == [1, 2, 3]  # 3:1, the hardest first
    # multibox with neg_ratio=1: the positive (CE log 2 at zero logits) + the one hardest negative only
    conf = torch.zeros(1, 5, 2)
    conf[0, 1:, 1] = torch.tensor([4.0, 3.0, 2.0, 1.0])  # a negative's CE is softplus(its foreground logit)
    _, loss_c = multibox_loss(torch.zeros(1, 5, 4), conf, torch.zeros(1, 5, 4), torch.tensor([[1, 0, 0, 0, 0]]), neg_ratio=1)
    assert loss_c.item() == pytest.approx(math.log(2) + softplus(4.0), rel=1e-6)


def test_sigmoid_loss_by_hand_with_a_class_absent_from_the_batch():
    """Binary cross-entropy per class column, sum_c softplus(z_c) - t_c z_c, with the background column's
    target always 0; 4 columns while the targets only reach class 2."""
    conf = torch.tensor([[[1.0, -2.0, 0.5, 0.25], [0.3, 1.5, -1.0, 2.0]]])  # prior 0: class 2; prior 1: background
    conf_t = torch.tensor([[2, 0]])
    _, loss_c = multibox_loss(torch.zeros(1, 2, 4), conf, torch.zeros(1, 2, 4), conf_t, activation="sigmoid")
    positive = softplus(1.0) + softplus(-2.0) + softplus(0.5) - 0.5 + softplus(0.25)
    negative = softplus(0.3) + softplus(1.5) + softplus(-1.0) + softplus(2.0)  # all four targets 0
    assert loss_c.item() == pytest.approx(positive + negative, rel=1e-6)  # one positive: divided by 1
