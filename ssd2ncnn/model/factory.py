"""One entry point from an `SSDConfig` to its PyTorch network, whatever the architecture (`cfg.arch`).
Every network here has the same interface: `cfg`, `forward(x) -> ([loc_k], [conf_k])` raw NCHW head maps,
`features`, `feature_sizes`, `loc_heads`/`conf_heads` ending in a 1x1 conv (see `ssdlite.head_conv`)."""

from __future__ import annotations

from ..config import MMDET_ARCH, SSDConfig
from .mmdet_ssdlite import MmdetSSDLite
from .seed_mobilenetv3 import SeedSSD
from .ssdlite import SSDDetector, SSDLite
from .tv_ssdlite import ARCH_FULL, ARCH_REDUCED, TorchvisionSSDLite


def build_model(cfg: SSDConfig) -> SSDDetector:
    if cfg.arch == "ssdlite":
        return SSDLite(cfg)
    if cfg.arch == "seed":
        return SeedSSD(cfg)
    if cfg.arch in (ARCH_REDUCED, ARCH_FULL):
        return TorchvisionSSDLite(cfg)
    if cfg.arch == MMDET_ARCH:
        return MmdetSSDLite(cfg)
    raise ValueError(f"no network for arch {cfg.arch!r}")  # SSDConfig.validate refuses unknown arches first
