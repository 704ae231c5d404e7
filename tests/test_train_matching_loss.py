"""Prior matching, box coding round trip and the MultiBox loss with hard negative mining."""

import math

import pytest
import torch

from ssd2ncnn.config import get_preset
from ssd2ncnn.model.boxes import decode, encode
from ssd2ncnn.model.priors import generate_priors
from ssd2ncnn.train.loss import hard_negative_mask, multibox_loss
from ssd2ncnn.train.matching import build_targets, match_priors

VAR = (0.1, 0.1, 0.2, 0.2)


def test_threshold_and_forced_best_prior_match():
    priors = torch.tensor([
        [0.0, 0.0, 0.5, 0.5],  # IoU 1 with gt0
        [0.0, 0.0, 0.4, 0.5],  # IoU 0.8 with gt0
        [0.5, 0.5, 1.0, 1.0],  # IoU 0.16 with gt1: its best prior, below the threshold
        [0.9, 0.0, 1.0, 0.1],  # overlaps nothing
    ])
    gt = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.6, 0.6, 0.8, 0.8]])
    idx, labels = match_priors(gt, torch.tensor([3, 7]), priors, threshold=0.5)
    assert labels.tolist() == [3, 3, 7, 0]
    assert idx[:3].tolist() == [0, 0, 1]


def test_forced_match_overrides_a_better_threshold_match():
    # Prior 0 overlaps gt0 best (IoU 1) but is also gt1's only overlapping prior: the forced match wins.
    priors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.45, 0.5]])
    gt = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.3, 0.3, 0.5, 0.5]])
    iou_p1_gt1 = 0.15 * 0.2 / (0.45 * 0.5 + 0.04 - 0.03)
    assert iou_p1_gt1 < 0.2  # so gt1's best prior is prior 0 (IoU 0.16)
    idx, labels = match_priors(gt, torch.tensor([1, 2]), priors, 0.5)
    assert labels.tolist() == [2, 1]  # prior 0 forced to gt1; prior 1 keeps gt0 (IoU 0.9)
    assert idx.tolist() == [1, 0]


def test_no_ground_truth_is_all_background():
    priors = torch.rand(10, 2).repeat(1, 2) + torch.tensor([0, 0, 0.1, 0.1])
    idx, labels = match_priors(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), priors)
    assert labels.sum() == 0 and idx.shape == (10,)


def test_build_targets_encode_decode_round_trip_on_real_priors():
    cfg = get_preset("ssdlite320", input_size=128, num_classes=3)
    priors = generate_priors(cfg, [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1), (1, 1)], (128, 128))
    gt = torch.tensor([[0.1, 0.2, 0.45, 0.6], [0.5, 0.5, 0.95, 0.9]])
    loc_t, conf_t = build_targets([gt], [torch.tensor([1, 2])], priors, VAR)
    pos = conf_t[0] > 0
    assert pos.sum() >= 2 and set(conf_t[0][pos].tolist()) == {1, 2}
    decoded = decode(loc_t[0][pos], priors[pos], VAR)
    idx, _ = match_priors(gt, torch.tensor([1, 2]), priors)
    torch.testing.assert_close(decoded, gt[idx[pos]], atol=1e-5, rtol=0)
    # encode of a prior onto itself is exactly zero
    assert torch.equal(encode(priors[:5], priors[:5], VAR), torch.zeros(5, 4))


def test_hard_negative_mining_is_exactly_three_to_one():
    torch.manual_seed(0)
    loss = torch.rand(2, 100)
    pos = torch.zeros(2, 100, dtype=torch.bool)
    pos[0, [3, 50, 70]] = True  # 3 positives -> 9 negatives
    pos[1, 10] = True  # 1 -> 3
    neg = hard_negative_mask(loss, pos, 3)
    assert neg.sum(1).tolist() == [9, 3]
    assert not (neg & pos).any()
    # they are the highest-loss negatives
    masked = loss.clone()
    masked[pos] = -1
    assert set(neg[0].nonzero().flatten().tolist()) == set(masked[0].topk(9).indices.tolist())


def test_hard_negative_mining_with_too_few_negatives_and_ties():
    loss = torch.ones(1, 6)  # all tied
    pos = torch.tensor([[True, True, True, False, False, False]])
    assert hard_negative_mask(loss, pos, 3).sum() == 3  # only 3 negatives exist
    pos = torch.tensor([[True, False, False, False, False, False]])
    assert hard_negative_mask(loss, pos, 3).sum() == 3


def test_multibox_loss_values():
    # 1 positive prior (label 1) with exact regression; 4 negatives with known logits.
    loc = torch.zeros(1, 5, 4)
    loc_t = torch.zeros(1, 5, 4)
    loc_t[0, 0] = torch.tensor([0.5, 0.0, 2.0, 0.0])  # smooth L1: 0.125 + 1.5
    conf = torch.zeros(1, 5, 2)
    conf[0, 1:, 1] = torch.tensor([4.0, 3.0, 2.0, 1.0])  # negatives, hardest first
    conf_t = torch.tensor([[1, 0, 0, 0, 0]])
    loss_l, loss_c = multibox_loss(loc, conf, loc_t, conf_t, neg_ratio=3)
    assert loss_l.item() == pytest.approx(1.625)
    ce = lambda z: math.log(1 + math.exp(z))  # noqa: E731  CE of target 0 vs logits (0, z)
    expected = math.log(2) + ce(4) + ce(3) + ce(2)  # the positive + the 3 hardest negatives
    assert loss_c.item() == pytest.approx(expected, rel=1e-6)


def test_loss_gradients_flow_and_sigmoid_variant():
    loc = torch.zeros(1, 4, 4, requires_grad=True)
    conf = torch.zeros(1, 4, 3, requires_grad=True)
    ll, c = multibox_loss(loc, conf, torch.ones(1, 4, 4), torch.tensor([[2, 0, 0, 0]]), activation="sigmoid")
    (ll + c).backward()
    assert conf.grad[0, 0, 2] < 0 and loc.grad[0, 0].abs().sum() > 0 and loc.grad[0, 1:].abs().sum() == 0
    assert c.item() == pytest.approx(3 * math.log(2) * 4)  # 1 pos + 3 negs, 3 BCE terms of log 2 each
