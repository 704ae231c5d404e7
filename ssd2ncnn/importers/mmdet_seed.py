"""`--from seed`: the mmdetection v1 checkpoint of ujsyehao/mobilenetv3-ssd (the seed model).

The file is mmcv's `save_checkpoint` output, `{"meta": {...}, "state_dict": {...}, "optimizer": {...}}`,
with the keys of the seed's `MobileNetV3_Large` backbone (`backbone.conv1.weight`,
`backbone.bneck.{i}.conv1.weight`, ..., `backbone.extra_convs.{j}.0.weight`) and of its
`Mobilenetv3SSDHead` (`bbox_head.reg_convs.{k}.{0,1,3}.*`, `bbox_head.cls_convs.{k}.{0,1,3}.*`); see
`pytorch_model/mobilenetv3.py` and `mobilenetv3_ssd_head.py` in that repository. The backbone also holds
an ImageNet classifier (`linear3`, `bn3`, `linear4`) that the detector never calls: it is dropped.

What the file does not say comes from the seed's `ssd300_mobilenetv3_pascal.py`: the voc300 priors (its
hard-coded min/max sizes, integer strides 16..300, mmdetection v1 centres), mean 123.675/116.28/103.53,
std 1, RGB, and its `test_cfg` (NMS 0.45, score threshold 0.02, 200 detections per image). The number of
classes and the anchors per level (4 or 6: aspect ratios 2, or 2 and 3) are read from the head shapes:
the released model has 4, 6, 6, 6, 4, 4 (the deployed `.param`), the config file in the repository
says 4, 6, 6, 6, 6, 6."""

from __future__ import annotations

from dataclasses import replace

import torch

from ..config import VOC_CLASSES, SSDConfig, get_preset
from ..errors import CheckpointError
from ..model.load_state import load_state_strict
from ..model.seed_mobilenetv3 import SeedSSD
from . import Importer, ImportOptions, register

HEADS = {"bbox_head.reg_convs.": "loc_heads.", "bbox_head.cls_convs.": "conf_heads."}
CLASSIFIER = ("backbone.linear3.", "backbone.bn3.", "backbone.linear4.")
# ssd300_mobilenetv3_pascal.py's test_cfg
TEST_SCORE_THR, TEST_NMS_IOU, TEST_MAX_PER_IMG = 0.02, 0.45, 200
RATIOS_FOR_ANCHORS = {4: (2.0,), 6: (2.0, 3.0)}  # 2 + 2 * len(ratios) anchors per cell


def matches(sd: dict[str, torch.Tensor]) -> bool:
    # loose on the heads, so a seed file with other heads gets the importer's precise error, not "unknown"
    return "backbone.bneck.0.conv1.weight" in sd and any(k.startswith("bbox_head.reg_convs.") for k in sd)


def _head_out(sd: dict[str, torch.Tensor], kind: str, level: int) -> int:
    key = f"bbox_head.{kind}.{level}.3.weight"
    if key not in sd:
        raise CheckpointError(f"seed checkpoint lacks {key}: expected depthwise heads (depthwise_heads=True) on 6 levels")
    return int(sd[key].shape[0])


