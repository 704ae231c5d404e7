"""The training loop: SGD (momentum 0.9) or AdamW, a cosine or step schedule after a linear warm-up
(`schedule.py`), mixed precision and channels-last on CUDA, DistributedDataParallel (optionally with
SyncBatchNorm) under torchrun, `best.pth` / `last.pth` checkpoints that also carry the optimizer and
schedule for `--resume`, a rich progress bar, `train.log` and per-epoch `metrics.csv`/`metrics.json`.

The step never waits for the device: matching and loss are sync-free and the losses stay device tensors,
read once per `log_interval` steps (where the divergence check sits)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ..checkpoint import read_checkpoint, save_checkpoint
from ..config import SSDConfig, get_preset
from ..data.folders import common_class_names, has_split, open_datasets, per_root
from ..data.records import DetectionSource
from ..errors import InputError
from ..model.factory import build_model
from ..model.ssdlite import SSDDetector, flatten_heads
from .backbone_weights import load_backbone_weights
from .data import RepeatDataset, SeededSampler, TorchDetectionDataset, collate, network_input
from .distributed import DistInfo, all_reduce_mean, barrier, cleanup, init_distributed
from .evaluate import evaluate_model, model_priors
from .loss import multibox_loss
from .matching import build_targets
from .runlog import Progress, log, setup_logging, write_history
from .schedule import SCHEDULES, LRSchedule
from .transforms import TrainTransform


@dataclass
class TrainOptions:
    data: Path | Sequence[Path]  # one data root or several (their train splits are concatenated)
    out: Path
    preset: str = "ssdlite320"
    arch: str | None = None  # network (config.ARCHES); None: the preset's
    num_classes: int | None = None  # including the background
    classes: tuple[str, ...] | None = None  # without the background
    input_size: int | None = None
    width_mult: float | None = None
    epochs: int = 100
    batch_size: int = 32
    lr: float = 0.05
    optimizer: str = "sgd"  # "sgd" (momentum) or "adamw"
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
    progress: bool = True
    history: list[dict] = field(default_factory=list)

    @property
    def roots(self) -> list[Path]:
        return [Path(p) for p in ([self.data] if isinstance(self.data, str | Path) else self.data)]

    @property
    def train_splits(self) -> list[str]:
        splits = [self.train_split] if isinstance(self.train_split, str) else list(self.train_split)
        return per_root(splits, self.roots, "--train-split")


def resolve_config(opts: TrainOptions) -> SSDConfig:
    """The model config from the preset and the data set's classes (or from the checkpoint on resume)."""
    if opts.resume is not None:
        cfg = SSDConfig.from_dict(_training_checkpoint(opts.resume)["config"], f"checkpoint {opts.resume}", "config.")
        if opts.num_classes is not None and opts.num_classes != cfg.num_classes:
            raise InputError(f"--num-classes {opts.num_classes} contradicts the resumed checkpoint ({cfg.num_classes - 1} classes + background)")
        if opts.arch is not None and opts.arch != cfg.arch:
            raise InputError(f"--arch {opts.arch} contradicts the resumed checkpoint (arch {cfg.arch}); drop --arch")
        for flag, given, saved in (("--width-mult", opts.width_mult, cfg.width_mult), ("--input-size", opts.input_size, cfg.input_size)):
            if given is not None and given != saved:  # the network comes from the checkpoint; say so, do not ignore
                raise InputError(f"{flag} {given} contradicts the resumed checkpoint ({flag} {saved}); drop {flag}")
        return cfg
    if opts.classes:
        names = ("background",) + tuple(opts.classes)
    else:
        names = common_class_names(opts.roots)
    if opts.num_classes is not None and opts.num_classes != len(names):
        raise InputError(
            f"--num-classes {opts.num_classes} (with background) does not match the data set's "
            f"{len(names) - 1} classes {list(names[1:])} + background = {len(names)}"
        )
    return get_preset(opts.preset, class_names=list(names), width_mult=opts.width_mult, input_size=opts.input_size, arch=opts.arch)


def _training_checkpoint(path: Path) -> dict:
    obj = read_checkpoint(path)
    if "optimizer" not in obj or "epoch" not in obj or "config" not in obj:
        raise InputError(f"{path} is not a training checkpoint (no optimizer state); resume from a last.pth written by `ssd2ncnn train`")
    return obj


