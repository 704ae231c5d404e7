"""A converted model folder (OUT/ from `ssd2ncnn convert`) as a detector on PIL images, doing what ncnn's
own clients for this model do (examples/mobilenetv3ssdlite.cpp, python model_zoo `MobileNetV3_SSDLite`):

- pre-processing: `ncnn::Mat::from_pixels_resize` to size x size, then `substract_mean_normalize` with
  model.json's mean_vals/norm_vals (`runtime.preprocess`);
- post-processing: the `.param` already decodes and runs NMS, so each detection_out row only changes units:
  every coordinate is clamped to [0, S-1] on the S-pixel network input and scaled to the original image,
  `clamp(v * S, 0, S - 1) / S * w` as those clients write it.

Needs ncnn, numpy and Pillow only (no torch), so `detect` runs where the model is deployed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from ..errors import InputError
from ..modelfolder import BIN, PARAM, ModelInfo, read_info
from .images import load_image
from .net import load_net, run_mat, run_net
from .preprocess import ncnn_input, ncnn_input_mat


class ImageSize(NamedTuple):
    """The original image's size: what `preprocess` returns to map boxes back."""

    width: int
    height: int


class PreparedInput(NamedTuple):
    """`Detector.prepare`'s result: the network input as an ncnn-owned Mat, and the original size."""

    mat: object  # ncnn.Mat (ncnn is imported lazily)
    size: ImageSize


MIN_INPUT_SIZE = 32  # the smallest size `ssd2ncnn convert` exports; below it the last levels vanish


