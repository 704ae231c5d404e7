"""Benchmark inputs: a deterministic synthetic picture and the runtime's pre-processing of it."""

from __future__ import annotations

import numpy as np


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


def preprocess(rgb: np.ndarray, info, size: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, S, S) float32 network input, pre-processed as the runtime does it."""
    from PIL import Image

    from ..runtime.preprocess import preprocess_image

    return preprocess_image(Image.fromarray(rgb), int(size or info.input_size), info)