def train_step(model, images: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, priors: torch.Tensor, cfg: SSDConfig,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None, grad_clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on normalised `images` (`data.network_input`) and the loader's padded ground
    truth; returns the (localisation,
    classification) losses as device tensors, so that the step never waits for the device: the loop
    reads them once per logging interval."""
    device = images.device
    loc_t, conf_t = build_targets(boxes, labels, priors, cfg.variances)
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=scaler is not None):
        locs, confs = model(images)
        loc, conf = flatten_heads(locs, confs, cfg.num_classes)
    loss_l, loss_c = multibox_loss(loc.float(), conf.float(), loc_t, conf_t, activation=cfg.score_activation)
    loss = loss_l + loss_c
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return loss_l.detach(), loss_c.detach()


def make_optimizer(model: torch.nn.Module, opts: TrainOptions) -> torch.optim.Optimizer:
    """SGD with momentum or AdamW; no weight decay on BatchNorm parameters and biases (standard for
    MobileNets). AdamW's decay is decoupled, so it wants a larger --weight-decay (e.g. 0.01-0.05).
    On CUDA the fused kernels: with them GradScaler.step skips its per-step `found_inf.item()` read
    (torch/amp/grad_scaler.py, `_step_supports_amp_scaling`), the last host sync of a step."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": opts.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = all(p.is_cuda for p in decay + no_decay) or None
    if opts.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=opts.lr, fused=fused)
    if opts.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=opts.lr, momentum=opts.momentum, fused=fused)
    raise InputError(f"unknown optimizer {opts.optimizer!r}; choose sgd or adamw")


def _cpu_threads(device: torch.device, info: DistInfo, workers: int) -> None:
    """On CPU, leave a core per loader worker: oversubscribed OpenMP threads spin and can make a step
    ten times slower. An explicit OMP_NUM_THREADS wins."""
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.world_size - workers))


def check_options(opts: TrainOptions) -> None:
    if opts.epochs < 1 or opts.batch_size < 1 or opts.lr <= 0:
        raise InputError("--epochs and --batch-size must be >= 1 and --lr > 0")
    if opts.repeat < 1 or opts.log_interval < 1 or opts.eval_interval < 1:
        raise InputError("--repeat, --log-interval and --eval-interval must be >= 1")
    if opts.workers < 0:
        raise InputError("--workers must be >= 0 (0: load in the training process)")
    if not 0 <= opts.momentum < 1 or opts.weight_decay < 0:
        raise InputError("--momentum must be in [0, 1) and --weight-decay >= 0")
    if opts.schedule not in SCHEDULES:
        raise InputError(f"unknown --schedule {opts.schedule!r}; choose {' or '.join(SCHEDULES)}")
    if opts.schedule == "step" and not opts.lr_steps:
        raise InputError("--schedule step needs --lr-steps, the epochs after which the rate drops (e.g. 16,22)")
    if any(not 0 < e < opts.epochs for e in opts.lr_steps) or list(opts.lr_steps) != sorted(opts.lr_steps):
        raise InputError(f"--lr-steps {','.join(map(str, opts.lr_steps))} must rise and lie between 1 and --epochs - 1 ({opts.epochs - 1})")
    if not 0 < opts.warmup_ratio <= 1 or opts.grad_clip < 0 or (opts.warmup_iters or 0) < 0 or opts.warmup_epochs < 0:
        raise InputError("--warmup-ratio must be in (0, 1], --warmup-iters/--warmup-epochs and --grad-clip >= 0 (0: no clipping)")


@dataclass
class TrainData:
    train: DetectionSource
    val: DetectionSource | None


def open_training_data(opts: TrainOptions, cfg: SSDConfig) -> TrainData:
    """The training split of every root (concatenated) and the val split of --val-data or the first root."""
    train = open_datasets(opts.roots, opts.train_splits, cfg.class_names)
    val_root = Path(opts.val_data) if opts.val_data is not None else opts.roots[0]
    if opts.val_data is not None and not has_split(val_root, opts.val_split):
        raise InputError(f"--val-data {val_root} has no split {opts.val_split!r}; pass --val-split")
    val = open_datasets([val_root], [opts.val_split], cfg.class_names) if has_split(val_root, opts.val_split) else None
    return TrainData(train, val)


@dataclass
class RunState:
    """What the epochs share: the model (and its DDP wrapper), optimizer, scaler, priors, and the
    counters a resume restores."""

    opts: TrainOptions
    cfg: SSDConfig
    info: DistInfo
    device: torch.device
    model: SSDDetector
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    priors: torch.Tensor
    start_epoch: int = 0
    step: int = 0
    best: float | None = None
    history: list[dict] = field(default_factory=list)

    @property
    def channels_last(self) -> bool:
        return self.opts.channels_last if self.opts.channels_last is not None else self.device.type == "cuda"


