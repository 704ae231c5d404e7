"""The torchvision golden folders (scripts/make_torchvision_golden.py) turned back into checkpoints in the
forms users have."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
CASES = ("torchvision-coco91", "torchvision-finetune3")
# the bar: scores to 1e-4, boxes to 1e-3 of the image size, matched tie-aware by label and IoU
SCORE_ATOL, BOX_ATOL, MATCH_IOU = 1e-4, 1e-3, 0.5


def state_dict(folder: Path, meta: dict) -> dict[str, torch.Tensor]:
    arrays = np.load(folder / "weights.npz")
    sd = {}
    for key in meta["keys"]:
        if f"q:{key}" in arrays:
            sd[key] = torch.from_numpy(arrays[f"q:{key}"].astype(np.float32) * arrays[f"s:{key}"])
        else:
            sd[key] = torch.from_numpy(arrays[f"t:{key}"])
    return sd


def write_checkpoint(folder: Path, meta: dict, path: Path) -> Path:
    """The state dict as torchvision saves it, or the dict references/detection/train.py saves."""
    sd = state_dict(folder, meta)
    if meta["form"] == "state_dict":
        torch.save(sd, path)
    else:
        params = [torch.nn.Parameter(v) for v in sd.values() if v.is_floating_point()]
        optimizer = torch.optim.SGD(params, lr=0.15, momentum=0.9, weight_decay=4e-5)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=600)
        args = argparse.Namespace(model="ssdlite320_mobilenet_v3_large", weights_backbone="MobileNet_V3_Large_Weights.IMAGENET1K_V1",
                                  epochs=600, lr=0.15, data_augmentation="ssdlite", amp=False, output_dir="out")
        torch.save({"model": sd, "optimizer": optimizer.state_dict(), "lr_scheduler": scheduler.state_dict(), "args": args, "epoch": 599}, path)
    return path


def tie_aware(explained, reference, candidates, cfg):
    """`explained` rows (torchvision's) judged against `reference` rows and the candidates they came from
    (verify.detections: a difference passes only where near-tied scores explain it)."""
    from ssd2ncnn.verify.detections import compare_detections
    from ssd2ncnn.verify.tolerances import Tolerances

    tol = Tolerances(score_atol=SCORE_ATOL, box_atol=BOX_ATOL, match_iou=MATCH_IOU)
    return compare_detections(explained, reference, cfg, tol, candidates)
