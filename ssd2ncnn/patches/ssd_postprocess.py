"""The SSD patch: a graph rewrite on the `.param` model that turns pnnx's raw head outputs into the
ncnn model zoo's SSD tail, every parameter taken from `SSDConfig`:

    loc_k  -> Permute(HWC) -> Flatten --\\
                                        Concat -> mbox_loc ---------------------------------\\
    conf_k -> Permute(HWC) -> Flatten --/ Concat -> Reshape(C, -1) -> Softmax -> Flatten      DetectionOutput
    (loc_k, input) -> PriorBox ---------- Concat -> mbox_priorbox ---------------------------/  -> detection_out

The permute/flatten lives here and not in the ONNX graph because pnnx bakes static shapes into Reshape
layers, which then corrupt memory at any other input size. PriorBox takes its image size from the
`input` blob (`9=-233 10=-233`), so one `.param` runs at any input size. Param ids and defaults are
those of ncnn's `src/layer/{permute,priorbox,softmax,detectionoutput}.cpp`; every PriorBox and
DetectionOutput param is written explicitly because ncnn's defaults differ from Caffe's."""

from __future__ import annotations

from ..config import SSDConfig
from ..errors import InputError
from ..modelfolder import (
    CONF_BLOB,
    DETECTION_BLOB,
    INPUT_BLOB,
    LOC_BLOB,
    PRIOR_BLOB,
    conf_head,
    head_names,
    loc_head,
)
from ..ncnn_format import Graph, Layer
from ..ncnn_format.ids import (
    CONCAT_AXIS,
    DETOUT_CONF_THRESHOLD,
    DETOUT_KEEP_TOP_K,
    DETOUT_NMS_THRESHOLD,
    DETOUT_NMS_TOP_K,
    DETOUT_NUM_CLASS,
    DETOUT_VARIANCE,
    FROM_INPUT,
    PERMUTE_CHW_TO_HWC,
    PERMUTE_ORDER_TYPE,
    PRIORBOX_ASPECT_RATIOS,
    PRIORBOX_CENTER_MMDET,
    PRIORBOX_CLIP,
    PRIORBOX_FLIP,
    PRIORBOX_IMAGE_H,
    PRIORBOX_IMAGE_W,
    PRIORBOX_MAX_SIZES,
    PRIORBOX_MIN_SIZES,
    PRIORBOX_OFFSET,
    PRIORBOX_STEP_H,
    PRIORBOX_STEP_MMDET,
    PRIORBOX_STEP_W,
    PRIORBOX_VARIANCE,
    RESHAPE_H,
    RESHAPE_W,
    SOFTMAX_AXIS,
    SOFTMAX_FIXBUG0,
)
from .registry import register


def priorbox_params(cfg: SSDConfig, level: int) -> dict:
    params: dict = {PRIORBOX_MIN_SIZES: [float(cfg.min_sizes[level])]}
    if cfg.max_sizes:
        params[PRIORBOX_MAX_SIZES] = [float(cfg.max_sizes[level])]
    params[PRIORBOX_ASPECT_RATIOS] = [float(r) for r in cfg.aspect_ratios[level]]
    for pid, v in zip(PRIORBOX_VARIANCE, cfg.variances):
        params[pid] = float(v)
    params |= {
        PRIORBOX_FLIP: 1,
        # center-size clipping is not PriorBox's: patches/prior_clamp.py clamps the unclipped priors
        PRIORBOX_CLIP: int(cfg.clip and cfg.clip_rule == "corners"),
        PRIORBOX_IMAGE_W: FROM_INPUT,
        PRIORBOX_IMAGE_H: FROM_INPUT,
        # the fixed rule's steps are numbers (pytorch-ssd); the others follow the input size
        PRIORBOX_STEP_W: float(cfg.strides[level] if cfg.step_rule == "fixed" else FROM_INPUT),
        PRIORBOX_STEP_H: float(cfg.strides[level] if cfg.step_rule == "fixed" else FROM_INPUT),
        PRIORBOX_OFFSET: float(cfg.offset),
        PRIORBOX_STEP_MMDET: int(cfg.step_rule == "ceil"),
        PRIORBOX_CENTER_MMDET: int(cfg.center_rule == "mmdet_v1"),
    }
    return params


