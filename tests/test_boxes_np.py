"""data.boxes.iou_matrix, the one numpy IoU, by hand and against the torch twin."""

from __future__ import annotations

import numpy as np
import pytest

from ssd2ncnn.data.boxes import iou_matrix


def test_iou_by_hand() -> None:
    a = np.array([[0, 0, 2, 2], [1, 1, 3, 3]])
    b = np.array([[1, 1, 3, 3], [5, 5, 6, 6], [0, 0, 0, 0]])
    expect = np.array([[1 / 7, 0, 0], [1, 0, 0]])
    np.testing.assert_allclose(iou_matrix(a, b), expect)
    assert iou_matrix([0, 0, 1, 1], [[0, 0, 1, 1]]).shape == (1, 1)  # one box may be given flat
    assert iou_matrix([2, 2, 1, 1], [2, 2, 1, 1])[0, 0] == 0  # inverted box: area 0, union 0


def test_iou_equals_torch_box_iou() -> None:
    torch = pytest.importorskip("torch")
    from ssd2ncnn.model.boxes import box_iou

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 1, (2, 40, 2))
    wh = rng.uniform(0.01, 0.5, (2, 40, 2))
    a, b = np.concatenate([xy[0], xy[0] + wh[0]], 1), np.concatenate([xy[1], xy[1] + wh[1]], 1)
    np.testing.assert_allclose(iou_matrix(a, b), box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy(), rtol=1e-6)
