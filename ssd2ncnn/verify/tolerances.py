"""Named parity tolerances, each with the reason for its size. Overridable from the CLI
(`verify --tol name=value`). fp16-storage models (`convert --fp16`) get their own set.

Tensor checks pass when max|a - b| <= atol + rtol * max|reference|: the rtol term scales with the
tensor's magnitude, because ncnn's winograd/sgemm convolutions sum in a different order than PyTorch."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..errors import InputError
from ..modelfolder import ModelInfo


@dataclass(frozen=True)
class Tolerances:
    # raw head maps (loc_k / conf_k logits) and mbox_loc: float32 reassociation across ~100 convolutions
    head_atol: float = 1e-4
    head_rtol: float = 1e-4
    # mbox_conf_flatten: softmax probabilities in [0, 1]
    conf_atol: float = 1e-5
    # patch-stage mbox_loc: Permute/Flatten/Concat of ncnn's own head maps only move values: bit for bit
    copy_atol: float = 0.0
    # mbox_priorbox: same float32 formula as ncnn PriorBox; only rounding of the division differs
    prior_atol: float = 1e-6
    # detection_out, matched by label and IoU: scores are softmax outputs, boxes are in [0, 1] units
    score_atol: float = 1e-4
    box_atol: float = 1e-3
    # near-tied scores, where DetectionOutput may choose either way (NMS, top-k and threshold cuts): at least
    # this, else TIE_FACTOR x the measured class-score error (verify/detections.py), at most score_atol
    tie_atol: float = 1e-5
    # two detections are "the same" when labels agree and IoU >= match_iou
    match_iou: float = 0.5
    # mAP points (VOC07), `verify --images` on an annotated set: the least margin of the one-sided pipeline
    # gate (it fails when ncnn is lower by more than max(map_atol, 2 x the bootstrap SE), verify/pipeline.py)
    map_atol: float = 0.5
    # compare only detections scoring above this (0: all of them, down to the config's threshold)
    min_score: float = 0.0

    def override(self, items: dict[str, float]) -> Tolerances:
        names = {f.name for f in fields(self)}
        unknown = sorted(set(items) - names)
        if unknown:
            raise InputError(f"unknown tolerance(s) {unknown}; known: {', '.join(sorted(names))}")
        return replace(self, **{k: float(v) for k, v in items.items()})


FP32 = Tolerances()
# fp16 weight storage rounds every weight to 11 significant bits (rel. error 2^-11 ~ 5e-4) and the error
# compounds through the network: logits drift by ~1e-2 relative, so scores and boxes drift ~1e-3.
FP16 = Tolerances(head_atol=5e-3, head_rtol=3e-2, conf_atol=5e-3, score_atol=5e-3, box_atol=1e-2, map_atol=1.0)


# int8 (`ssd2ncnn quantize`): activations and weights are rounded to 8 bits, so head maps move by a few
# percent of their range; the claim is about what a user sees: confident detections (score > 0.3) match in
# label and place, and mAP on an annotated set stays within a point.
INT8 = Tolerances(
    head_atol=0.05, head_rtol=0.25, conf_atol=0.15, score_atol=0.1, box_atol=0.05, map_atol=1.0, min_score=0.3
)


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
