"""The training loop: SGD (momentum 0.9) with linear warm-up and cosine decay, mixed precision on CUDA,
DistributedDataParallel under torchrun, `best.pth` / `last.pth` checkpoints that also carry the optimizer
and schedule for `--resume`, a rich progress bar, `train.log` and per-epoch `metrics.csv`/`metrics.json`."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from ..checkpoint import read_checkpoint, save_checkpoint
from ..config import SSDConfig, get_preset
from ..data.folders import dataset_class_names, dataset_splits, open_dataset
from ..errors import InputError
from ..model.factory import build_model
from ..model.ssdlite import flatten_heads
from .backbone_weights import load_backbone_weights
from .data import TorchDetectionDataset, collate
from .distributed import DistInfo, all_reduce_mean, barrier, cleanup, init_distributed
from .evaluate import evaluate_model, model_priors
from .loss import multibox_loss
from .matching import build_targets
from .transforms import TrainTransform

log = logging.getLogger("ssd2ncnn.train")


@dataclass
class TrainOptions:
    data: Path
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
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    grad_clip: float = 20.0
    # The model's BatchNorm momentum (0.01) suits long schedules; short runs need running statistics that
    # keep up with the weights, or evaluation sees stale ones. None keeps the model's.
    bn_momentum: float | None = 0.1
    max_expand: float = 4.0  # SSD's zoom-out ratio; smaller for short schedules on small inputs
    workers: int = 2
    resume: Path | None = None
    backbone_weights: Path | None = None
    seed: int = 0
    train_split: str = "train"
    val_split: str = "val"
    eval_interval: int = 1
    device: str | None = None
    progress: bool = True
    history: list[dict] = field(default_factory=list)


def lr_at(step: int, total: int, warmup: int, base_lr: float, min_ratio: float) -> float:
    """Linear warm-up from 0.1% of `base_lr`, then cosine decay to `min_ratio * base_lr` at `total`."""
    if step < warmup:
        return base_lr * (0.001 + 0.999 * step / max(1, warmup))
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def resolve_config(opts: TrainOptions) -> SSDConfig:
    """The model config from the preset and the data set's classes (or from the checkpoint on resume)."""
    if opts.resume is not None:
        cfg = SSDConfig.from_dict(_training_checkpoint(opts.resume)["config"])
        if opts.num_classes is not None and opts.num_classes != cfg.num_classes:
            raise InputError(f"--num-classes {opts.num_classes} contradicts the resumed checkpoint ({cfg.num_classes - 1} classes + background)")
        if opts.arch is not None and opts.arch != cfg.arch:
            raise InputError(f"--arch {opts.arch} contradicts the resumed checkpoint (arch {cfg.arch}); drop --arch")
        return cfg
    if opts.classes:
        names = ("background",) + tuple(opts.classes)
    else:
        names = dataset_class_names(opts.data)
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


def train_step(model, images: torch.Tensor, boxes, labels, priors: torch.Tensor, cfg: SSDConfig,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None, grad_clip: float) -> tuple[float, float]:
    """One optimisation step; returns (localisation, classification) loss."""
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
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
    return float(loss_l.detach()), float(loss_c.detach())


