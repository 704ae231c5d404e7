"""torchrun integration: one process per device, rank 0 writes. Without torchrun's environment
(WORLD_SIZE unset or 1) everything is a plain single-process run."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import InputError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(device: str | None, local_rank: int | None = None) -> torch.device:
    """`--device` as given (default: CUDA when available), checked here so that a typo or a CUDA device
    this machine lacks is a one-line error, not a traceback from deep inside torch. Under torchrun
    (`local_rank` given) each process takes the GPU of its local rank."""
    try:
        dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    except RuntimeError:
        raise InputError(f"--device {device!r} is not a device name; use cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":  # mps, xpu, meta ...: torch knows the name, but training and eval here do not
        raise InputError(f"--device {device}: only cpu and cuda[:N] are supported")
    if not torch.cuda.is_available():
        raise InputError(f"--device {device}: this torch build sees no CUDA GPU (torch {torch.__version__}); "
                         f"use --device cpu, or install a CUDA build of torch")
    index = local_rank if local_rank is not None else (dev.index or 0)
    if index >= torch.cuda.device_count():
        raise InputError(f"--device {device}: GPU {index} does not exist (this machine has {torch.cuda.device_count()})")
    return torch.device("cuda", index)


def init_distributed(device: str | None = None) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU) and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local if world > 1 else None)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    info = DistInfo(rank=dist.get_rank() if world > 1 else 0, world_size=world, local_rank=local)
    return info, dev


def device_note(device: str | None, info: DistInfo) -> str | None:
    """The line that says a `--device cuda:N` was replaced under torchrun (each process takes the GPU of
    its local rank, as the torchvision references do), or None when nothing was replaced."""
    if not info.enabled or not device or ":" not in device:
        return None
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", info.world_size))
    return (f"--device {device} is replaced under torchrun: each process takes the GPU of its local rank "
            f"(cuda:0..cuda:{per_node - 1} on this node); pass --device cuda, or set CUDA_VISIBLE_DEVICES to choose GPUs")


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_mean(value: float, info: DistInfo, device: torch.device) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
