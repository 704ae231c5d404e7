"""Feeding a data set to PyTorch: the Dataset that applies a transform, and the batch collation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..config import SSDConfig
from ..data.records import DetectionSource, ImageRecord, load_rgb
from ..errors import InputError
from .matching import pad_ground_truth

Transform = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


class TorchDetectionDataset(Dataset):
    """Applies `transform(image uint8 HWC RGB, boxes pixels, labels) -> (resized uint8 HWC RGB image,
    boxes in [0, 1], labels)`. With `drop_difficult`, difficult/crowd objects are not training targets.
    Images stay uint8 until `network_input` normalises the batch on the device."""

    def __init__(self, source: DetectionSource, transform: Transform, drop_difficult: bool = True):
        self.source = source
        self.transform = transform
        self.drop_difficult = drop_difficult

    def __len__(self) -> int:
        return len(self.source.records)

    def __getitem__(self, key: int | tuple[int, int]):
        """`key` is an index, or (index, augmentation seed) from `SeededSampler`: then the transform
        draws from a generator seeded by (seed, index) alone, so an image's augmentation does not
        depend on which worker loads it, on persistent workers, or on a resume."""
        i, seed = key if isinstance(key, tuple) else (key, None)
        if seed is not None:
            self.transform.reseed([seed, i])  # type: ignore[attr-defined]  # a TrainTransform
        rec: ImageRecord = self.source.records[i]
        image = np.asarray(load_rgb(rec.path))
        keep = ~rec.difficult if self.drop_difficult else np.ones(len(rec.labels), dtype=bool)
        img, boxes, labels = self.transform(image, rec.boxes[keep].copy(), rec.labels[keep].copy())
        img = np.require(img, dtype=np.uint8, requirements=["C", "W"])  # PIL arrays are read-only: copy only those
        return torch.from_numpy(img), torch.from_numpy(boxes.astype(np.float32)), torch.from_numpy(labels.astype(np.int64)), i


def network_input(images: torch.Tensor, cfg: SSDConfig, channels_last: bool = False) -> torch.Tensor:
    """A loader batch (N, H, W, 3) uint8 RGB, best already on the device -> (N, 3, H, W) float32 in the
    model's channel order, (x - mean) / std: the arithmetic of `transforms.normalize`, so the values are
    the same. The NHWC memory is channels-last as it stands."""
    x = images.float()
    if not cfg.rgb:
        x = x.flip(-1)
    mean = torch.tensor(cfg.mean, dtype=torch.float32, device=x.device)
    std = torch.tensor(cfg.std, dtype=torch.float32, device=x.device)
    x = ((x - mean) / std).permute(0, 3, 1, 2)
    return x if channels_last else x.contiguous()


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

    def __getitem__(self, key: int | tuple[int, int]):
        i, seed = key if isinstance(key, tuple) else (key, None)
        n = len(self.dataset)
        return self.dataset[(i % n, seed + 1000003 * (i // n)) if seed is not None else i % n]  # each pass its own draws


class SeededSampler(Sampler):
    """Wraps a sampler of indices to yield (index, epoch seed): the seed reaches the dataset in any
    worker, persistent or not (a worker's copy of the dataset never sees the main process again)."""

    def __init__(self, sampler: Sampler[int]):
        self.sampler = sampler
        self.seed = 0

    def __iter__(self):
        return ((i, self.seed) for i in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]


def loader_batches(loader: Iterable) -> Iterator:
    """The batches of `loader`. A file that fails to decode in a worker process (a JPEG cut short after a
    header the data scan could read) comes back from torch with the worker's traceback inside the message
    (torch/_utils.py, `ExceptionWrapper.reraise`: "Caught InputError in DataLoader worker ...", then the
    traceback, ending in the original message); raise that one line instead."""
    it = iter(loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except InputError as exc:
            lines = [ln for ln in str(exc).splitlines() if ln.strip()]
            if len(lines) < 2:
                raise
            raise InputError(lines[-1].removeprefix(f"{InputError.__module__}.{InputError.__qualname__}: ")) from None
        yield batch
