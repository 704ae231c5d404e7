"""SSD data augmentation (Liu et al. 2016, section 2.2 and 3.6) with Pillow and numpy only.

Every step takes and returns (image uint8 HWC RGB, boxes (N, 4) float pixels x1y1x2y2, labels (N,)),
so boxes stay consistent with the pixels at each step; `resize` produces the network input size. The
transforms end there, in uint8: normalisation (`data.network_input`, on a batch on the device) is left
to the consumer, so loader workers do less and ship a quarter of the bytes.

Zoom-out and crop are fused in `TrainTransform`: the crop is chosen on the canvas's size alone and only
the cropped part of the canvas is made (`canvas_region`), with the same random draws and pixels as
building the whole canvas (up to 16x the image's area) and then cropping it."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance

from ..config import SSDConfig
from ..data.boxes import iou_matrix

CROP_MIN_IOUS = (None, 0.1, 0.3, 0.5, 0.7, 0.9, 0.0)  # None: keep the whole image


def rgb_mean(cfg: SSDConfig) -> np.ndarray:
    """The config's mean in RGB order (it is stored in the model's input channel order)."""
    mean = np.asarray(cfg.mean, dtype=np.float32)
    return mean if cfg.rgb else mean[::-1].copy()


def photometric_distort(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Random brightness, contrast, saturation and hue, each with probability 1/2; contrast goes either
    first or last, as in SSD."""
    img = Image.fromarray(image)

    def contrast(im: Image.Image) -> Image.Image:
        return ImageEnhance.Contrast(im).enhance(rng.uniform(0.5, 1.5)) if rng.random() < 0.5 else im

    if rng.random() < 0.5:
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.75, 1.25))
    contrast_first = rng.random() < 0.5
    if contrast_first:
        img = contrast(img)
    if rng.random() < 0.5:
        img = ImageEnhance.Color(img).enhance(rng.uniform(0.5, 1.5))
    if rng.random() < 0.5:
        hsv = np.asarray(img.convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(rng.integers(-18, 19))) % 256
        img = Image.fromarray(hsv, "HSV").convert("RGB")
    if not contrast_first:
        img = contrast(img)
    return np.asarray(img)


def expand_params(rng: np.random.Generator, h: int, w: int, max_ratio: float) -> tuple[int, int, int, int]:
    """Zoom-out geometry: (canvas height, canvas width, top, left) for an h x w image."""
    ratio = rng.uniform(1.0, max_ratio)
    ch, cw = int(h * ratio), int(w * ratio)
    top, left = int(rng.uniform(0, ch - h)), int(rng.uniform(0, cw - w))
    return ch, cw, top, left


def canvas_region(image: np.ndarray, fill: np.ndarray, top: int, left: int, rect: tuple[int, int, int, int]) -> np.ndarray:
    """Pixels (x1, y1, x2, y2) of a canvas filled with `fill` that holds `image` at (top, left), made
    without the rest of the canvas."""
    x1, y1, x2, y2 = rect
    out = np.empty((y2 - y1, x2 - x1, 3), dtype=np.uint8)
    # Filled a whole row at a time: broadcasting a 3-vector over H x W runs ~50x slower (measured).
    out.reshape(y2 - y1, -1)[:] = np.tile(np.clip(np.round(fill), 0, 255).astype(np.uint8), x2 - x1)
    h, w, _ = image.shape
    ix1, iy1, ix2, iy2 = max(x1, left), max(y1, top), min(x2, left + w), min(y2, top + h)
    if ix2 > ix1 and iy2 > iy1:
        out[iy1 - y1:iy2 - y1, ix1 - x1:ix2 - x1] = image[iy1 - top:iy2 - top, ix1 - left:ix2 - left]
    return out


def expand(rng: np.random.Generator, image: np.ndarray, boxes: np.ndarray, fill: np.ndarray, max_ratio: float = 4.0):
    """Zoom out: place the image at a random spot of a canvas up to `max_ratio` times larger, filled
    with the mean (which normalises to zero)."""
    h, w, _ = image.shape
    ch, cw, top, left = expand_params(rng, h, w, max_ratio)
    return canvas_region(image, fill, top, left, (0, 0, cw, ch)), boxes + np.array([left, top, left, top], dtype=np.float32)


