"""The training loader: augmentation, repeat, a sampler that is seeded per epoch (and distributed under
torchrun), and the batch-size check BatchNorm needs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ..config import SSDConfig
from ..data.records import DetectionSource
from ..errors import InputError
from .data import RepeatDataset, SeededSampler, TorchDetectionDataset, collate
from .distributed import DistInfo
from .options import TrainOptions
from .transforms import TrainTransform


@dataclass
class TrainLoader:
    loader: DataLoader
    sampler: SeededSampler
    # Re-seeded from (seed, epoch) every epoch, with the augmentation seed the sampler hands to each
    # image, so a resumed run sees the same order and augmentation as an uninterrupted one.
    order_gen: torch.Generator

    def start_epoch(self, seed: int, epoch: int) -> None:
        self.order_gen.manual_seed(seed)
        self.sampler.seed = seed + 1
        if isinstance(self.sampler.sampler, DistributedSampler):
            self.sampler.sampler.set_epoch(epoch)


def make_train_loader(opts: TrainOptions, cfg: SSDConfig, source: DetectionSource, info: DistInfo, device: torch.device) -> TrainLoader:
    base = TorchDetectionDataset(source, TrainTransform(cfg, max_expand=opts.max_expand))
    dataset = RepeatDataset(base, opts.repeat) if opts.repeat > 1 else base
    per_rank_batch = opts.batch_size // info.world_size
    if per_rank_batch < 2 or len(dataset) < 2 * info.world_size:  # BatchNorm on the 1x1 maps needs 2 images
        raise InputError(f"--batch-size {opts.batch_size} over {info.world_size} process(es) with {len(dataset)} training images: "
                         f"BatchNorm needs at least 2 images per process and step; raise --batch-size (or add images)")
    order_gen = torch.Generator()
    indices: torch.utils.data.Sampler
    if info.enabled:
        indices = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=opts.seed)
    else:
        indices = RandomSampler(dataset, generator=order_gen)
    sampler = SeededSampler(indices)
    drop_last = len(dataset) // info.world_size >= per_rank_batch  # no 1-image BatchNorm batches
    pin = opts.pin_memory if opts.pin_memory is not None else device.type == "cuda"
    loader = DataLoader(dataset, batch_size=per_rank_batch, sampler=sampler, num_workers=opts.workers,
                        collate_fn=collate, drop_last=drop_last, persistent_workers=opts.persistent_workers and opts.workers > 0,
                        pin_memory=pin, prefetch_factor=4 if opts.workers else None)
    return TrainLoader(loader, sampler, order_gen)
