"""Model inputs shared by `bench` and `quantize`: a deterministic synthetic picture, image loading with
Pillow, and the model's pre-processing (resize, channel order, `(x - mean) * norm`) as `model.json` says."""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


def synthetic_image(size: int, seed: int = 0) -> np.ndarray:
    """A (size, size, 3) uint8 RGB picture: smooth gradients, a few filled rectangles and mild noise, so
    activations look more like a photograph's than white noise does."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    img = np.stack([200 * xx + 30, 180 * yy + 40, 120 * (1 - xx) * yy + 60], axis=-1)
    for _ in range(6):
        x0, y0 = rng.integers(0, size * 3 // 4, 2)
        w, h = rng.integers(size // 8, size // 3, 2)
        img[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def preprocess(rgb: np.ndarray, meta: dict, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, h, w) float32 network input, resized to `size` (default: the model's
    input_size) with bilinear filtering, channels in the model's order, `(x - mean_vals) * norm_vals`."""
    from PIL import Image

    if size is None:
        size = int(meta["input_size"])
    h, w = (size, size) if isinstance(size, int) else size
    img = Image.fromarray(rgb)
    if img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    x = np.asarray(img, dtype=np.float32)
    if not meta.get("rgb", True):
        x = x[..., ::-1]
    mean = np.asarray(meta["mean_vals"], dtype=np.float32)
    norm = np.asarray(meta["norm_vals"], dtype=np.float32)
    x = (x - mean) * norm
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` (sorted by name)."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
