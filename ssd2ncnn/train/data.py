"""Feeding a data set to PyTorch: the Dataset that applies a transform, and the batch collation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.records import DetectionSource, ImageRecord, load_rgb
from .matching import pad_ground_truth

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
    """Images stack; boxes and labels are padded to the batch's largest count, (N, Gmax, 4) and (N, Gmax)
    with `PAD_LABEL` rows (so matching is one batched call on the device). Runs in the loader's workers."""
    images, boxes, labels, index = zip(*batch, strict=True)
    gt_boxes, gt_labels = pad_ground_truth(list(boxes), list(labels))
    return torch.stack(images), gt_boxes, gt_labels, torch.tensor(index)


class RepeatDataset(Dataset):
    """`times` passes over `dataset` as one epoch (mmdetection's RepeatDataset): fewer epoch boundaries
    (evaluation, checkpoint, worker restarts) on small sets."""

    def __init__(self, dataset: TorchDetectionDataset, times: int):
        self.dataset = dataset
        self.times = times

    def __len__(self) -> int:
        return len(self.dataset) * self.times

    def __getitem__(self, i: int):
        return self.dataset[i % len(self.dataset)]
