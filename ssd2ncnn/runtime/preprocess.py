"""Pre-processing as the apps that ship the model do it: ncnn's own `Mat::from_pixels_resize` (bilinear,
stretched to size x size) and `Mat::substract_mean_normalize(mean_vals, norm_vals)` with model.json's
values, the calls in ncnn's examples/mobilenetv3ssdlite.cpp and its python model_zoo
`MobileNetV3_SSDLite`. Running ncnn's functions, not a re-implementation, makes the tensor `detect` feeds
the net the one a C++ or Android app feeds it for the same decoded pixels.

Training resizes with Pillow (`train.transforms.resize`), whose bilinear filter widens with the
downscale factor; ncnn's samples two pixels per axis. `verify --images` reports what that costs."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from PIL import Image


class Normalization(Protocol):
    """Anything with model.json's pre-processing values: `ModelInfo`, `SSDConfig`."""

    @property
    def rgb(self) -> bool: ...

    @property
    def mean_vals(self) -> tuple[float, ...]: ...

    @property
    def norm_vals(self) -> tuple[float, ...]: ...


def ncnn_input_mat(image: np.ndarray | Image.Image, size: int, norm: Normalization):
    """The `input` blob as the ncnn-owned Mat that `from_pixels_resize` returns (what `detect` feeds the
    net without a numpy round trip), from an (H, W, 3) uint8 RGB array or a PIL image. A BGR model gets
    PIXEL_RGB2BGR, the conversion ncnn does inside the resize."""
    import ncnn

    if isinstance(image, Image.Image):
        image = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    pixels = np.ascontiguousarray(image, dtype=np.uint8)  # held in a local: ncnn reads it during the call
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) pixels, got {pixels.shape}")
    h, w = pixels.shape[:2]
    kind = ncnn.Mat.PixelType.PIXEL_RGB if norm.rgb else ncnn.Mat.PixelType.PIXEL_RGB2BGR
    mat = ncnn.Mat.from_pixels_resize(pixels, kind, w, h, size, size)  # a new Mat: it does not alias `pixels`
    mat.substract_mean_normalize([float(v) for v in norm.mean_vals], [float(v) for v in norm.norm_vals])
    del pixels
    return mat


def ncnn_input(image: np.ndarray | Image.Image, size: int, norm: Normalization) -> np.ndarray:
    """`ncnn_input_mat` as a (3, size, size) float32 numpy array."""
    mat = ncnn_input_mat(image, size, norm)
    out = np.array(mat, dtype=np.float32, copy=True).reshape(3, size, size)
    del mat
    return out
