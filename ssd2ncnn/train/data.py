"""Feeding a data set to PyTorch: the Dataset that applies a transform, and the batch collation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.records import DetectionSource, ImageRecord, load_rgb

Transform = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


class TorchDetectionDataset(Dataset):
    """Applies `transform(image uint8 HWC RGB, boxes pixels, labels) -> (CHW float image, boxes in [0, 1],
    labels)`. With `drop_difficult`, difficult/crowd objects are not training targets."""

    def __init__(self, source: DetectionSource, transform: Transform, drop_difficult: bool = True):
        self.source = source
        self.transform = transform
        self.drop_difficult = drop_difficult

    def __len__(self) -> int:
        return len(self.source.records)

    def __getitem__(self, i: int):
        rec: ImageRecord = self.source.records[i]
        image = np.asarray(load_rgb(rec.path))
        keep = ~rec.difficult if self.drop_difficult else np.ones(len(rec.labels), dtype=bool)
        img, boxes, labels = self.transform(image, rec.boxes[keep].copy(), rec.labels[keep].copy())
        return torch.from_numpy(np.ascontiguousarray(img)), torch.from_numpy(boxes.astype(np.float32)), torch.from_numpy(labels.astype(np.int64)), i


def collate(batch):
    """Images stack; boxes and labels stay per-image lists (their counts differ)."""
    images, boxes, labels, index = zip(*batch, strict=True)
    return torch.stack(images), list(boxes), list(labels), torch.tensor(index)