def clamp_boxes(boxes: np.ndarray, input_size: int, size: ImageSize) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 in [0, 1] of the network input -> pixels of the original image, clamped as
    ncnn's clients clamp them: to [0, S-1] on the S-pixel input, then scaled, so a box touching the right
    edge ends at (S-1)/S of the width."""
    s = float(input_size)
    w, h = size
    return np.clip(boxes * s, 0.0, s - 1.0) / s * np.array([w, h, w, h], dtype=np.float64)


@dataclass(frozen=True)
class Detection:
    label: int  # index into class_names (0 is background and never appears)
    name: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the original image (see clamp_boxes)

    def to_dict(self) -> dict:
        return {"label": self.label, "name": self.name, "score": self.score, "box": list(self.box)}


ImageInput = str | Path | Image.Image | np.ndarray  # what `Detector.detect` takes
DEFAULT_THRESHOLD = 0.3


def pixels_of(image: np.ndarray, bgr: bool = False) -> np.ndarray:
    """An (H, W, 3) uint8 array as RGB pixels (a view; `bgr=True` for OpenCV's channel order), or an
    InputError saying what the array is instead."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        what = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"expected an image path, a PIL image or an (H, W, 3) uint8 array, got a {what}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InputError(f"image array {image.shape} has no pixels")
    return image[..., ::-1] if bgr else image


class Detector:
    """A model folder (OUT/ from convert) in ncnn: `detect(image)` on a path, a PIL image or a numpy array."""

    def __init__(
        self,
        out_dir: str | Path,
        *,
        threads: int = 2,
        input_size: int | None = None,
        options: dict | None = None,
        info: ModelInfo | None = None,
    ):
        """`info`: the folder's model.json when the caller has read it already."""
        self.out_dir = Path(out_dir)
        info = info or read_info(self.out_dir)
        self.info = info
        self.class_names: list[str] = list(info.class_names)
        self.input_blob = info.input_blob
        self.output_blob = info.output_blob
        size = int(info.input_size if input_size is None else input_size)
        if size < MIN_INPUT_SIZE:
            raise InputError(f"input size {size} is too small; use at least {MIN_INPUT_SIZE}")
        self.input_size = size
        if int(threads) < 1:
            raise InputError(f"threads must be at least 1, got {threads}")
        self.num_threads = int(threads)
        merged = {**info.ncnn_options, **(options or {})}
        self.net = load_net(
            self.out_dir / PARAM, self.out_dir / BIN, merged, self.num_threads
        )
        self.last_dropped = 0

    def _pixels(self, image: ImageInput, bgr: bool) -> np.ndarray:
        """(H, W, 3) uint8 RGB pixels of a path (read as `load_image` reads it, EXIF orientation applied),
        a PIL image or an array (RGB unless `bgr`)."""
        if isinstance(image, str | Path):
            image = load_image(image)
        if isinstance(image, Image.Image):
            image = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        return pixels_of(image, bgr)

    def preprocess(self, image: ImageInput, bgr: bool = False) -> tuple[np.ndarray, ImageSize]:
        """(3, S, S) float32 network input and the original size (the input `detect` feeds the net)."""
        rgb = self._pixels(image, bgr)
        return ncnn_input(rgb, self.input_size, self.info), ImageSize(rgb.shape[1], rgb.shape[0])

    def prepare(self, image: ImageInput, bgr: bool = False) -> PreparedInput:
        """`preprocess` kept as ncnn's own Mat: the half of `detect` that batch reading runs in its threads
        (thread-safe: it does not touch the net)."""
        rgb = self._pixels(image, bgr)
        return PreparedInput(ncnn_input_mat(rgb, self.input_size, self.info), ImageSize(rgb.shape[1], rgb.shape[0]))

    def raw(self, chw: np.ndarray, outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        """The named blobs (default: detection_out, (D, 6) in [0, 1] input coordinates) for one input."""
        if chw.ndim != 3 or chw.shape[0] != 3:
            raise InputError(f"network input must be (3, H, W), got {chw.shape}")
        return run_net(self.net, chw, outputs or [self.output_blob], self.input_blob)

    def to_detections(
        self, rows: np.ndarray, size: ImageSize, threshold: float | None = None
    ) -> list[Detection]:
        """detection_out rows -> detections in pixels. Rows with a non-finite value or a label that is not a
        class are dropped and counted in `last_dropped` (with a warning). `threshold` keeps score > threshold,
        the comparison ncnn's DetectionOutput uses, so 1.0 keeps nothing."""
        if threshold is not None and not 0.0 <= threshold <= 1.0:  # also rejects NaN
            raise InputError(f"threshold must be in [0, 1], got {threshold}")
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        labels = rows[:, 0]
        ok = np.isfinite(rows).all(axis=1)
        ok &= (labels == np.round(labels)) & (labels >= 1) & (labels < len(self.class_names))
        self.last_dropped = int((~ok).sum())
        if self.last_dropped:
            warnings.warn(
                f"dropped {self.last_dropped} detection rows with non-finite values or unknown labels",
                RuntimeWarning,
                stacklevel=3,
            )
        rows = rows[ok]
        if threshold is not None:
            rows = rows[rows[:, 1] > threshold]
        rows = rows[np.argsort(-rows[:, 1], kind="stable")]
        boxes = clamp_boxes(rows[:, 2:6], self.input_size, size)
        return [
            Detection(int(r[0]), self.class_names[int(r[0])], float(r[1]), (float(b[0]), float(b[1]), float(b[2]), float(b[3])))
            for r, b in zip(rows, boxes, strict=True)
        ]

    def detect(self, image: ImageInput, threshold: float | None = DEFAULT_THRESHOLD, *, bgr: bool = False) -> list[Detection]:
        """Detections with score > threshold, best first, boxes in pixels of `image`; `threshold=None` keeps
        all the `.param` outputs. `image`: a path, a PIL image, or an (H, W, 3) uint8 array (RGB; `bgr=True`
        for OpenCV's arrays)."""
        return self.detect_prepared(self.prepare(image, bgr), threshold)

    def detect_prepared(self, prepared: PreparedInput, threshold: float | None = DEFAULT_THRESHOLD) -> list[Detection]:
        """`detect` on the result of `prepare`: the net and the post-processing."""
        rows = run_mat(self.net, prepared.mat, [self.output_blob], self.input_blob)[self.output_blob]
        return self.to_detections(rows, prepared.size, threshold)