def make_optimizer(model: torch.nn.Module, opts: TrainOptions) -> torch.optim.Optimizer:
    """SGD with momentum or AdamW; no weight decay on BatchNorm parameters and biases (standard for
    MobileNets). AdamW's decay is decoupled, so it wants a larger --weight-decay (e.g. 0.01-0.05)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": opts.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if opts.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=opts.lr)
    if opts.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=opts.lr, momentum=opts.momentum)
    raise InputError(f"unknown optimizer {opts.optimizer!r}; choose sgd or adamw")


def _cpu_threads(device: torch.device, info: DistInfo, workers: int) -> None:
    """On CPU, leave a core per loader worker: oversubscribed OpenMP threads spin and can make a step
    ten times slower. An explicit OMP_NUM_THREADS wins."""
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.world_size - workers))


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    assert info is not None  # called by DataLoader workers only
    info.dataset.transform.reseed(info.seed % 2**32)  # type: ignore[attr-defined]


def _setup_logging(out: Path, info: DistInfo) -> None:
    log.setLevel(logging.INFO)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    if info.is_main:
        handler = logging.FileHandler(out / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    log.propagate = False


def _write_history(out: Path, history: list[dict]) -> None:
    (out / "metrics.json").write_text(json.dumps(history, indent=1))
    keys = list(dict.fromkeys(k for row in history for k in row))
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


class _Progress:
    """A rich progress bar with loss and images/s on rank 0; nothing elsewhere."""

    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[ips]:.1f} img/s"),
                                TimeElapsedColumn())

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)

    def start(self, description: str, total: int):
        return self.bar.add_task(description, total=total, loss=0.0, ips=0.0) if self.bar else None

    def update(self, task, loss: float, ips: float) -> None:
        if self.bar:
            self.bar.update(task, advance=1, loss=loss, ips=ips)


def train(opts: TrainOptions) -> dict:
    """Run training; returns a summary (best metric, paths, history). Rank 0 writes everything."""
    opts.data, opts.out = Path(opts.data), Path(opts.out)
    info, device = init_distributed(opts.device)
    try:
        return _train(opts, info, device)
    finally:
        cleanup(info)


def _train(opts: TrainOptions, info: DistInfo, device: torch.device) -> dict:
    if opts.epochs < 1 or opts.batch_size < 1 or opts.lr <= 0:
        raise InputError("--epochs and --batch-size must be >= 1 and --lr > 0")
    cfg = resolve_config(opts)
    train_src = open_dataset(opts.data, opts.train_split, cfg.class_names)
    has_val = opts.val_split in dataset_splits(opts.data)
    val_src = open_dataset(opts.data, opts.val_split, cfg.class_names) if has_val else None
    if info.is_main:
        opts.out.mkdir(parents=True, exist_ok=True)
    barrier(info)
    _setup_logging(opts.out, info)

    _cpu_threads(device, info, opts.workers)
    torch.manual_seed(opts.seed)
    model = build_model(cfg)
    if opts.backbone_weights is not None and opts.resume is None:
        report = load_backbone_weights(model.backbone, opts.backbone_weights)  # type: ignore[arg-type]
        log.info("backbone weights %s: %s", opts.backbone_weights, report.summary())
    if opts.bn_momentum is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = opts.bn_momentum
    priors = model_priors(model).to(device)
    model.to(device)
    optimizer = make_optimizer(model, opts)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_amp else None

    start_epoch, step, best, history = 0, 0, None, []
    if opts.resume is not None:
        ckpt = _training_checkpoint(opts.resume)
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch = int(ckpt["epoch"]) + 1
        step = int(ckpt["scheduler"]["step"])
        best = ckpt.get("best")
        history = list(ckpt.get("history", []))
        log.info("resumed from %s at epoch %d", opts.resume, start_epoch)
    net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if info.enabled else model

    dataset = TorchDetectionDataset(train_src, TrainTransform(cfg, seed=opts.seed + 7919 * info.rank, max_expand=opts.max_expand))
    per_rank_batch = max(1, opts.batch_size // info.world_size)
    # Both generators are re-seeded from (seed, epoch) every epoch, so a resumed run sees the same
    # image order and augmentation as an uninterrupted one.
    order_gen, worker_gen = torch.Generator(), torch.Generator()
    sampler: torch.utils.data.Sampler
    if info.enabled:
        sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=opts.seed)
    else:
        sampler = RandomSampler(dataset, generator=order_gen)
    drop_last = len(dataset) // info.world_size >= per_rank_batch  # no 1-image BatchNorm batches
    loader = DataLoader(dataset, batch_size=per_rank_batch, sampler=sampler, num_workers=opts.workers,
                        collate_fn=collate, drop_last=drop_last, worker_init_fn=_worker_init if opts.workers else None,
                        generator=worker_gen,
                        persistent_workers=False, pin_memory=device.type == "cuda")
    steps_per_epoch = len(loader)
    total_steps = steps_per_epoch * opts.epochs
    warmup = int(round(opts.warmup_epochs * steps_per_epoch))
    log.info("config %s: %d classes %s, input %d, width %.2f; %d train images%s; %d steps/epoch on %d process(es), device %s",
             cfg.preset, cfg.num_classes - 1, list(cfg.class_names[1:]), cfg.input_size, cfg.width_mult, len(train_src),
             f", {len(val_src)} val images" if val_src else " (no val split: best.pth by training loss)",
             steps_per_epoch, info.world_size, device)

    t_start = time.perf_counter()
    with _Progress(opts.progress and info.is_main) as progress:
        for epoch in range(start_epoch, opts.epochs):
            epoch_seed = opts.seed + 1000003 * epoch + 7919 * info.rank
            order_gen.manual_seed(epoch_seed)
            worker_gen.manual_seed(epoch_seed + 1)
            dataset.transform.reseed(epoch_seed)  # type: ignore[attr-defined]  # a TrainTransform
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            net.train()
            task = progress.start(f"epoch {epoch + 1}/{opts.epochs}", steps_per_epoch)
            sums, seen, batches, t0 = np.zeros(2), 0, 0, time.perf_counter()
            for images, boxes, labels, _ in loader:
                lr = lr_at(step, total_steps, warmup, opts.lr, opts.min_lr_ratio)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                images = images.to(device, non_blocking=True)
                loss_l, loss_c = train_step(net, images, boxes, labels, priors, cfg, optimizer, scaler, opts.grad_clip)
                if not math.isfinite(loss_l + loss_c):
                    raise InputError(f"training diverged at epoch {epoch + 1} (loss {loss_l + loss_c}); lower --lr")
                sums += (loss_l, loss_c)
                seen += images.shape[0]
                step += 1
                batches += 1
                progress.update(task, float(sums.sum() / batches), seen * info.world_size / (time.perf_counter() - t0))
            n_batches = max(1, batches)
            row = {
                "epoch": epoch + 1,
                "loss": all_reduce_mean(float(sums.sum() / n_batches), info, device),
                "loss_loc": all_reduce_mean(float(sums[0] / n_batches), info, device),
                "loss_conf": all_reduce_mean(float(sums[1] / n_batches), info, device),
                "lr": lr_at(step, total_steps, warmup, opts.lr, opts.min_lr_ratio),
                "images_per_s": seen * info.world_size / max(1e-9, time.perf_counter() - t0),
                "time_s": time.perf_counter() - t_start,
            }
            do_eval = val_src is not None and ((epoch + 1) % opts.eval_interval == 0 or epoch + 1 == opts.epochs)
            if info.is_main:
                if do_eval and val_src is not None:
                    metrics = evaluate_model(model, val_src, use_07=True, batch_size=opts.batch_size, device=device)
                    row["map07"] = metrics.map
                score = row["map07"] if do_eval else (-row["loss"] if val_src is None else None)
                history.append(row)
                improved = score is not None and (best is None or score > best)
                if improved:
                    best = score
                meta = {"epoch": epoch + 1, "data": str(opts.data), "class_names": list(cfg.class_names),
                        "loss": row["loss"], "map07": row.get("map07")}
                extra = {"optimizer": optimizer.state_dict(), "scheduler": {"step": step, "total": total_steps, "warmup": warmup},
                         "epoch": epoch, "best": best, "history": history,
                         "scaler": scaler.state_dict() if scaler is not None else {}}
                save_checkpoint(opts.out / "last.pth", model, meta=meta, extra=extra)
                if improved or not (opts.out / "best.pth").exists():
                    save_checkpoint(opts.out / "best.pth", model, meta=meta)
                _write_history(opts.out, history)
                log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
            barrier(info)
    return {"best": best, "history": history, "out": opts.out, "config": cfg, "time_s": time.perf_counter() - t_start}
