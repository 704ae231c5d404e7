"""A run's checkpoints: reading the one --resume names (once) and restoring the run from it, and writing
`last.pth` (with the optimizer, scaler and schedule state a resume needs) and `best.pth`."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import read_checkpoint, save_checkpoint
from ..errors import InputError
from .runlog import log
from .schedule import LRSchedule
from .state import RunState


def read_training_checkpoint(path: Path) -> dict:
    obj = read_checkpoint(path)
    if "optimizer" not in obj or "epoch" not in obj or "config" not in obj:
        raise InputError(f"{path} is not a training checkpoint (no optimizer state); resume from a last.pth written by `ssd2ncnn train`")
    return obj


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


def restore(run: RunState, ckpt: dict, path: Path) -> None:
    """Continue `run` from `ckpt` (read by `read_training_checkpoint` from `path`)."""
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


def write_checkpoints(run: RunState, row: dict, schedule: LRSchedule, improved: bool) -> None:
    """`last.pth` always; `best.pth` when the epoch improved on the best (or there is none yet)."""
    opts, epoch = run.opts, row["epoch"]
    roots = [str(p) for p in opts.roots]
    meta = {"epoch": epoch, "data": roots[0] if len(roots) == 1 else roots, "class_names": list(run.cfg.class_names),
            "loss": row["loss"], "map07": row.get("map07")}
    extra = {"optimizer": run.optimizer.state_dict(), "scheduler": {"step": run.step, "total": schedule.total, "warmup": schedule.warmup},
             "epoch": epoch - 1, "best": run.best, "history": run.history,
             "scaler": run.scaler.state_dict() if run.scaler is not None else {}}
    save_checkpoint(opts.out / "last.pth", run.model, meta=meta, extra=extra)
    if improved or not (opts.out / "best.pth").exists():
        save_checkpoint(opts.out / "best.pth", run.model, meta=meta)