def build_model_and_optimizer(opts: TrainOptions, cfg: SSDConfig, info: DistInfo, device: torch.device) -> RunState:
    torch.manual_seed(opts.seed)
    model = build_model(cfg)
    if opts.backbone_weights is not None and opts.resume is None:
        report = load_backbone_weights(model.backbone, opts.backbone_weights)  # type: ignore[arg-type]
        log.info("backbone weights %s: %s", opts.backbone_weights, report.summary())
    if opts.bn_momentum is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = opts.bn_momentum
    if opts.sync_bn:
        if info.enabled and device.type != "cuda":
            raise InputError("--sync-bn needs CUDA devices (PyTorch's SyncBatchNorm does not train on CPU); drop it")
        if info.enabled:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[assignment]  # same module, BN swapped
        else:
            log.info("--sync-bn: a single process has nothing to synchronise; plain BatchNorm")
    priors = model_priors(model).to(device)
    model.to(device)
    run = RunState(opts, cfg, info, device, model, model, make_optimizer(model, opts),
               torch.amp.GradScaler("cuda") if device.type == "cuda" else None, priors)
    if run.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in the stubs
    return run


def _state_in_param_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded per-parameter state (momentum, Adam moments) its parameter's memory layout.
    `Optimizer.load_state_dict` matches only dtype and device, so a checkpoint written with the other
    --channels-last setting (e.g. a CPU run resumed on CUDA) leaves NCHW buffers beside NHWC weights:
    the fused CUDA kernels then refuse them (ATen FusedSgdKernel.cu, `check_fast_path_restrictions`)
    and the fused CPU ones walk both as flat memory, updating the wrong elements."""
    for p, st in optimizer.state.items():
        for k, v in st.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def resume(run: RunState, path: Path) -> None:
    ckpt = _training_checkpoint(path)
    run.model.load_state_dict(ckpt["state_dict"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    _state_in_param_layout(run.optimizer)
    if run.scaler is not None and ckpt.get("scaler"):
        run.scaler.load_state_dict(ckpt["scaler"])
    run.start_epoch = int(ckpt["epoch"]) + 1
    run.step = int(ckpt["scheduler"]["step"])
    run.best = ckpt.get("best")
    run.history = list(ckpt.get("history", []))
    log.info("resumed from %s at epoch %d", path, run.start_epoch)


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


def make_schedule(opts: TrainOptions, steps_per_epoch: int) -> LRSchedule:
    warmup = opts.warmup_iters if opts.warmup_iters is not None else int(round(opts.warmup_epochs * steps_per_epoch))
    return LRSchedule(base_lr=opts.lr, total=steps_per_epoch * opts.epochs, steps_per_epoch=steps_per_epoch, warmup=warmup,
                      warmup_ratio=opts.warmup_ratio, kind=opts.schedule, min_ratio=opts.min_lr_ratio,
                      lr_steps=tuple(opts.lr_steps), gamma=opts.lr_gamma)


def train_one_epoch(run: RunState, data: TrainLoader, schedule: LRSchedule, epoch: int, progress: Progress) -> dict:
    """One pass over the loader; returns the epoch's row of metrics (losses averaged over all ranks)."""
    opts, info, device = run.opts, run.info, run.device
    data.start_epoch(opts.seed + 1000003 * epoch + 7919 * info.rank, epoch)
    run.net.train()
    steps = len(data.loader)
    task = progress.start(f"epoch {epoch + 1}/{opts.epochs}", steps)
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    seen, batches, shown, t0 = 0, 0, 0, time.perf_counter()
    for images, boxes, labels, _ in data.loader:
        for group in run.optimizer.param_groups:
            group["lr"] = schedule(run.step)
        images = network_input(images.to(device, non_blocking=True), run.cfg, run.channels_last)
        loss_l, loss_c = train_step(run.net, images, boxes, labels, run.priors, run.cfg, run.optimizer, run.scaler, opts.grad_clip)
        sums += torch.stack([loss_l, loss_c])
        seen += images.shape[0]
        run.step += 1
        batches += 1
        if batches % opts.log_interval == 0 or batches == steps:
            loss_sum = float(sums.sum())  # the one read of the device per interval
            if not math.isfinite(loss_sum):
                raise InputError(f"training diverged at epoch {epoch + 1} (mean loss {loss_sum / batches}); lower --lr")
            progress.update(task, batches - shown, loss_sum / batches, seen * info.world_size / (time.perf_counter() - t0))
            shown = batches
    n = max(1, batches)
    loss_l_mean, loss_c_mean = (v / n for v in sums.tolist())
    return {
        "epoch": epoch + 1,
        "loss": all_reduce_mean(loss_l_mean + loss_c_mean, info, device),
        "loss_loc": all_reduce_mean(loss_l_mean, info, device),
        "loss_conf": all_reduce_mean(loss_c_mean, info, device),
        "lr": schedule(run.step),
        "images_per_s": seen * info.world_size / max(1e-9, time.perf_counter() - t0),
    }


