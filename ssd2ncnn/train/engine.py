"""One optimisation step, one epoch, and the end of an epoch (evaluation, best.pth, logs): what the
torchvision detection references keep in engine.py.

The step never waits for the device: matching and loss are sync-free and the losses stay device tensors,
read once per `log_interval` steps (where the divergence check sits)."""

from __future__ import annotations

import math
import time

import torch

from ..config import SSDConfig
from ..data.records import DetectionSource
from ..errors import InputError
from ..model.ssdlite import flatten_heads
from .checkpoints import write_checkpoints
from .data import loader_batches, network_input
from .distributed import all_reduce_mean
from .evaluate import evaluate_model
from .loader import TrainLoader
from .loss import multibox_loss
from .matching import build_targets
from .runlog import Progress, log
from .schedule import LRSchedule
from .state import RunState


def train_step(model, images: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, priors: torch.Tensor, cfg: SSDConfig,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None, grad_clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on normalised `images` (`data.network_input`) and the loader's padded ground
    truth; returns the (localisation, classification) losses as device tensors, so that the step never
    waits for the device: the loop reads them once per logging interval."""
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


def train_one_epoch(run: RunState, data: TrainLoader, schedule: LRSchedule, epoch: int, progress: Progress) -> dict:
    """One pass over the loader; returns the epoch's row of metrics (losses averaged over all ranks)."""
    opts, info, device = run.opts, run.info, run.device
    data.start_epoch(opts.seed + 1000003 * epoch + 7919 * info.rank, epoch)
    run.net.train()
    steps = len(data.loader)
    task = progress.start(f"epoch {epoch + 1}/{opts.epochs}", steps)
    sums = torch.zeros(2, dtype=torch.float64, device=device)
    seen, batches, shown, t0 = 0, 0, 0, time.perf_counter()
    for images, boxes, labels, _ in loader_batches(data.loader):
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


def end_epoch(run: RunState, val: DetectionSource | None, row: dict, schedule: LRSchedule) -> None:
    """Rank 0: evaluate when due (in the training memory format), pick best.pth (val mAP, else the
    training loss), write the checkpoints and add `row` to the history."""
    opts, epoch = run.opts, row["epoch"]
    do_eval = val is not None and (epoch % opts.eval_interval == 0 or epoch == opts.epochs)
    if do_eval and val is not None:
        metrics = evaluate_model(run.model, val, use_07=True, batch_size=opts.batch_size, workers=opts.workers,
                                 device=run.device, channels_last=run.channels_last)
        row["map07"] = metrics.map
    score = row["map07"] if do_eval else (-row["loss"] if val is None else None)
    run.history.append(row)
    improved = score is not None and (run.best is None or score > run.best)
    if improved:
        run.best = score
    write_checkpoints(run, row, schedule, improved)
    log.info("epoch %d: %s", epoch, ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
