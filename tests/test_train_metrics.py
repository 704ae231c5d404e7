"""VOC mAP: hand-computed cases, difficult handling, coordinate invariance, and agreement with a
brute-force reference and with pycocotools."""

import numpy as np
import pytest

from ssd2ncnn.data.metrics import evaluate_detections, voc_ap


def test_voc_ap_hand_computed():
    recall, precision = np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    assert voc_ap(recall, precision, use_07=False) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert voc_ap(recall, precision, use_07=True) == pytest.approx((6 * 1 + 5 * 2 / 3) / 11)
    assert voc_ap(np.array([1.0]), np.array([1.0])) == pytest.approx(1.0)
    assert voc_ap(np.zeros(0), np.zeros(0), use_07=False) == 0.0


def _case():
    gts = [np.array([[1, 0, 0, 10, 10], [1, 20, 20, 30, 30]], float)]
    dets = [np.array([
        [1, 0.9, 0, 0, 10, 10],  # TP
        [1, 0.8, 50, 50, 60, 60],  # FP (no overlap)
        [1, 0.7, 21, 20, 31, 30],  # TP, IoU 9/11
    ])]
    return dets, gts


def test_evaluate_detections_hand_computed():
    dets, gts = _case()
    m = evaluate_detections(dets, gts, num_classes=2, use_07=False)
    assert m.ap[1] == pytest.approx(0.5 + 0.5 * 2 / 3) and np.isnan(m.ap[0]) and m.num_gt[1] == 2
    assert evaluate_detections(dets, gts, 2, use_07=True).map == pytest.approx((6 + 5 * 2 / 3) / 11)
    # IoU 9/11 = 0.818 fails at a 0.85 threshold: the third detection becomes FP, recall stops at 0.5
    assert evaluate_detections(dets, gts, 2, iou=0.85, use_07=False).ap[1] == pytest.approx(0.5)


def test_duplicates_are_false_positives_and_classes_do_not_mix():
    gts = [np.array([[1, 0, 0, 10, 10]], float)]
    dets = [np.array([[1, 0.9, 0, 0, 10, 10], [1, 0.95, 0, 0, 10, 10], [2, 0.99, 0, 0, 10, 10]])]
    m = evaluate_detections(dets, gts, 3, use_07=False)
    assert m.ap[1] == pytest.approx(1.0)  # the first (0.95) is TP, the duplicate FP comes after recall 1
    assert np.isnan(m.ap[2]) and m.map == pytest.approx(1.0)  # class 2 has no GT: not in the mean


def test_difficult_gt_is_neither_tp_nor_fp():
    dets, gts = _case()
    gts_d = [np.hstack([np.vstack([gts[0], [1, 70, 70, 90, 90]]), np.array([[0], [0], [1]])])]
    dets_d = [np.vstack([[1, 0.95, 70, 70, 90, 90], dets[0]])]  # top detection hits the difficult GT
    base = evaluate_detections(dets, gts, 2, use_07=False)
    with_diff = evaluate_detections(dets_d, gts_d, 2, use_07=False)
    assert with_diff.ap[1] == pytest.approx(base.ap[1]) and with_diff.num_gt[1] == 2
    # dict ground truth form gives the same
    as_dict = [{"boxes": gts_d[0][:, 1:5], "labels": gts_d[0][:, 0], "difficult": gts_d[0][:, 5]}]
    assert evaluate_detections(dets_d, as_dict, 2, use_07=False).ap[1] == pytest.approx(base.ap[1])


def test_pixel_and_normalised_coordinates_agree():
    rng = np.random.default_rng(0)
    dets, gts = _random_problem(rng, n_images=6, num_classes=3)
    sizes = [(rng.uniform(50, 300), rng.uniform(50, 300)) for _ in dets]
    norm = lambda a, w, h, off: a * np.r_[np.ones(off), [1 / w, 1 / h, 1 / w, 1 / h], np.ones(a.shape[1] - off - 4)]  # noqa: E731
    dn = [norm(d, w, h, 2) for d, (w, h) in zip(dets, sizes, strict=True)]
    gn = [norm(g, w, h, 1) for g, (w, h) in zip(gts, sizes, strict=True)]
    for use_07 in (True, False):
        a = evaluate_detections(dets, gts, 3, use_07=use_07)
        b = evaluate_detections(dn, gn, 3, use_07=use_07)
        np.testing.assert_allclose(a.ap, b.ap, atol=1e-9)


# ---- independent references --------------------------------------------------------------------


