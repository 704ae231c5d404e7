"""`train`: the run from options to checkpoints, as the torchvision detection references' train.py main.

Every input is checked before the run folder is made (options, the data scan, the resume checkpoint
read once, the model and the loader), so a run that fails on its input writes nothing. Then the epochs
(`engine.py`) on every process of a torchrun group; rank 0 evaluates and writes the checkpoints,
`train.log`, `metrics.csv`/`metrics.json`, `curves.png` and, with --tensorboard, the TensorBoard scalars."""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from ..data.folders import DataFolder
from .checkpoints import read_training_checkpoint, restore
from .distributed import DistInfo, barrier, cleanup, device_note, init_distributed
from .engine import end_epoch, train_one_epoch
from .inputs import TrainData, open_training_data, resolve_config
from .loader import make_train_loader
from .options import TrainOptions, check_options
from .runlog import Progress, log, open_log_file, record_epoch, start_logging
from .schedule import LRSchedule
from .state import RunState, build_model_and_optimizer, cpu_threads
from .tensorboard_log import TensorboardLog


def train(opts: TrainOptions) -> dict:
    """Run training; returns a summary (best metric, paths, history). Rank 0 writes everything."""
    opts.out = Path(opts.out)
    check_options(opts)
    info, device = init_distributed(opts.device)
    start_logging(info)
    note = device_note(opts.device, info)
    if note:
        log.warning("%s", note)
    try:
        return _train(opts, info, device)
    finally:
        cleanup(info)


def _prepare(opts: TrainOptions, info: DistInfo, device: torch.device):
    """Everything that can fail on the run's input, before anything is written."""
    resumed = read_training_checkpoint(opts.resume) if opts.resume is not None else None
    folders = [DataFolder(r) for r in opts.roots]
    cfg = resolve_config(opts, folders, resumed)
    data = open_training_data(opts, cfg, folders)
    for line in data.warnings():
        log.warning("%s", line)
    run = build_model_and_optimizer(opts, cfg, info, device)
    if resumed is not None and opts.resume is not None:
        restore(run, resumed, opts.resume)
    loader = make_train_loader(opts, cfg, data.train, info, device)
    return run, data, loader, make_schedule(opts, len(loader.loader))


def _log_start(run: RunState, data: TrainData, steps_per_epoch: int) -> None:
    cfg, opts = run.cfg, run.opts
    scanned = [s.scan for s in (data.train, data.val) if s is not None and s.scan is not None]
    log.info("data scan: %d images in %.2f s", sum(s.images for s in scanned), sum(s.seconds for s in scanned))
    log.info("config %s: %d classes %s, input %d, width %.2f; %d train images%s%s; %d steps/epoch on %d process(es), device %s",
             cfg.preset, cfg.num_classes - 1, list(cfg.class_names[1:]), cfg.input_size, cfg.width_mult, len(data.train),
             f" x{opts.repeat}" if opts.repeat > 1 else "",
             f", {len(data.val)} val images" if data.val else " (no val split: best.pth by training loss)",
             steps_per_epoch, run.info.world_size, run.device)


def _train(opts: TrainOptions, info: DistInfo, device: torch.device) -> dict:
    run, data, loader, schedule = _prepare(opts, info, device)
    if info.is_main:
        opts.out.mkdir(parents=True, exist_ok=True)
    barrier(info)
    open_log_file(opts.out, info)
    cpu_threads(device, info, opts.workers)
    if device.type == "cuda":  # every batch has the input size: autotune each conv once, as train_speed.py measures
        torch.backends.cudnn.benchmark = True
    if info.enabled:
        run.net = DistributedDataParallel(run.model, device_ids=[device.index] if device.type == "cuda" else None)
    _log_start(run, data, schedule.steps_per_epoch)
    tensorboard = TensorboardLog(opts.out) if opts.tensorboard and info.is_main else None
    t_start = time.perf_counter()
    try:
        with Progress(opts.progress and info.is_main) as progress:
            for epoch in range(run.start_epoch, opts.epochs):
                row = train_one_epoch(run, loader, schedule, epoch, progress)
                row["time_s"] = time.perf_counter() - t_start
                if info.is_main:
                    end_epoch(run, data.val, row, schedule)
                    record_epoch(opts.out, run.history, tensorboard)
                barrier(info)
    finally:
        if tensorboard is not None:
            tensorboard.close()
    return {"best": run.best, "history": run.history, "out": opts.out, "config": run.cfg, "time_s": time.perf_counter() - t_start}


def make_schedule(opts: TrainOptions, steps_per_epoch: int) -> LRSchedule:
    """The run's learning-rate schedule from its options (`schedule.LRSchedule`)."""
    warmup = opts.warmup_iters if opts.warmup_iters is not None else int(round(opts.warmup_epochs * steps_per_epoch))
    return LRSchedule(base_lr=opts.lr, total=steps_per_epoch * opts.epochs, steps_per_epoch=steps_per_epoch, warmup=warmup,
                      warmup_ratio=opts.warmup_ratio, kind=opts.schedule, min_ratio=opts.min_lr_ratio,
                      lr_steps=tuple(opts.lr_steps), gamma=opts.lr_gamma)