def seed_config(sd: dict[str, torch.Tensor], meta: dict, opts: ImportOptions) -> SSDConfig:
    """voc300's priors with the anchors and classes the head shapes say, and the seed's test_cfg."""
    if opts.preset not in (None, "voc300"):  # another preset would convert silently with the wrong priors
        raise CheckpointError(
            f"a seed checkpoint has the voc300 priors its head hard-codes (mobilenetv3_ssd_head.py); drop --preset {opts.preset}"
        )
    base = get_preset("voc300", width_mult=opts.width_mult, arch="seed")
    ratios, num_classes = [], None
    for k in range(base.num_levels):
        loc, conf = _head_out(sd, "reg_convs", k), _head_out(sd, "cls_convs", k)
        anchors = loc // 4
        if loc % 4 or anchors not in RATIOS_FOR_ANCHORS or conf % anchors:
            raise CheckpointError(
                f"seed checkpoint level {k}: box head has {loc} outputs and class head {conf}; expected 4 or 6 "
                f"anchors per cell (16 or 24 box outputs) and a class head of anchors x classes"
            )
        if num_classes not in (None, conf // anchors):
            raise CheckpointError(f"seed checkpoint: the class heads disagree on the number of classes ({num_classes} vs {conf // anchors})")
        num_classes = conf // anchors
        ratios.append(RATIOS_FOR_ANCHORS[anchors])
    assert num_classes is not None
    if opts.num_classes is not None and opts.num_classes != num_classes:
        raise CheckpointError(f"--num-classes {opts.num_classes} contradicts the checkpoint's class heads ({num_classes} including background); drop the option")
    cfg = replace(base, aspect_ratios=tuple(ratios), conf_threshold=TEST_SCORE_THR, nms_threshold=TEST_NMS_IOU, keep_top_k=TEST_MAX_PER_IMG)
    return cfg.with_num_classes(num_classes, _class_names(meta, num_classes))


def _class_names(meta: dict, num_classes: int) -> list[str] | None:
    """mmdetection v1 stores the data set's CLASSES (no background) in meta; VOC's when it has 21 classes."""
    names = meta.get("CLASSES") if isinstance(meta, dict) else None
    if isinstance(names, (list, tuple)) and len(names) == num_classes - 1 and all(isinstance(n, str) for n in names):
        return ["background", *names]
    return list(VOC_CLASSES) if num_classes == len(VOC_CLASSES) else None


def our_state(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The seed's keys -> `SeedSSD`'s (heads renamed, the unused ImageNet classifier dropped)."""
    out = {}
    for key, value in sd.items():
        if key.startswith(CLASSIFIER):
            continue
        for theirs, ours in HEADS.items():
            if key.startswith(theirs):
                key = ours + key[len(theirs):]
                break
        out[key] = value
    return out


def seed_layout(model: SeedSSD, classifier_classes: int = 1000) -> dict[str, torch.Tensor]:
    """The inverse of `our_state`: `model`'s weights under the seed's mmdetection keys, with a freshly
    initialised ImageNet classifier as the seed's backbone carries one (`linear3` 960 -> 1280, `bn3`,
    `linear4`). For tests and for users who want to hand a model back to the seed's code."""
    out = {}
    for key, value in model.state_dict().items():
        for theirs, ours in HEADS.items():
            if key.startswith(ours):
                key = theirs + key[len(ours):]
                break
        out[key] = value.detach().clone()
    last, hidden = model.backbone.last_channels, 1280
    out |= {
        "backbone.linear3.weight": torch.randn(hidden, last) * 1e-3, "backbone.linear3.bias": torch.zeros(hidden),
        "backbone.bn3.weight": torch.ones(hidden), "backbone.bn3.bias": torch.zeros(hidden),
        "backbone.bn3.running_mean": torch.zeros(hidden), "backbone.bn3.running_var": torch.ones(hidden),
        "backbone.bn3.num_batches_tracked": torch.tensor(0),
        "backbone.linear4.weight": torch.randn(classifier_classes, hidden) * 1e-3,
        "backbone.linear4.bias": torch.zeros(classifier_classes),
    }
    return out


def load(obj: dict, sd: dict[str, torch.Tensor], opts: ImportOptions) -> SeedSSD:
    if not matches(sd):  # --from seed on another layout: say so, not which head key is missing
        raise CheckpointError(
            "the checkpoint is not ujsyehao/mobilenetv3-ssd's mmdetection v1 layout (no backbone.bneck.0.conv1.weight "
            "and bbox_head.reg_convs.*); drop --from seed or pass the right file"
        )
    cfg = seed_config(sd, obj.get("meta") or {}, opts)
    model = SeedSSD(cfg)
    load_state_strict(model, our_state(sd), f"checkpoint does not fit the seed model (width {cfg.width_mult}, {cfg.num_classes} classes)",
                      "check --from and --width-mult")
    return model.eval()


IMPORTER = register(Importer(
    name="seed",
    matches=matches,
    load=load,
))