def detection_output_params(cfg: SSDConfig) -> dict:
    params = {
        DETOUT_NUM_CLASS: cfg.num_classes,
        DETOUT_NMS_THRESHOLD: float(cfg.nms_threshold),
        DETOUT_NMS_TOP_K: int(cfg.nms_top_k),
        DETOUT_KEEP_TOP_K: int(cfg.keep_top_k),
        DETOUT_CONF_THRESHOLD: float(cfg.conf_threshold),
    }
    for pid, v in zip(DETOUT_VARIANCE, cfg.variances):
        params[pid] = float(v)
    return params


def _flatten_branch(kind: str, k: int, blob: str) -> tuple[list[Layer], str]:
    perm, flat = f"{kind}{k}_perm", f"{kind}{k}_flat"
    return [
        Layer("Permute", perm, [blob], [perm], {PERMUTE_ORDER_TYPE: PERMUTE_CHW_TO_HWC}),
        Layer("Flatten", flat, [perm], [flat]),
    ], flat


def apply_ssd_patch(graph: Graph, cfg: SSDConfig) -> int:
    """Append the SSD tail to `graph` in place. The graph speaks the contract's names already (the backend
    restores them): input `input`, raw head maps `loc0`.., `conf0`.. Returns the number of layers added."""
    k_levels = cfg.num_levels
    if graph.producer(INPUT_BLOB) is None:
        raise InputError(f"the backend graph has no input blob {INPUT_BLOB!r}")
    missing = [name for name in head_names(k_levels) if graph.producer(name) is None]
    if missing:
        raise InputError(f"expected {2 * k_levels} head outputs (loc and conf per level); the backend graph "
                         f"lacks {', '.join(missing)}")

    tail: list[Layer] = []
    loc_flats, conf_flats, priors = [], [], []
    for k in range(k_levels):
        layers, flat = _flatten_branch("loc", k, loc_head(k))
        tail += layers
        loc_flats.append(flat)
        layers, flat = _flatten_branch("conf", k, conf_head(k))
        tail += layers
        conf_flats.append(flat)
        # PriorBox reads only the width/height of its first input: the head map has the level's size.
        prior = f"priorbox{k}"
        tail.append(Layer("PriorBox", prior, [loc_head(k), INPUT_BLOB], [prior], priorbox_params(cfg, k)))
        priors.append(prior)

    activation = (
        Layer("Softmax", "mbox_conf_softmax", ["mbox_conf_reshape"], ["mbox_conf_act"], {SOFTMAX_AXIS: 1, SOFTMAX_FIXBUG0: 1})
        if cfg.score_activation == "softmax"
        else Layer("Sigmoid", "mbox_conf_sigmoid", ["mbox_conf_reshape"], ["mbox_conf_act"])
    )
    tail += [
        Layer("Concat", LOC_BLOB, loc_flats, [LOC_BLOB], {CONCAT_AXIS: 0}),
        Layer("Concat", "mbox_conf", conf_flats, ["mbox_conf"], {CONCAT_AXIS: 0}),
        Layer("Concat", PRIOR_BLOB, priors, [PRIOR_BLOB], {CONCAT_AXIS: 1}),
        Layer("Reshape", "mbox_conf_reshape", ["mbox_conf"], ["mbox_conf_reshape"], {RESHAPE_W: cfg.num_classes, RESHAPE_H: -1}),
        activation,
        Layer("Flatten", CONF_BLOB, ["mbox_conf_act"], [CONF_BLOB]),
        Layer("DetectionOutput", DETECTION_BLOB, [LOC_BLOB, CONF_BLOB, PRIOR_BLOB], [DETECTION_BLOB], detection_output_params(cfg)),
    ]
    graph.append(*tail)
    graph.insert_splits()
    return len(tail)


register("ssd-tail", priority=100)(apply_ssd_patch)  # by call: see patches/registry.py
