"""Pre-processing as the checkpoint was trained: resize to size x size (bilinear), channel order from
`rgb`, then (pixel - mean) * norm with pixels in 0..255: the same arithmetic as ncnn's
`Mat::substract_mean_normalize`, so Python and an app using ncnn's C++ API feed the net the same input."""

from __future__ import annotations

import numpy as np
from PIL import Image


def preprocess_image(image: Image.Image, size: int, norm) -> np.ndarray:
    """RGB PIL image -> (3, size, size) float32 for the `input` blob. `norm` has `rgb`, `mean_vals`,
    `norm_vals` (a ModelInfo or an SSDConfig)."""
    resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    hwc = np.asarray(resized, dtype=np.float32)
    if not norm.rgb:
        hwc = hwc[:, :, ::-1]
    mean = np.asarray(norm.mean_vals, dtype=np.float32)
    norm = np.asarray(norm.norm_vals, dtype=np.float32)
    return np.ascontiguousarray(((hwc - mean) * norm).transpose(2, 0, 1), dtype=np.float32)
