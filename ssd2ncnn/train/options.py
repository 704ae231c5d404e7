"""What a training run is asked to do: `TrainOptions` (its defaults are the `train` command's) and the
checks of their values, run before anything is read or written. Torch-free, so the command can take its
defaults and choices from here without importing torch."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from ..errors import InputError
from .schedule import SCHEDULES

OPTIMIZERS = ("sgd", "adamw")


@dataclass
class TrainOptions:
    data: Path | Sequence[Path]  # one data root or several (their train splits are concatenated)
    out: Path
    preset: str = "ssdlite320"
    arch: str | None = None  # network (config.PRESET_ARCHES); None: the preset's
    num_classes: int | None = None  # including the background
    classes: tuple[str, ...] | None = None  # without the background
    input_size: int | None = None
    width_mult: float | None = None
    epochs: int = 100
    batch_size: int = 32
    lr: float = 0.05
    optimizer: str = "sgd"  # one of OPTIMIZERS: SGD with momentum, or AdamW
    momentum: float = 0.9
    weight_decay: float = 4e-5
    schedule: str = "cosine"  # or "step" (x lr_gamma after each epoch in lr_steps)
    lr_steps: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    warmup_epochs: float = 1.0
    warmup_iters: int | None = None  # overrides warmup_epochs
    warmup_ratio: float = 0.001  # warm-up starts at this share of the rate
    min_lr_ratio: float = 0.01
    grad_clip: float = 20.0  # max gradient norm; 0 disables clipping
    # The model's BatchNorm momentum (0.01) suits long schedules; short runs need running statistics that
    # keep up with the weights, or evaluation sees stale ones. None keeps the model's.
    bn_momentum: float | None = 0.1
    sync_bn: bool = False  # SyncBatchNorm across torchrun processes (CUDA)
    max_expand: float = 4.0  # SSD's zoom-out ratio; smaller for short schedules on small inputs
    repeat: int = 1  # each epoch passes over the training set this many times (mmdetection RepeatDataset)
    workers: int = 2
    persistent_workers: bool = True
    pin_memory: bool | None = None  # None: on CUDA
    channels_last: bool | None = None  # None: on CUDA
    log_interval: int = 20  # steps between reads of the loss (each read waits for the device)
    resume: Path | None = None
    backbone_weights: Path | None = None
    seed: int = 0
    train_split: str | Sequence[str] = "train"  # one for every root, or one per root
    val_split: str = "val"
    val_data: Path | None = None  # default: the first data root
    eval_interval: int = 1
    device: str | None = None
    strict: bool = False  # data set warnings (clipped or dropped boxes) are errors
    tensorboard: bool = False  # also log the scalars to RUN_DIR/tensorboard (needs the tensorboard package)
    progress: bool = True

    @property
    def roots(self) -> list[Path]:
        return [Path(p) for p in ([self.data] if isinstance(self.data, str | Path) else self.data)]

    @property
    def train_splits(self) -> list[str]:
        from ..data.folders import per_root

        splits = [self.train_split] if isinstance(self.train_split, str) else list(self.train_split)
        return per_root(splits, self.roots, "--train-split")


DEFAULTS = {f.name: f.default for f in fields(TrainOptions)}


def check_options(opts: TrainOptions) -> None:
    if opts.epochs < 1 or opts.batch_size < 1 or opts.lr <= 0:
        raise InputError("--epochs and --batch-size must be >= 1 and --lr > 0")
    if opts.repeat < 1 or opts.log_interval < 1 or opts.eval_interval < 1:
        raise InputError("--repeat, --log-interval and --eval-interval must be >= 1")
    if opts.workers < 0:
        raise InputError("--workers must be >= 0 (0: load in the training process)")
    if not 0 <= opts.momentum < 1 or opts.weight_decay < 0:
        raise InputError("--momentum must be in [0, 1) and --weight-decay >= 0")
    if opts.optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {opts.optimizer!r}; choose {' or '.join(OPTIMIZERS)}")
    if opts.schedule not in SCHEDULES:
        raise InputError(f"unknown --schedule {opts.schedule!r}; choose {' or '.join(SCHEDULES)}")
    if opts.schedule == "step" and not opts.lr_steps:
        raise InputError("--schedule step needs --lr-steps, the epochs after which the rate drops (e.g. 16,22)")
    if any(not 0 < e < opts.epochs for e in opts.lr_steps) or list(opts.lr_steps) != sorted(opts.lr_steps):
        raise InputError(f"--lr-steps {','.join(map(str, opts.lr_steps))} must rise and lie between 1 and --epochs - 1 ({opts.epochs - 1})")
    if not 0 < opts.warmup_ratio <= 1 or opts.grad_clip < 0 or (opts.warmup_iters or 0) < 0 or opts.warmup_epochs < 0:
        raise InputError("--warmup-ratio must be in (0, 1], --warmup-iters/--warmup-epochs and --grad-clip >= 0 (0: no clipping)")
    if opts.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise InputError("--tensorboard needs the tensorboard package: pip install tensorboard (or drop --tensorboard)")
