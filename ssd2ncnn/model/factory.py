"""One entry point from an `SSDConfig` to its PyTorch network, whatever the architecture (`cfg.arch`).
Every network here has the same interface: `cfg`, `forward(x) -> ([loc_k], [conf_k])` raw NCHW head maps,
`features`, `feature_sizes`, `loc_heads`/`conf_heads` ending in a 1x1 conv (see `ssdlite.head_conv`)."""

from __future__ import annotations

from ..config import MMDET_ARCH, PYTORCH_SSD_ARCHES, SSDConfig
from .mmdet_ssdlite import MmdetSSDLite
from .pytorch_ssd_mb1 import build_mb1
from .pytorch_ssd_mb2 import build_mb2
from .pytorch_ssd_mb3 import build_mb3
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
    if cfg.arch in PYTORCH_SSD_ARCHES:  # qfgaohao/dusty-nv pytorch-ssd, by family
        return {"mb1": build_mb1, "mb2": build_mb2, "mb3": build_mb3}[cfg.arch[:3]](cfg)
    if cfg.arch == MMDET_ARCH:
        return MmdetSSDLite(cfg)
    raise ValueError(f"no network for arch {cfg.arch!r}")  # SSDConfig.validate refuses unknown arches first
