"""Checkpoints in the seed's own layout (ujsyehao/mobilenetv3-ssd, mmdetection v1), built from a seeded
spread `SeedSSD`: the released file cannot be downloaded here, so its exact key layout is rebuilt."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ssd2ncnn.config import VOC_CLASSES, get_preset
from ssd2ncnn.importers.mmdet_seed import seed_layout
from ssd2ncnn.model.seed_mobilenetv3 import SeedSSD
from ssd2ncnn.model.spread_init import spread_init

DEPLOYED_RATIOS = ((2.0,), (2.0, 3.0), (2.0, 3.0), (2.0, 3.0), (2.0,), (2.0,))  # 4, 6, 6, 6, 4, 4 anchors


def seed_model(seed: int = 0, ratios=DEPLOYED_RATIOS, num_classes: int = 21, width: float = 1.0, spread: bool = True) -> SeedSSD:
    cfg = replace(get_preset("voc300", arch="seed", width_mult=width), aspect_ratios=tuple(ratios)).with_num_classes(num_classes)
    torch.manual_seed(seed)
    model = SeedSSD(cfg)
    return spread_init(model, seed) if spread else model  # type: ignore[return-value]


def write_mmdet_checkpoint(model: SeedSSD, path: Path, classes: tuple[str, ...] | None = VOC_CLASSES[1:]) -> Path:
    """What mmcv's save_checkpoint writes for the seed: meta, state_dict, optimizer."""
    sd = seed_layout(model)
    meta: dict = {"mmdet_version": "1.0rc0+unknown", "config": "# ssd300_mobilenetv3_pascal.py", "epoch": 25, "iter": 0}
    if classes is not None:
        meta["CLASSES"] = tuple(classes)
    optimizer = {"state": {}, "param_groups": [{"lr": 0.0002, "momentum": 0.9, "weight_decay": 0.0005, "params": list(range(len(sd)))}]}
    torch.save({"meta": meta, "state_dict": sd, "optimizer": optimizer}, path)
    return path
