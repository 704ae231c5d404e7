"""What `check` expects of the PriorBox and DetectionOutput params, derived from the SSDConfig on its own.

The writer (`patches.ssd_postprocess.priorbox_params`) is deliberately not used: were `check` to ask the
writer what to expect, a wrong id or value in the writer would be expected too, and a folder with it would
pass. This table is a second, independent reading of ncnn's `load_param`, keyed by the literal id and the
member name in Tencent/ncnn `src/layer/priorbox.cpp` and `src/layer/detectionoutput.cpp` (ncnn's own
source is the authority for the ids, not `ncnn_format.ids`):

    priorbox.cpp         0 min_sizes  1 max_sizes  2 aspect_ratios  3-6 variances  7 flip  8 clip
                         9 image_width  10 image_height  11 step_width  12 step_height  13 offset
                         14 step_mmdetection  15 center_mmdetection
    detectionoutput.cpp  0 num_class  1 nms_threshold  2 nms_top_k  3 keep_top_k  4 confidence_threshold
                         5-8 variances
"""

from __future__ import annotations

from ..config import SSDConfig

# PriorBox takes the image size and the step from its input blobs when these read -233 (priorbox.cpp)
_FROM_BLOB = -233


def expected_priorbox(cfg: SSDConfig, level: int) -> dict[int, object]:
    """ncnn PriorBox param id -> the value the config means for `level`."""
    v = cfg.variances
    step = float(cfg.strides[level]) if cfg.step_rule == "fixed" else float(_FROM_BLOB)
    out: dict[int, object] = {
        0: [float(cfg.min_sizes[level])],  # min_sizes
        2: [float(r) for r in cfg.aspect_ratios[level]],  # aspect_ratios; flip below adds 1/r after each r
        3: v[0], 4: v[1], 5: v[2], 6: v[3],  # variances, copied into mbox_priorbox's second row
        7: 1,  # flip: the (r, 1/r) pairs of the prior order
        # clip: ncnn clips corners; torchvision's centre-size clamp is a separate graph rewrite
        8: int(cfg.clip and cfg.clip_rule == "corners"),
        9: _FROM_BLOB, 10: _FROM_BLOB,  # image_width/height: the input blob's, so any input size runs
        # step_width/height: image / feature map, or the source's own strides (pytorch-ssd's "fixed" rule)
        11: step, 12: step,
        13: cfg.offset,  # offset
        14: int(cfg.step_rule == "ceil"),  # step_mmdetection: step = ceil(image / feature)
        15: int(cfg.center_rule == "mmdet_v1"),  # center_mmdetection: centre = offset * (step - 1) + j * step
    }
    if cfg.max_sizes:
        out[1] = [float(cfg.max_sizes[level])]  # max_sizes: the sqrt(min * max) box
    return out


def expected_detection_output(cfg: SSDConfig) -> dict[int, object]:
    """ncnn DetectionOutput param id -> the value the config means."""
    v = cfg.variances
    return {
        0: len(cfg.class_names),  # num_class, background included
        1: cfg.nms_threshold,  # nms_threshold
        2: cfg.nms_top_k,  # nms_top_k: per class, before NMS
        3: cfg.keep_top_k,  # keep_top_k: per image, after NMS
        4: cfg.conf_threshold,  # confidence_threshold: keeps score > this
        5: v[0], 6: v[1], 7: v[2], 8: v[3],  # variances of the box decoding
    }
