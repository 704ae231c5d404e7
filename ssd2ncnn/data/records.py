"""The in-memory form every data set format is read into: one `ImageRecord` per image, boxes in
continuous 0-based pixel coordinates (x1, y1, x2, y2), labels 1..K (0 is the background)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..images import load_image


@dataclass
class ImageRecord:
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # (N, 4) float32
    labels: np.ndarray  # (N,) int64, 1..K
    difficult: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (N,) bool

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if self.difficult.size != self.labels.size:
            self.difficult = np.zeros(self.labels.size, dtype=bool)
        self.difficult = np.asarray(self.difficult, dtype=bool).reshape(-1)


@dataclass(frozen=True)
class ScanReport:
    """What `data/scan.py` found and handled in a split: the warning lines (one per kind), the time taken."""

    images: int
    seconds: float
    warnings: tuple[str, ...]


@dataclass
class DetectionSource:
    """A split of a data set: its records and the class names (background first); `scan` once scanned."""

    root: Path
    split: str
    class_names: tuple[str, ...]
    records: list[ImageRecord]
    scan: ScanReport | None = None

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_rgb(path: Path) -> Image.Image:
    """RGB image via the one image loader (grayscale, palette, alpha, 16-bit, EXIF handled as `detect` does)."""
    return load_image(path)
