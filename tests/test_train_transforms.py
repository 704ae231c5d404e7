"""SSD augmentation keeps boxes consistent with pixels."""

import numpy as np
import pytest
import torch

from ssd2ncnn.config import get_preset
from ssd2ncnn.train.transforms import (
    EvalTransform,
    TrainTransform,
    canvas_region,
    expand,
    hflip,
    photometric_distort,
    random_crop,
    resize,
    rgb_mean,
)

RED = np.array([255, 0, 0], dtype=np.uint8)


def _scene(rng, h=120, w=160):
    """Grey image with one pure-red rectangle; returns (image, its box)."""
    img = np.full((h, w, 3), 128, dtype=np.uint8)
    x1, y1 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
    x2, y2 = x1 + int(rng.integers(20, 40)), y1 + int(rng.integers(20, 40))
    img[y1:y2, x1:x2] = RED
    return img, np.array([[x1, y1, x2, y2]], dtype=np.float32)


def _red_bbox(img):
    ys, xs = np.nonzero(np.all(img == RED, axis=-1))
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)


def test_flip_twice_is_identity():
    rng = np.random.default_rng(0)
    img, box = _scene(rng)
    img2, box2 = hflip(*hflip(img, box))
    assert np.array_equal(img2, img) and np.array_equal(box2, box)
    f_img, f_box = hflip(img, box)
    assert np.array_equal(_red_bbox(f_img), f_box[0])


@pytest.mark.parametrize("seed", range(8))
def test_pixels_follow_box_through_expand_crop_flip(seed):
    rng = np.random.default_rng(seed)
    img, box = _scene(rng)
    labels = np.array([1])
    img, box = expand(rng, img, box, fill=np.array([10, 20, 30]))
    assert np.array_equal(_red_bbox(img), box[0])
    filled = np.all(img == [10, 20, 30], axis=-1).sum()
    assert filled == img.shape[0] * img.shape[1] - 120 * 160  # everything outside the original is the fill
    img, box, labels = random_crop(rng, img, box, labels)
    # the crop clips the box to the patch: the red pixels inside it are exactly the clipped box
    assert np.array_equal(_red_bbox(img), box[0])
    img, box = hflip(img, box)
    assert np.array_equal(_red_bbox(img), box[0])
    h, w = img.shape[:2]
    assert np.all(box >= 0) and np.all(box[:, [0, 2]] <= w) and np.all(box[:, [1, 3]] <= h)


def test_random_crop_keeps_only_boxes_with_centres_inside():
    rng = np.random.default_rng(3)
    img = np.zeros((100, 100, 3), np.uint8)
    boxes = np.array([[0, 0, 10, 10], [80, 80, 100, 100], [40, 40, 60, 60]], np.float32)
    for _ in range(30):
        out, b, lab = random_crop(rng, img, boxes, np.array([1, 2, 3]))
        assert len(b) == len(lab) >= 1
        assert np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])
        assert np.all(b[:, 2] <= out.shape[1]) and np.all(b[:, 3] <= out.shape[0])


def test_resize_scales_boxes():
    img = np.zeros((50, 100, 3), np.uint8)
    img[10:20, 30:50] = RED
    out, box = resize(img, np.array([[30, 10, 50, 20]], np.float32), 200)
    assert out.shape == (200, 200, 3)
    np.testing.assert_allclose(box, [[60, 40, 100, 80]])
    assert np.all(out[50:70, 70:90] == RED)


def normalize(img: np.ndarray, cfg) -> np.ndarray:
    """One image through the training normalisation (`network_input` on a batch of one)."""
    from ssd2ncnn.train.data import network_input

    return network_input(torch.from_numpy(np.ascontiguousarray(img))[None], cfg)[0].numpy()


def test_normalize_rgb_and_bgr():
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 0] = 200  # red
    cfg = get_preset("ssdlite320")
    x = normalize(img, cfg)
    assert x.shape == (3, 2, 2)
    np.testing.assert_allclose(x[:, 0, 0], (np.array([200, 0, 0]) - np.array(cfg.mean)) / np.array(cfg.std), rtol=1e-6)
    from dataclasses import replace

    bgr = replace(cfg, rgb=False, mean=(1.0, 2.0, 3.0), std=(2.0, 2.0, 2.0))
    np.testing.assert_allclose(normalize(img, bgr)[:, 0, 0], [(0 - 1) / 2, (0 - 2) / 2, (200 - 3) / 2])
    np.testing.assert_allclose(rgb_mean(bgr), [3, 2, 1])
    # the expand fill is the mean, which normalises to zero
    assert np.allclose(normalize(np.full((1, 1, 3), rgb_mean(bgr), np.uint8), bgr), 0)


