"""Running a model over a data set split and scoring it with the VOC metric."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..data.metrics import DetectionMetrics, evaluate_detections
from ..data.records import DetectionSource
from ..model.reference import model_priors, scores_and_regressions
from ..model.ssdlite import SSDDetector
from .data import TorchDetectionDataset, collate, loader_batches, network_input
from .detect_batch import detect_batch
from .transforms import EvalTransform

__all__ = ["evaluate_model", "ground_truth", "model_priors", "predict"]  # model_priors: the reference's, for loop.py


@torch.no_grad()
def predict(model: SSDDetector, source: DetectionSource, batch_size: int = 16, workers: int = 0, device: str | torch.device = "cpu",
            channels_last: bool = False) -> list[np.ndarray]:
    """Detections per image, (D, 6) rows (label, score, x1, y1, x2, y2) in the image's pixels. Images are
    decoded by `workers` loader processes; post-processing runs batched on `device` (`detect_batch`).
    `channels_last`: the input's memory format, that of the model during training."""
    was_training = model.training
    model.eval()
    cfg = model.cfg
    device = torch.device(device)
    priors = model_priors(model).to(device)
    loader = DataLoader(TorchDetectionDataset(source, EvalTransform(cfg), drop_difficult=False),
                        batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate,
                        pin_memory=device.type == "cuda")
    out: list[np.ndarray] = [np.zeros((0, 6), np.float32)] * len(source)
    try:
        for images, _, _, index in loader_batches(loader):
            locs, confs = model(network_input(images.to(device, non_blocking=True), cfg, channels_last))
            loc, scores = scores_and_regressions(locs, confs, cfg)
            for i, dets in zip(index.tolist(), detect_batch(loc, scores, priors, cfg), strict=True):
                rec = source.records[i]
                dets[:, 2:6] *= np.array([rec.width, rec.height, rec.width, rec.height], dtype=np.float32)
                out[i] = dets
    finally:
        model.train(was_training)
    return out


def ground_truth(source: DetectionSource) -> list[dict[str, np.ndarray]]:
    return [{"boxes": r.boxes, "labels": r.labels, "difficult": r.difficult} for r in source.records]


def evaluate_model(model: SSDDetector, source: DetectionSource, use_07: bool = True, batch_size: int = 16, workers: int = 0,
                   device: str | torch.device = "cpu", channels_last: bool = False) -> DetectionMetrics:
    dets = predict(model, source, batch_size, workers, device, channels_last)
    return evaluate_detections(dets, ground_truth(source), source.num_classes, iou=0.5, use_07=use_07)