def choose_crop(rng: np.random.Generator, h: int, w: int, boxes: np.ndarray, labels: np.ndarray, trials: int = 50):
    """SSD's IoU-constrained crop of an h x w image: pick a minimum IoU (or none), try patches of 0.3-1 of
    each side with aspect 0.5-2 until one overlaps some box by at least that IoU; keep the boxes whose
    centres fall in the patch, clipped to it. Returns (integer rect x1y1x2y2 or None for the whole image,
    boxes in the patch's pixels, labels). Images without boxes are not cropped."""
    if len(boxes) == 0:
        return None, boxes, labels
    while True:
        min_iou = CROP_MIN_IOUS[int(rng.integers(len(CROP_MIN_IOUS)))]
        if min_iou is None:
            return None, boxes, labels
        for _ in range(trials):
            cw, ch = rng.uniform(0.3 * w, w), rng.uniform(0.3 * h, h)
            if not 0.5 <= ch / cw <= 2.0:
                continue
            left, top = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
            rect = np.array([int(left), int(top), int(left + cw), int(top + ch)], dtype=np.float32)
            if iou_matrix(boxes, rect)[:, 0].max() < min_iou:
                continue
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2
            inside = np.all((centres > rect[:2]) & (centres < rect[2:]), axis=1)
            if not inside.any():
                continue
            kept = boxes[inside].copy()
            kept[:, :2] = np.maximum(kept[:, :2], rect[:2]) - rect[:2]
            kept[:, 2:] = np.minimum(kept[:, 2:], rect[2:]) - rect[:2]
            x1, y1, x2, y2 = (int(v) for v in rect)
            return (x1, y1, x2, y2), kept, labels[inside]


def random_crop(rng: np.random.Generator, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, trials: int = 50):
    """`choose_crop` applied to the image."""
    h, w, _ = image.shape
    rect, boxes, labels = choose_crop(rng, h, w, boxes, labels, trials)
    if rect is None:
        return image, boxes, labels
    x1, y1, x2, y2 = rect
    return image[y1:y2, x1:x2], boxes, labels


def flip_boxes(boxes: np.ndarray, width: int) -> np.ndarray:
    flipped = boxes.copy()
    flipped[:, 0], flipped[:, 2] = width - boxes[:, 2], width - boxes[:, 0]
    return flipped


def hflip(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return image[:, ::-1], flip_boxes(boxes, image.shape[1])


def resize(image: np.ndarray, boxes: np.ndarray, size: int, mirror: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Stretch to size x size (SSD does not keep the aspect ratio; neither does the deployed model).
    `mirror` flips the pixels (not the boxes) first, in Pillow: an exact copy like `hflip`'s, without
    numpy's slow copy of a reversed view."""
    h, w, _ = image.shape
    pil = Image.fromarray(np.ascontiguousarray(image))
    if mirror:
        pil = pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    out = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
    return out, boxes * np.array([size / w, size / h, size / w, size / h], dtype=np.float32)


def _finish(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, cfg: SSDConfig, mirror: bool = False):
    """Resize (mirrored first if asked; uint8 HWC RGB stays) and express boxes in [0, 1] of the network input."""
    image, boxes = resize(image, boxes, cfg.input_size, mirror)
    return image, np.clip(boxes / cfg.input_size, 0.0, 1.0), labels


class TrainTransform:
    """Photometric distortion, expand (p=0.5), random crop, flip (p=0.5), resize; uint8 out. Boxes that
    end up smaller than `min_size` pixels of the network input are dropped (nothing left to learn)."""

    def __init__(self, cfg: SSDConfig, seed: int = 0, min_size: float = 2.0, max_expand: float = 4.0):
        self.cfg = cfg
        self.max_expand = max_expand
        self.fill = rgb_mean(cfg)
        self.min_size = min_size
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int | list[int]) -> None:
        """Called per image with (epoch seed, index) by the training dataset."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray):
        rng = self.rng
        image = photometric_distort(rng, image)
        h, w, _ = image.shape
        placed = None  # (top, left) of the image on a zoom-out canvas of h x w
        if self.max_expand > 1 and rng.random() < 0.5:
            h, w, top, left = expand_params(rng, h, w, self.max_expand)
            boxes, placed = boxes + np.array([left, top, left, top], dtype=np.float32), (top, left)
        rect, boxes, labels = choose_crop(rng, h, w, boxes, labels)
        if placed is not None:
            image = canvas_region(image, self.fill, *placed, rect or (0, 0, w, h))
        elif rect is not None:
            image = image[rect[1]:rect[3], rect[0]:rect[2]]
        mirror = rng.random() < 0.5
        if mirror:
            boxes = flip_boxes(boxes, image.shape[1])
        image, boxes, labels = _finish(image, boxes, labels, self.cfg, mirror)
        wh = (boxes[:, 2:] - boxes[:, :2]) * self.cfg.input_size
        keep = np.all(wh >= self.min_size, axis=1)
        return image, boxes[keep], labels[keep]


class EvalTransform:
    def __init__(self, cfg: SSDConfig):
        self.cfg = cfg

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray):
        return _finish(image, boxes, labels, self.cfg)