def _random_problem(rng, n_images=8, num_classes=3, with_difficult=True):
    dets, gts = [], []
    for _ in range(n_images):
        g = []
        for _ in range(rng.integers(0, 5)):
            x, y = rng.uniform(0, 80, 2)
            w, h = rng.uniform(5, 40, 2)
            g.append([rng.integers(1, num_classes), x, y, x + w, y + h, float(with_difficult and rng.random() < 0.2)])
        g = np.array(g, float).reshape(-1, 6)
        d = []
        for row in g:  # noisy true detections, some missing
            if rng.random() < 0.8:
                b = row[1:5] + rng.normal(0, 3, 4)
                d.append([row[0], rng.random(), min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]) + 1, max(b[1], b[3]) + 1])
        for _ in range(rng.integers(0, 4)):  # clutter
            x, y = rng.uniform(0, 80, 2)
            d.append([rng.integers(1, num_classes), rng.random(), x, y, x + rng.uniform(5, 40), y + rng.uniform(5, 40)])
        dets.append(np.array(d, float).reshape(-1, 6))
        gts.append(g)
    return dets, gts


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _brute_force_pr(dets, gts, c, thr=0.5):
    """Precision/recall after each detection, re-matching the top-k detections from scratch for every k."""
    flat = sorted(((d[1], i, d) for i, ds in enumerate(dets) for d in ds if d[0] == c), key=lambda t: -t[0])
    npos = sum(1 for g in gts for row in g if row[0] == c and not row[5])
    recalls, precisions = [], []
    for k in range(1, len(flat) + 1):
        taken, tp, fp = set(), 0, 0
        for _, i, d in flat[:k]:
            cands = [(j, _iou(d[2:6], row[1:5])) for j, row in enumerate(gts[i]) if row[0] == c]
            if not cands:
                fp += 1
                continue
            j, best = max(cands, key=lambda t: t[1])
            if best < thr:
                fp += 1
            elif gts[i][j][5]:
                pass
            elif (i, j) in taken:
                fp += 1
            else:
                taken.add((i, j))
                tp += 1
        recalls.append(tp / npos)
        precisions.append(tp / max(tp + fp, 1e-300) if tp + fp else 0.0)
    return np.array(recalls), np.array(precisions), npos


def _interp_ap(recalls, precisions, points):
    """Mean over recall points of the best precision at recall >= point (points=None: exact area)."""
    if points is None:
        levels = sorted(set(recalls.tolist()))
        ap, prev = 0.0, 0.0
        for r in levels:
            ap += (r - prev) * max(p for rr, p in zip(recalls, precisions, strict=True) if rr >= r)
            prev = r
        return ap
    return float(np.mean([max([p for rr, p in zip(recalls, precisions, strict=True) if rr >= t] or [0.0]) for t in points]))


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_reference(seed):
    rng = np.random.default_rng(seed)
    dets, gts = _random_problem(rng, n_images=10, num_classes=4)
    for use_07, points in ((True, np.linspace(0, 1, 11)), (False, None)):
        m = evaluate_detections(dets, gts, 4, use_07=use_07)
        for c in range(1, 4):
            r, p, npos = _brute_force_pr(dets, gts, c)
            if npos == 0:
                assert np.isnan(m.ap[c])
            else:
                assert m.ap[c] == pytest.approx(_interp_ap(r, p, points), abs=1e-9), (seed, c, use_07)


@pytest.mark.parametrize("seed", range(3))
def test_brute_force_reference_agrees_with_pycocotools(seed):
    """pycocotools (AP@0.5, 101 recall points, no crowd) on the same detections as our brute-force
    reference with 101 points: validates the matching rules independently of our implementation."""
    coco_mod = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    rng = np.random.default_rng(100 + seed)
    dets, gts = _random_problem(rng, n_images=10, num_classes=3, with_difficult=False)
    # COCO matches each detection to the best *untaken* GT, VOC to the best GT: equal when GTs of a
    # class do not overlap, so keep only such problems.
    for i, g in enumerate(gts):
        keep = []
        for row in g:
            if all(row[0] != o[0] or _iou(row[1:5], o[1:5]) == 0 for o in keep):
                keep.append(row)
        gts[i] = np.array(keep).reshape(-1, 6)
    images = [{"id": i + 1, "width": 200, "height": 200} for i in range(len(gts))]
    anns, k = [], 1
    for i, g in enumerate(gts):
        for row in g:
            x1, y1, x2, y2 = row[1:5]
            anns.append({"id": k, "image_id": i + 1, "category_id": int(row[0]), "bbox": [x1, y1, x2 - x1, y2 - y1],
                         "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
            k += 1
    gt_api = coco_mod.COCO()
    gt_api.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in (1, 2)]}
    gt_api.createIndex()
    results = [{"image_id": i + 1, "category_id": int(d[0]), "bbox": [d[2], d[3], d[4] - d[2], d[5] - d[3]], "score": float(d[1])}
               for i, ds in enumerate(dets) for d in ds]
    ev = cocoeval.COCOeval(gt_api, gt_api.loadRes(results), "bbox")
    ev.params.iouThrs = np.array([0.5])
    ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
    ev.params.maxDets = [1000]
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
    for ci, c in enumerate((1, 2)):
        coco_ap = ev.eval["precision"][0, :, ci, 0, 0]
        coco_ap = float(np.mean(coco_ap)) if (coco_ap > -1).all() else float("nan")
        r, p, npos = _brute_force_pr(dets, gts, c)
        if npos == 0:
            continue
        assert _interp_ap(r, p, np.linspace(0, 1, 101)) == pytest.approx(coco_ap, abs=1e-6)
        # and our all-point AP is within the 101-point discretisation of it
        assert evaluate_detections(dets, gts, 3, use_07=False).ap[c] == pytest.approx(coco_ap, abs=0.02)
