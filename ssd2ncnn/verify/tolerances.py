"""Named parity tolerances, each with the reason for its size. Overridable from the CLI
(`verify --tol name=value`). fp16-storage models (`convert --fp16`) get their own set.

Tensor checks pass when max|a - b| <= atol + rtol * max|reference|: the rtol term scales with the
tensor's magnitude, because ncnn's winograd/sgemm convolutions sum in a different order than PyTorch.
A tolerance that follows from another is derived from it (`conf_limit`: class scores from the logits'
tolerance); the others say why they stand alone."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from ..errors import InputError
from ..modelfolder import ModelInfo

# How far an activation's output can move when its logits move by at most d (max norm), as a multiple of d.
# Softmax p = softmax(z) has the Jacobian J = diag(p) - p p^T (e.g. Gao & Pavel 2017, "On the properties of
# the softmax function", section 3); row i's L1 norm is p_i(1 - p_i) + p_i * sum_{j != i} p_j = 2 p_i (1 - p_i)
# <= 1/2, so by the mean value theorem along the segment z -> z + d: |dp_i| <= 1/2 * max_j |d_j|.
# Sigmoid: s' = s(1 - s) <= 1/4.
LIPSCHITZ = {"softmax": 0.5, "sigmoid": 0.25}


@dataclass(frozen=True)
class Tolerances:
    # raw head maps (loc_k / conf_k logits) and mbox_loc: float32 reassociation across ~100 convolutions
    # (ncnn's winograd/sgemm sum in another order than PyTorch); stands alone, a property of float32
    head_atol: float = 1e-4
    head_rtol: float = 1e-4
    # patch-stage mbox_conf_flatten: the same logits through ncnn's Softmax and PyTorch's, so only float32
    # rounding of exp, sum and division differs (a few ulp of 1, ~1e-7); stands alone, with 100x margin
    softmax_atol: float = 1e-5
    # end-to-end mbox_conf_flatten. None: derived per case from the head tolerance, LIPSCHITZ x (head_atol +
    # head_rtol x max|conf logits|) + softmax_atol (`conf_limit`): logits within their tolerance cannot move
    # a probability further, so a conversion whose heads pass cannot fail here (issue 17.1)
    conf_atol: float | None = None
    # patch-stage mbox_loc: Permute/Flatten/Concat of ncnn's own head maps only move values: bit for bit
    copy_atol: float = 0.0
    # mbox_priorbox: same float32 formula as ncnn PriorBox; only rounding of the division differs
    prior_atol: float = 1e-6
    # detection_out scores of matched rows. None: the conf limit (a row's score is its prior's
    # mbox_conf_flatten value, so it obeys the same bound)
    score_atol: float | None = None
    # detection_out boxes, in [0, 1] units: stands alone as the user-visible bar (0.3 px at 300 px); the
    # bound that follows from the loc tolerance is smaller (a box moves by variance x prior size x the
    # regression error, ~1e-4 x 0.2 x 1 here)
    box_atol: float = 1e-3
    # near-tied scores, where DetectionOutput may choose either way (NMS, top-k and threshold cuts): at least
    # this, else TIE_FACTOR x the measured class-score error (verify/detections.py), at most the score limit
    tie_atol: float = 1e-5
    # two detections are "the same" when labels agree and IoU >= match_iou
    match_iou: float = 0.5
    # mAP points (VOC07), `verify --images` on an annotated set: the least margin of the one-sided pipeline
    # gate (it fails when ncnn is lower by more than max(map_atol, 2 x the bootstrap SE), verify/pipeline.py)
    map_atol: float = 0.5
    # compare only detections scoring above this (0: all of them, down to the config's threshold)
    min_score: float = 0.0

    def conf_limit(self, activation: str = "softmax", logit_scale: float = 0.0) -> float:
        """The end-to-end mbox_conf_flatten limit for conf logits of magnitude up to `logit_scale`."""
        if self.conf_atol is not None:
            return self.conf_atol
        return LIPSCHITZ[activation] * (self.head_atol + self.head_rtol * logit_scale) + self.softmax_atol

    def score_limit(self, activation: str = "softmax", logit_scale: float = 0.0) -> float:
        return self.score_atol if self.score_atol is not None else self.conf_limit(activation, logit_scale)

    def for_case(self, activation: str, logit_scale: float) -> Tolerances:
        """These tolerances with the derived ones made concrete for one case (its largest |conf logit|)."""
        return replace(self, conf_atol=self.conf_limit(activation, logit_scale),
                       score_atol=self.score_limit(activation, logit_scale))

    def override(self, items: dict[str, float]) -> Tolerances:
        names = {f.name for f in fields(self)}
        unknown = sorted(set(items) - names)
        if unknown:
            raise InputError(f"unknown tolerance(s) {unknown}; known: {', '.join(sorted(names))}")
        return replace(self, **{k: float(v) for k, v in items.items()})


FP32 = Tolerances()
# fp16 weight storage rounds every weight to 11 significant bits (rel. error 2^-11 ~ 5e-4) and the error
# compounds through the network: logits drift by ~1e-2 relative, so scores and boxes drift ~1e-3.
# conf/score stand alone here (patch-stage softmax as before): a measured claim tighter than the bound derived from these head tolerances
# (whose rtol term covers the largest logits, while most probabilities sit where softmax is flat)
FP16 = Tolerances(head_atol=5e-3, head_rtol=3e-2, softmax_atol=5e-3, conf_atol=5e-3, score_atol=5e-3, box_atol=1e-2, map_atol=1.0)


# int8 (`ssd2ncnn quantize`): activations and weights are rounded to 8 bits, so head maps move by a few
# percent of their range; the claim is about what a user sees: confident detections (score > 0.3) match in
# label and place, and mAP on an annotated set stays within a point.
INT8 = Tolerances(
    head_atol=0.05, head_rtol=0.25, softmax_atol=0.15, conf_atol=0.15, score_atol=0.1, box_atol=0.05, map_atol=1.0, min_score=0.3
)


def logit_scale(conf_maps) -> float:
    """The largest |conf logit| over a case's conf head maps: what the derived conf limit scales with."""
    return max(float(np.abs(np.asarray(m)).max()) for m in conf_maps)


def for_model(info: ModelInfo) -> Tolerances:
    if info.int8:
        return INT8
    return FP16 if info.fp16_weights else FP32


def parse_overrides(items: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--tol expects NAME=VALUE (e.g. score_atol=1e-3), got {item!r}") from None
    return out
