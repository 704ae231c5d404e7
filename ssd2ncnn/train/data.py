"""Opening a data set folder (VOC or COCO, detected from its layout) and feeding it to PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from .coco import coco_class_names, coco_splits, is_coco, load_coco
from .records import DetectionSource, ImageRecord, load_rgb
from .voc import is_voc, load_voc, voc_class_names, voc_splits


def _format(root: Path) -> str:
    if not root.exists():
        raise InputError(f"data directory {root} does not exist")
    if not root.is_dir():
        raise InputError(f"data path {root} is not a directory; pass the VOC or COCO folder")
    if is_voc(root):
        return "voc"
    if is_coco(root):
        return "coco"
    raise InputError(
        f"{root} is neither a VOC folder (Annotations/, ImageSets/Main/) nor a COCO folder "
        f"(annotations/*.json); run `ssd2ncnn synth` for an example layout"
    )


def dataset_class_names(root: str | Path) -> tuple[str, ...]:
    """Class names the data set itself implies (background first)."""
    root = Path(root)
    return voc_class_names(root) if _format(root) == "voc" else coco_class_names(root)


def dataset_splits(root: str | Path) -> list[str]:
    root = Path(root)
    return voc_splits(root) if _format(root) == "voc" else coco_splits(root)


def open_dataset(root: str | Path, split: str, class_names: tuple[str, ...] | None = None) -> DetectionSource:
    root = Path(root)
    fmt = _format(root)
    names = tuple(class_names) if class_names else dataset_class_names(root)
    source = load_voc(root, split, names) if fmt == "voc" else load_coco(root, split, names)
    if not source.records:
        raise InputError(f"split {split!r} of {root} has no images")
    return source


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
