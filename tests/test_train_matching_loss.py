"""Prior matching, box coding round trip and the MultiBox loss with hard negative mining."""

import math

import pytest
import torch

from ssd2ncnn.config import get_preset
from ssd2ncnn.model.boxes import box_iou, decode, encode
from ssd2ncnn.model.priors import generate_priors
from ssd2ncnn.train.loss import hard_negative_mask, multibox_loss
from ssd2ncnn.train.matching import build_targets, match_batch, pad_ground_truth

VAR = (0.1, 0.1, 0.2, 0.2)


def reference_box_iou(a, b):
    """Pairwise IoU (N, M) as it was before box_iou took batches and worked in place."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def reference_match_priors(gt_boxes, gt_labels, priors, threshold=0.5):
    """The per-image matching that training used before it was batched (kept as the reference)."""
    num_priors = priors.shape[0]
    if gt_boxes.numel() == 0:
        return torch.zeros(num_priors, dtype=torch.long), torch.zeros(num_priors, dtype=torch.long)
    iou = reference_box_iou(gt_boxes, priors)
    best_gt_iou, best_gt = iou.max(dim=0)
    best_prior = iou.argmax(dim=1)
    for g in range(gt_boxes.shape[0]):
        best_gt[best_prior[g]] = g
    best_gt_iou[best_prior] = 2.0
    labels = gt_labels[best_gt].clone()
    labels[best_gt_iou < threshold] = 0
    return best_gt, labels


def reference_build_targets(boxes, labels, priors, variances, threshold=0.5):
    locs, confs = [], []
    for b, lab in zip(boxes, labels, strict=True):
        idx, conf = reference_match_priors(b, lab, priors, threshold)
        matched = b[idx] if b.numel() else priors
        locs.append(encode(matched, priors, variances))
        confs.append(conf)
    return torch.stack(locs), torch.stack(confs)


def match_one(gt, labels, priors, threshold=0.5):
    gt_b, gt_l = pad_ground_truth([gt], [labels])
    idx, lab = match_batch(gt_b, gt_l, priors, threshold)
    return idx[0], lab[0]


def test_threshold_and_forced_best_prior_match():
    priors = torch.tensor([
        [0.0, 0.0, 0.5, 0.5],  # IoU 1 with gt0
        [0.0, 0.0, 0.4, 0.5],  # IoU 0.8 with gt0
        [0.5, 0.5, 1.0, 1.0],  # IoU 0.16 with gt1: its best prior, below the threshold
        [0.9, 0.0, 1.0, 0.1],  # overlaps nothing
    ])
    gt = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.6, 0.6, 0.8, 0.8]])
    idx, labels = match_one(gt, torch.tensor([3, 7]), priors, threshold=0.5)
    assert labels.tolist() == [3, 3, 7, 0]
    assert idx[:3].tolist() == [0, 0, 1]


def test_forced_match_overrides_a_better_threshold_match():
    # Prior 0 overlaps gt0 best (IoU 1) but is also gt1's only overlapping prior: the forced match wins.
    priors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.45, 0.5]])
    gt = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.3, 0.3, 0.5, 0.5]])
    iou_p1_gt1 = 0.15 * 0.2 / (0.45 * 0.5 + 0.04 - 0.03)
    assert iou_p1_gt1 < 0.2  # so gt1's best prior is prior 0 (IoU 0.16)
    idx, labels = match_one(gt, torch.tensor([1, 2]), priors, 0.5)
    assert labels.tolist() == [2, 1]  # prior 0 forced to gt1; prior 1 keeps gt0 (IoU 0.9)
    assert idx.tolist() == [1, 0]


def test_shared_best_prior_goes_to_the_later_ground_truth():
    priors = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]])
    gt = torch.tensor([[0.0, 0.0, 0.3, 0.3], [0.1, 0.1, 0.3, 0.3], [0.0, 0.0, 0.2, 0.2]])  # all pick prior 0
    idx, labels = match_one(gt, torch.tensor([1, 2, 3]), priors)
    assert idx[0] == 2 and labels.tolist() == [3, 0]


def test_no_ground_truth_is_all_background():
    priors = torch.rand(10, 2).repeat(1, 2) + torch.tensor([0, 0, 0.1, 0.1])
    idx, labels = match_one(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), priors)
    assert labels.sum() == 0 and idx.shape == (10,)
    loc_t, conf_t = build_targets(*pad_ground_truth([torch.zeros(0, 4)] * 2, [torch.zeros(0, dtype=torch.long)] * 2), priors, VAR)
    assert loc_t.shape == (2, 10, 4) and not loc_t.any() and not conf_t.any()  # zero-width padded batch


def _random_batch(gen, n_images, max_gt, num_classes=5):
    boxes, labels = [], []
    for _ in range(n_images):
        g = int(torch.randint(0, max_gt + 1, (1,), generator=gen))
        xy = torch.rand(g, 2, generator=gen) * 0.8
        wh = torch.rand(g, 2, generator=gen) * 0.5 + 0.005
        b = torch.cat([xy, (xy + wh).clamp(max=1.0)], 1)
        if g >= 2 and torch.rand(1, generator=gen) < 0.5:  # duplicate and nested boxes: shared best priors
            b[1] = b[0]
            b = torch.cat([b, b[:1] * 0.98 + 0.001])
        boxes.append(b)
        labels.append(torch.randint(1, num_classes, (len(b),), generator=gen))
    return boxes, labels


@pytest.mark.parametrize("seed", range(6))
def test_batched_targets_equal_the_per_image_reference(seed):
    cfg = get_preset("ssdlite320", input_size=128, num_classes=5)
    priors = generate_priors(cfg, [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1), (1, 1)], (128, 128))
    gen = torch.Generator().manual_seed(seed)
    boxes, labels = _random_batch(gen, n_images=7, max_gt=8 if seed else 1)  # seed 0: mostly empty images
    assert any(len(b) == 0 for b in boxes) or seed  # empty images are in the mix
    ref_loc, ref_conf = reference_build_targets(boxes, labels, priors, VAR)
    loc_t, conf_t = build_targets(*pad_ground_truth(boxes, labels), priors, VAR)
    assert torch.equal(conf_t, ref_conf)
    assert torch.equal(loc_t, ref_loc)
    for k, (b, lab) in enumerate(zip(boxes, labels, strict=True)):  # and the matched indices themselves
        if len(b):
            ref_idx, _ = reference_match_priors(b, lab, priors)
            idx, _ = match_batch(*pad_ground_truth(boxes, labels), priors)
            assert torch.equal(idx[k], ref_idx)


def test_build_targets_encode_decode_round_trip_on_real_priors():
    cfg = get_preset("ssdlite320", input_size=128, num_classes=3)
    priors = generate_priors(cfg, [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1), (1, 1)], (128, 128))
    gt = torch.tensor([[0.1, 0.2, 0.45, 0.6], [0.5, 0.5, 0.95, 0.9]])
    loc_t, conf_t = build_targets(*pad_ground_truth([gt], [torch.tensor([1, 2])]), priors, VAR)
    pos = conf_t[0] > 0
    assert pos.sum() >= 2 and set(conf_t[0][pos].tolist()) == {1, 2}
    decoded = decode(loc_t[0][pos], priors[pos], VAR)
    idx, _ = match_one(gt, torch.tensor([1, 2]), priors)
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


def reference_multibox_loss(loc, conf, loc_t, conf_t, neg_ratio=3):
    """The loss before it was made sync-free (boolean indexing), softmax variant, as the reference."""
    import torch.nn.functional as F

    positive = conf_t > 0
    num_pos = positive.sum().clamp(min=1).to(loc.dtype)
    loss_l = F.smooth_l1_loss(loc[positive], loc_t[positive], reduction="sum")
    per_prior = F.cross_entropy(conf.reshape(-1, conf.shape[-1]), conf_t.reshape(-1), reduction="none").view(conf_t.shape)
    neg = per_prior.detach().clone()
    neg[positive] = -float("inf")
    rank = neg.argsort(dim=1, descending=True).argsort(dim=1)
    n_pos = positive.sum(dim=1, keepdim=True)
    selected = positive | ((rank < torch.clamp(neg_ratio * n_pos, max=positive.shape[1] - n_pos)) & ~positive)
    return loss_l / num_pos, per_prior[selected].sum() / num_pos


@pytest.mark.parametrize("seed", range(3))
def test_masked_loss_equals_the_indexing_reference(seed):
    gen = torch.Generator().manual_seed(seed)
    n, p, c = 4, 300, 6
    conf_t = torch.randint(0, c, (n, p), generator=gen) * (torch.rand(n, p, generator=gen) < 0.05)
    conf_t[1] = 0  # an image without positives
    outs = []
    for fn in (multibox_loss, reference_multibox_loss):
        loc = torch.randn(n, p, 4, generator=torch.Generator().manual_seed(seed)).requires_grad_()
        conf = torch.randn(n, p, c, generator=torch.Generator().manual_seed(seed + 1)).requires_grad_()
        loc_t = torch.randn(n, p, 4, generator=torch.Generator().manual_seed(seed + 2))
        ll, lc = fn(loc, conf, loc_t, conf_t)
        (ll + lc).backward()
        outs.append((ll.detach(), lc.detach(), loc.grad, conf.grad))
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_box_iou_batched_equals_the_reference_bit_for_bit():
    gen = torch.Generator().manual_seed(3)
    a = torch.rand(3, 5, 4, generator=gen)
    a[..., 2:] += a[..., :2]
    a[0, 0] = 0  # a zero box (padding)
    a[1, 1, 2] = a[1, 1, 0] - 0.1  # an inverted box: zero area
    b = torch.rand(40, 4, generator=gen)
    b[:, 2:] += b[:, :2]
    b[0] = a[2, 3]  # identical boxes: IoU 1
    iou = box_iou(a, b)
    assert iou.shape == (3, 5, 40) and iou[2, 3, 0] == 1 and not iou[0, 0].any() and not iou[1, 1].any()
    for k in range(3):
        assert torch.equal(iou[k], reference_box_iou(a[k], b))
