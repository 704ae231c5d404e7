"""What the epochs of a run share (`RunState`), and how it is built: the model with its BatchNorm
settings, backbone weights and memory format, the optimizer, the mixed-precision scaler, the priors."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch

from ..config import SSDConfig
from ..errors import InputError
from ..model.factory import build_model
from ..model.ssdlite import SSDDetector
from .backbone_weights import load_backbone_weights
from .distributed import DistInfo
from .evaluate import model_priors
from .options import TrainOptions
from .runlog import log


@dataclass
class RunState:
    """The model (and its DDP wrapper `net`), optimizer, scaler, priors, and the counters a resume restores."""

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
    return torch.optim.SGD(groups, lr=opts.lr, momentum=opts.momentum, fused=fused)  # check_options allows no other


def cpu_threads(device: torch.device, info: DistInfo, workers: int) -> None:
    """On CPU, leave a core per loader worker: oversubscribed OpenMP threads spin and can make a step
    ten times slower. An explicit OMP_NUM_THREADS wins."""
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // info.world_size - workers))


def _sync_bn(model: SSDDetector, opts: TrainOptions, info: DistInfo, device: torch.device) -> SSDDetector:
    if not opts.sync_bn:
        return model
    if info.enabled and device.type != "cuda":
        raise InputError("--sync-bn needs CUDA devices (PyTorch's SyncBatchNorm does not train on CPU); drop it")
    if not info.enabled:
        log.info("--sync-bn: a single process has nothing to synchronise; plain BatchNorm")
        return model
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[return-value]  # same module, BN swapped


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
    model = _sync_bn(model, opts, info, device)
    priors = model_priors(model).to(device)
    model.to(device)
    run = RunState(opts, cfg, info, device, model, model, make_optimizer(model, opts),
                   torch.amp.GradScaler("cuda") if device.type == "cuda" else None, priors)
    if run.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # not in the stubs
    return run