def evaluate_and_checkpoint(run: RunState, val: DetectionSource | None, row: dict, schedule: LRSchedule) -> None:
    """Rank 0: evaluate when due, pick best.pth (val mAP, else training loss), write last.pth and logs."""
    opts, epoch = run.opts, row["epoch"]
    do_eval = val is not None and (epoch % opts.eval_interval == 0 or epoch == opts.epochs)
    if do_eval and val is not None:
        metrics = evaluate_model(run.model, val, use_07=True, batch_size=opts.batch_size, workers=opts.workers, device=run.device)
        row["map07"] = metrics.map
    score = row["map07"] if do_eval else (-row["loss"] if val is None else None)
    run.history.append(row)
    improved = score is not None and (run.best is None or score > run.best)
    if improved:
        run.best = score
    roots = [str(p) for p in opts.roots]
    meta = {"epoch": epoch, "data": roots[0] if len(roots) == 1 else roots, "class_names": list(run.cfg.class_names),
            "loss": row["loss"], "map07": row.get("map07")}
    extra = {"optimizer": run.optimizer.state_dict(), "scheduler": {"step": run.step, "total": schedule.total, "warmup": schedule.warmup},
             "epoch": epoch - 1, "best": run.best, "history": run.history,
             "scaler": run.scaler.state_dict() if run.scaler is not None else {}}
    save_checkpoint(opts.out / "last.pth", run.model, meta=meta, extra=extra)
    if improved or not (opts.out / "best.pth").exists():
        save_checkpoint(opts.out / "best.pth", run.model, meta=meta)
    write_history(opts.out, run.history)
    log.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))


def train(opts: TrainOptions) -> dict:
    """Run training; returns a summary (best metric, paths, history). Rank 0 writes everything."""
    opts.out = Path(opts.out)
    info, device = init_distributed(opts.device)
    try:
        return _train(opts, info, device)
    finally:
        cleanup(info)


def _train(opts: TrainOptions, info: DistInfo, device: torch.device) -> dict:
    check_options(opts)
    cfg = resolve_config(opts)
    data = open_training_data(opts, cfg)
    if info.is_main:
        opts.out.mkdir(parents=True, exist_ok=True)
    barrier(info)
    setup_logging(opts.out, info)
    _cpu_threads(device, info, opts.workers)
    if device.type == "cuda":  # every batch has the input size: autotune each conv once, as train_speed.py measures
        torch.backends.cudnn.benchmark = True

    run = build_model_and_optimizer(opts, cfg, info, device)
    if opts.resume is not None:
        resume(run, opts.resume)
    if info.enabled:
        run.net = DistributedDataParallel(run.model, device_ids=[device.index] if device.type == "cuda" else None)
    loader = make_train_loader(opts, cfg, data.train, info, device)
    schedule = make_schedule(opts, len(loader.loader))
    log.info("config %s: %d classes %s, input %d, width %.2f; %d train images%s%s; %d steps/epoch on %d process(es), device %s",
             cfg.preset, cfg.num_classes - 1, list(cfg.class_names[1:]), cfg.input_size, cfg.width_mult, len(data.train),
             f" x{opts.repeat}" if opts.repeat > 1 else "",
             f", {len(data.val)} val images" if data.val else " (no val split: best.pth by training loss)",
             schedule.steps_per_epoch, info.world_size, device)

    t_start = time.perf_counter()
    with Progress(opts.progress and info.is_main) as progress:
        for epoch in range(run.start_epoch, opts.epochs):
            row = train_one_epoch(run, loader, schedule, epoch, progress)
            row["time_s"] = time.perf_counter() - t_start
            if info.is_main:
                evaluate_and_checkpoint(run, data.val, row, schedule)
            barrier(info)
    return {"best": run.best, "history": run.history, "out": opts.out, "config": cfg, "time_s": time.perf_counter() - t_start}
