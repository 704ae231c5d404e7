"""The pipeline difference that `verify --images` reports beside parity: PyTorch as trained (Pillow's
resize, `verify.verify_images.training_input`) against ncnn as deployed (ncnn's own from_pixels_resize,
`runtime.preprocess`), on the same images. Parity proves the converted model on identical tensors; this
is what a user sees end to end, and what they need before shipping.

The two resizes differ (Pillow's bilinear filter widens with the downscale factor, ncnn's samples two
pixels), so the detections differ a little; that is reported, not gated. On an annotated set the mAP of
both pipelines is computed, and the gate is one-sided: it fails only when ncnn's pipeline scores lower by
more than the margin, max(map_atol, 2 x the paired bootstrap standard error of the difference over the
images): on a small set one image moves mAP by points, and an ncnn that scores higher is not a defect."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..data.metrics import evaluate_detections
from .detections import match_detections
from .tolerances import Tolerances
from .verify_images import VerifyImage

SHOWN_SCORE = 0.3  # detections compared between the pipelines: what `detect` shows by default
BOOTSTRAP_SAMPLES = 100
BOOTSTRAP_SEED = 0


@dataclass
class PipelineDiff:
    size: int
    images: int
    ncnn_count: int  # detections scoring > SHOWN_SCORE
    torch_count: int
    matched: int  # same label, IoU >= match_iou
    max_score_diff: float  # over matched detections
    max_box_diff_px: float  # over matched detections, in pixels of the network input
    map_ncnn: float | None = None  # VOC07 mAP, 0..1, when the images are annotated
    map_torch: float | None = None
    map_margin: float | None = None  # points: the gate fails when ncnn is lower by more than this

    @property
    def map_failed(self) -> bool:
        if self.map_ncnn is None or self.map_torch is None or self.map_margin is None:
            return False
        return 100 * (self.map_torch - self.map_ncnn) > self.map_margin

    def as_dict(self) -> dict:
        # one image has no spread to size the margin by (infinite: the gate cannot fail); JSON has no inf
        margin = self.map_margin if self.map_margin is None or np.isfinite(self.map_margin) else None
        return asdict(self) | {"map_failed": self.map_failed, "map_margin": margin}


def bootstrap_se(ncnn: list[np.ndarray], torch_dets: list[np.ndarray], gts: list, num_classes: int) -> float:
    """Standard error (points) of mAP(ncnn) - mAP(PyTorch) over images resampled with replacement, the
    same resample for both sides (paired)."""
    n = len(gts)
    if n < 2:
        return float("inf")
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    diffs = []
    for _ in range(BOOTSTRAP_SAMPLES):
        idx = rng.integers(0, n, n)
        a = evaluate_detections([ncnn[i] for i in idx], [gts[i] for i in idx], num_classes).map
        b = evaluate_detections([torch_dets[i] for i in idx], [gts[i] for i in idx], num_classes).map
        diffs.append(100 * (a - b))
    return float(np.std(diffs, ddof=1))


def pipeline_difference(size: int, images: list[VerifyImage], ncnn: list[np.ndarray], torch_dets: list[np.ndarray],
                        num_classes: int, tol: Tolerances) -> PipelineDiff:
    """`ncnn[i]` / `torch_dets[i]`: detection rows of image i from each pipeline, in [0, 1] units."""
    matched = n_count = t_count = 0
    score_diff = box_diff = 0.0
    for a, b in zip(ncnn, torch_dets, strict=True):
        a = np.asarray(a, np.float64).reshape(-1, 6)
        b = np.asarray(b, np.float64).reshape(-1, 6)
        a, b = a[a[:, 1] > SHOWN_SCORE], b[b[:, 1] > SHOWN_SCORE]
        n_count, t_count = n_count + len(a), t_count + len(b)
        pairs, _, _ = match_detections(a, b, tol.match_iou)
        matched += len(pairs)
        for j, i in pairs:
            score_diff = max(score_diff, abs(a[j, 1] - b[i, 1]))
            box_diff = max(box_diff, float(np.abs(a[j, 2:6] - b[i, 2:6]).max()) * size)
    diff = PipelineDiff(size, len(images), n_count, t_count, matched, score_diff, box_diff)
    if images and all(im.gt is not None for im in images):
        gts = [im.gt for im in images]
        diff.map_ncnn = evaluate_detections(ncnn, gts, num_classes).map
        diff.map_torch = evaluate_detections(torch_dets, gts, num_classes).map
        diff.map_margin = max(tol.map_atol, 2 * bootstrap_se(ncnn, torch_dets, gts, num_classes))
    return diff
