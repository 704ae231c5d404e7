"""SSD data augmentation (Liu et al. 2016, section 2.2 and 3.6) with Pillow and numpy only.

Every step takes and returns (image uint8 HWC RGB, boxes (N, 4) float pixels x1y1x2y2, labels (N,)),
so boxes stay consistent with the pixels at each step; `resize` produces the network input size and
`normalize` the float CHW tensor in the config's channel order, mean and std."""

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


def expand(rng: np.random.Generator, image: np.ndarray, boxes: np.ndarray, fill: np.ndarray, max_ratio: float = 4.0):
    """Zoom out: place the image at a random spot of a canvas up to `max_ratio` times larger, filled
    with the mean (which normalises to zero)."""
    h, w, _ = image.shape
    ratio = rng.uniform(1.0, max_ratio)
    ch, cw = int(h * ratio), int(w * ratio)
    top, left = int(rng.uniform(0, ch - h)), int(rng.uniform(0, cw - w))
    canvas = np.empty((ch, cw, 3), dtype=np.uint8)
    canvas[:] = np.clip(np.round(fill), 0, 255).astype(np.uint8)
    canvas[top:top + h, left:left + w] = image
    return canvas, boxes + np.array([left, top, left, top], dtype=np.float32)


def random_crop(rng: np.random.Generator, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, trials: int = 50):
    """SSD's IoU-constrained crop: pick a minimum IoU (or none), try patches of 0.3-1 of each side with
    aspect 0.5-2 until one overlaps some box by at least that IoU; keep the boxes whose centres fall in the
    patch, clipped to it. Images without boxes are returned unchanged."""
    if len(boxes) == 0:
        return image, boxes, labels
    h, w, _ = image.shape
    while True:
        min_iou = CROP_MIN_IOUS[int(rng.integers(len(CROP_MIN_IOUS)))]
        if min_iou is None:
            return image, boxes, labels
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
            x1, y1, x2, y2 = (int(v) for v in rect)
            kept = boxes[inside].copy()
            kept[:, :2] = np.maximum(kept[:, :2], rect[:2]) - rect[:2]
            kept[:, 2:] = np.minimum(kept[:, 2:], rect[2:]) - rect[:2]
            return image[y1:y2, x1:x2], kept, labels[inside]


def hflip(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = image.shape[1]
    flipped = boxes.copy()
    flipped[:, 0], flipped[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return image[:, ::-1], flipped


def resize(image: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Stretch to size x size (SSD does not keep the aspect ratio; neither does the deployed model)."""
    h, w, _ = image.shape
    out = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((size, size), Image.Resampling.BILINEAR))
    return out, boxes * np.array([size / w, size / h, size / w, size / h], dtype=np.float32)


def normalize(image: np.ndarray, cfg: SSDConfig) -> np.ndarray:
    """uint8 HWC RGB -> float32 CHW in the model's channel order, (x - mean) / std."""
    x: np.ndarray = image.astype(np.float32)
    if not cfg.rgb:
        x = x[..., ::-1]
    x = (x - np.asarray(cfg.mean, dtype=np.float32)) / np.asarray(cfg.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def _finish(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, cfg: SSDConfig):
    """Resize, normalise, and express boxes in [0, 1] of the network input."""
    image, boxes = resize(image, boxes, cfg.input_size)
    return normalize(image, cfg), np.clip(boxes / cfg.input_size, 0.0, 1.0), labels


class TrainTransform:
    """Photometric distortion, expand (p=0.5), random crop, flip (p=0.5), resize, normalise. Boxes that
    end up smaller than `min_size` pixels of the network input are dropped (nothing left to learn)."""

    def __init__(self, cfg: SSDConfig, seed: int = 0, min_size: float = 2.0, max_expand: float = 4.0):
        self.cfg = cfg
        self.max_expand = max_expand
        self.fill = rgb_mean(cfg)
        self.min_size = min_size
        self.rng = np.random.default_rng(seed)

    def reseed(self, seed: int) -> None:
        """Called per data-loader worker so workers do not repeat each other's augmentation."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray):
        rng = self.rng
        image = photometric_distort(rng, image)
        if self.max_expand > 1 and rng.random() < 0.5:
            image, boxes = expand(rng, image, boxes, self.fill, self.max_expand)
        image, boxes, labels = random_crop(rng, image, boxes, labels)
        if rng.random() < 0.5:
            image, boxes = hflip(image, boxes)
        image, boxes, labels = _finish(image, boxes, labels, self.cfg)
        wh = (boxes[:, 2:] - boxes[:, :2]) * self.cfg.input_size
        keep = np.all(wh >= self.min_size, axis=1)
        return image, boxes[keep], labels[keep]


class EvalTransform:
    def __init__(self, cfg: SSDConfig):
        self.cfg = cfg

    def __call__(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray):
        return _finish(image, boxes, labels, self.cfg)
