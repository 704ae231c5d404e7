"""The PyTorch reference pipeline, once: raw head maps -> flattened regressions and class scores ->
priors -> detections, and the ncnn contract blobs (`mbox_loc`, `mbox_conf_flatten`, `mbox_priorbox`,
`detection_out`) that the patched `.param` must reproduce. verify, bench, eval and check all read it
from here, so every source the project imports (own, seed, torchvision, ...) goes through one code path.

Priors for a (config, feature sizes, image size) are built by `model.priors.prior_boxes` and cached
here: they depend on nothing else, and a deployment computes them once per input size too."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..config import SSDConfig
from ..modelfolder import CONF_BLOB, DETECTION_BLOB, LOC_BLOB, PRIOR_BLOB
from .postprocess import class_scores, detect
from .priors import prior_boxes, priorbox_blob
from .ssdlite import SSDDetector, flatten_heads

Sizes = tuple[tuple[int, int], ...]


@lru_cache(maxsize=64)
def _priors(cfg: SSDConfig, feature_sizes: Sizes, image_hw: tuple[int, int]) -> torch.Tensor:
    return torch.from_numpy(prior_boxes(cfg, list(feature_sizes), image_hw))


def priors_for(cfg: SSDConfig, feature_sizes, image_hw) -> torch.Tensor:
    """(P, 4) priors (x1, y1, x2, y2) for feature sizes [(h, w), ...] of an (h, w) image; cached, do not
    modify the returned tensor."""
    sizes = tuple((int(h), int(w)) for h, w in feature_sizes)
    return _priors(cfg, sizes, (int(image_hw[0]), int(image_hw[1])))


def model_priors(model: SSDDetector, size: int | None = None) -> torch.Tensor:
    """Priors of a square `size` input (the config's own by default), feature sizes measured by a
    forward pass of the model."""
    size = size or model.cfg.input_size
    return priors_for(model.cfg, model.feature_sizes(size, size), (size, size))


def map_sizes(locs: list[torch.Tensor]) -> list[tuple[int, int]]:
    """Feature sizes read off the loc head maps (N, A*4, H, W): no second forward pass."""
    return [(int(t.shape[2]), int(t.shape[3])) for t in locs]


def scores_and_regressions(locs: list[torch.Tensor], confs: list[torch.Tensor], cfg: SSDConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Head maps -> (N, P, 4) regressions and (N, P, C) class scores (Softmax or Sigmoid, as the config
    says), priors in ncnn's Permute/Flatten/Concat order."""
    loc, conf = flatten_heads(locs, confs, cfg.num_classes)
    return loc, class_scores(conf.float(), cfg)


def detections(locs: list[torch.Tensor], confs: list[torch.Tensor], cfg: SSDConfig, image_hw) -> np.ndarray:
    """One image's head maps (batch 1) -> detection rows (label, score, x1, y1, x2, y2) in [0, 1]."""
    loc, scores = scores_and_regressions(locs, confs, cfg)
    return detect(loc[0], scores[0], priors_for(cfg, map_sizes(locs), image_hw), cfg)


def contract_blobs(locs: list[torch.Tensor], confs: list[torch.Tensor], cfg: SSDConfig, image_hw) -> dict[str, np.ndarray]:
    """The four contract blobs as the patched graph lays them out, from one image's head maps (batch 1):
    PyTorch's own, onnxruntime's or ncnn's (verify feeds each)."""
    loc, scores = scores_and_regressions(locs, confs, cfg)
    priors = priors_for(cfg, map_sizes(locs), image_hw)
    return {
        LOC_BLOB: loc[0].reshape(-1).numpy(),
        CONF_BLOB: scores[0].reshape(-1).numpy(),
        PRIOR_BLOB: priorbox_blob(cfg, priors),
        DETECTION_BLOB: detect(loc[0], scores[0], priors, cfg),
    }


@dataclass
class ReferenceRun:
    """One image through the model: the raw head maps (loc_0..loc_{K-1}, conf_0..conf_{K-1}, batch dim
    dropped) and the contract blobs."""

    locs: list[np.ndarray]
    confs: list[np.ndarray]
    blobs: dict[str, np.ndarray]


@torch.no_grad()
def run_reference(model: SSDDetector, chw: np.ndarray) -> ReferenceRun:
    """A (3, H, W) float32 network input through `model` (in eval mode) and the reference tail."""
    locs, confs = model(torch.from_numpy(np.ascontiguousarray(chw))[None])
    blobs = contract_blobs(locs, confs, model.cfg, chw.shape[1:])
    return ReferenceRun([t[0].numpy() for t in locs], [t[0].numpy() for t in confs], blobs)