def test_photometric_distort_keeps_shape_and_changes_pixels():
    rng = np.random.default_rng(1)
    img = np.random.default_rng(2).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    outs = [photometric_distort(rng, img) for _ in range(6)]
    assert all(o.shape == img.shape and o.dtype == np.uint8 for o in outs)
    assert any(not np.array_equal(o, img) for o in outs)


def test_train_and_eval_transform_outputs():
    cfg = get_preset("ssdlite320", input_size=96, num_classes=2)
    rng = np.random.default_rng(5)
    t = TrainTransform(cfg, seed=4)
    for _ in range(10):
        img, box = _scene(rng)
        x, b, lab = t(img, box, np.array([1]))
        assert x.shape == (96, 96, 3) and x.dtype == np.uint8  # normalised later, on the device
        assert np.all((b >= 0) & (b <= 1)) and len(b) == len(lab)
    x, b, lab = EvalTransform(cfg)(np.zeros((50, 100, 3), np.uint8), np.array([[10, 5, 60, 25]], np.float32), np.array([1]))
    np.testing.assert_allclose(b, [[0.1, 0.1, 0.6, 0.5]])


def _old_train_transform(cfg, seed, img, boxes, labels):
    """TrainTransform as it was: the whole zoom-out canvas made, then cropped (the reference)."""
    rng = np.random.default_rng(seed)
    img = photometric_distort(rng, img)
    if rng.random() < 0.5:
        h, w, _ = img.shape
        ratio = rng.uniform(1.0, 4.0)
        ch, cw = int(h * ratio), int(w * ratio)
        top, left = int(rng.uniform(0, ch - h)), int(rng.uniform(0, cw - w))
        canvas = np.empty((ch, cw, 3), dtype=np.uint8)
        canvas[:] = np.clip(np.round(rgb_mean(cfg)), 0, 255).astype(np.uint8)
        canvas[top:top + h, left:left + w] = img
        img, boxes = canvas, boxes + np.array([left, top, left, top], dtype=np.float32)
    img, boxes, labels = random_crop(rng, img, boxes, labels)
    if rng.random() < 0.5:
        img, boxes = hflip(img, boxes)
    img, boxes = resize(img, boxes, cfg.input_size)
    boxes = np.clip(boxes / cfg.input_size, 0.0, 1.0)
    keep = np.all((boxes[:, 2:] - boxes[:, :2]) * cfg.input_size >= 2.0, axis=1)
    return img, boxes[keep], labels[keep]


def test_fused_zoom_out_and_crop_equal_the_whole_canvas_pipeline():
    cfg = get_preset("ssdlite320", input_size=96, num_classes=2)
    rng = np.random.default_rng(11)
    for seed in range(40):
        img, box = _scene(rng)
        boxes = np.concatenate([box, box + 3]).astype(np.float32)
        labels = np.array([1, 1]) if seed % 5 else np.zeros(0, np.int64)
        boxes = boxes[: len(labels)]
        got = TrainTransform(cfg, seed=seed)(img, boxes.copy(), labels.copy())
        ref = _old_train_transform(cfg, seed, img, boxes.copy(), labels.copy())
        for a, b in zip(got, ref, strict=True):
            assert np.array_equal(a, b), seed


def test_canvas_region_is_a_crop_of_the_canvas():
    img = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    fill = np.array([1.0, 2.0, 3.0])
    _, canvas_boxes = expand(np.random.default_rng(1), img, np.zeros((0, 4), np.float32), fill)
    full = np.empty((12, 20, 3), np.uint8)
    full[:] = [1, 2, 3]
    full[4:9, 6:13] = img
    for rect in [(0, 0, 20, 12), (5, 3, 11, 10), (0, 0, 3, 3), (10, 8, 20, 12), (13, 9, 20, 12)]:
        x1, y1, x2, y2 = rect
        assert np.array_equal(canvas_region(img, fill, 4, 6, rect), full[y1:y2, x1:x2]), rect


def test_network_input_is_the_formula_per_image():
    from ssd2ncnn.train.data import network_input

    imgs = np.random.default_rng(3).integers(0, 256, (2, 8, 6, 3), dtype=np.uint8)
    from dataclasses import replace

    rgb = get_preset("ssdlite320", num_classes=2)
    for cfg in (rgb, replace(rgb, rgb=False, mean=(1.0, 2.0, 3.0), std=(2.0, 3.0, 4.0))):
        for channels_last in (False, True):
            x = network_input(torch.from_numpy(imgs), cfg, channels_last)
            assert x.shape == (2, 3, 8, 6) and x.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            for k in range(2):
                order = slice(None) if cfg.rgb else slice(None, None, -1)  # (x - mean) / std, channels first
                want = ((imgs[k][..., order].astype(np.float32) - np.float32(cfg.mean)) / np.float32(cfg.std)).transpose(2, 0, 1)
                assert torch.equal(x[k], torch.from_numpy(np.ascontiguousarray(want)))
