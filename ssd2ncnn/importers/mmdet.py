"""`--from mmdet`: mmdetection 2.x / 3.x SSDLite MobileNetV2 checkpoints (`configs/ssd/ssdlite_mobilenetv2*_coco.py`).

Accepted files: mmcv's runner checkpoint (2.x: `{"meta", "state_dict", "optimizer"}`, meta["CLASSES"]), the
same after `tools/model_converters/publish_model.py` (no optimizer), and mmengine's (3.x: `{"meta",
"state_dict", "message_hub", "optimizer", "param_schedulers"}`, meta["dataset_meta"]["classes"]); mmengine
objects in them are read as inert placeholders (`restricted_pickle.py`), never run. A bare state dict with
these keys converts too. From the tensors:

- the layout: `backbone.layer1.0.depthwise_conv.conv.weight` (mmdet MobileNetV2),
  `neck.extra_layers.0.1.depthwise_conv.conv.weight` (SSDNeck, use_depthwise) and
  `bbox_head.cls_convs.0.1.weight` (SSDHead, use_depthwise);
- classes: `cls_convs.k.1` has anchors x (classes + 1) outputs, anchors = `reg_convs.k.1` outputs / 4;
- width: `backbone.layer7` outputs = make_divisible(320 w, 8).

mmdet puts the background LAST in each anchor's class block (`SSDHead.cls_out_channels = num_classes + 1`;
"BG cat_id: num_classes" in `loss_by_feat_single`); the class convs' output channels are permuted here so
that it is channel 0, as everywhere else in ssd2ncnn (a pure reordering: exact). Labels are mmdet's + 1.
What the file does not say (priors, thresholds, normalisation, BN eps) is the config's: `config.mmdet_ssdlite320`."""

from __future__ import annotations

import torch

from ..config import mmdet_ssdlite320
from ..errors import CheckpointError
from ..model.load_state import load_state_strict
from ..model.mmdet_ssdlite import ARCH_SETTINGS, MmdetSSDLite
from ..model.mobilenetv3 import make_divisible
from ..model.ssdlite import SSDDetector
from . import Importer, ImportOptions, register
from .restricted_pickle import mapping
from .torchvision import COCO_91

SIGNATURE = (
    "backbone.layer1.0.depthwise_conv.conv.weight",
    "neck.extra_layers.0.1.depthwise_conv.conv.weight",
    "bbox_head.cls_convs.0.1.weight",
)
LEVELS = 6
ANCHORS_PER_CELL = 6  # min, sqrt(min*max), ratios 2 and 3 with their flips: the config's anchor generator
LAST_STAGE = "backbone.layer7.0.linear_conv.conv.weight"
# mmdet's CocoDataset METAINFO classes (80, no background): torchvision's COCO names without its "N/A" gaps.
COCO_80 = tuple(n for n in COCO_91[1:] if n != "N/A")
WIDTH_STEP = 0.05  # widths are read from rounded channel counts; released configs use multiples of this


def matches(sd: dict[str, torch.Tensor]) -> bool:
    return all(k in sd for k in SIGNATURE)


def _head_outputs(sd: dict[str, torch.Tensor], kind: str, level: int) -> int:
    key = f"bbox_head.{kind}.{level}.1.weight"
    if key not in sd:
        raise CheckpointError(f"mmdet checkpoint lacks {key}: expected an SSDHead with use_depthwise=True on {LEVELS} levels")
    return int(sd[key].shape[0])


def num_classes_of(sd: dict[str, torch.Tensor]) -> int:
    """Classes including the background, from the head shapes (each level must agree)."""
    counts = set()
    for k in range(LEVELS):
        reg, cls = _head_outputs(sd, "reg_convs", k), _head_outputs(sd, "cls_convs", k)
        if reg != 4 * ANCHORS_PER_CELL or cls % ANCHORS_PER_CELL or cls < 2 * ANCHORS_PER_CELL:
            raise CheckpointError(
                f"mmdet checkpoint level {k}: box head has {reg} outputs and class head {cls}; expected "
                f"{ANCHORS_PER_CELL} anchors per cell (ratios [2, 3], as ssdlite_mobilenetv2's anchor generator): "
                f"{4 * ANCHORS_PER_CELL} box outputs and {ANCHORS_PER_CELL} x (classes + 1) class outputs"
            )
        counts.add(cls // ANCHORS_PER_CELL)
    if len(counts) != 1:
        raise CheckpointError(f"mmdet checkpoint: the class heads disagree on the number of classes ({sorted(counts)})")
    return counts.pop()


def width_of(sd: dict[str, torch.Tensor]) -> float:
    """widen_factor from the last stage's channels, make_divisible(320 w, 8), on a WIDTH_STEP grid."""
    if LAST_STAGE not in sd:
        raise CheckpointError(f"mmdet checkpoint lacks {LAST_STAGE}: expected mmdet's MobileNetV2 backbone (layer1..layer7)")
    channels = int(sd[LAST_STAGE].shape[0])
    last = ARCH_SETTINGS[-1][1]
    width = round(round(channels / last / WIDTH_STEP) * WIDTH_STEP, 4)
    if width <= 0 or make_divisible(last * width) != channels:
        raise CheckpointError(f"mmdet checkpoint: layer7 has {channels} channels, which no width multiplier of MobileNetV2 gives")
    return width


def class_names(meta: object, foreground: int) -> tuple[str, ...]:
    """Background first, then 3.x meta["dataset_meta"]["classes"] (or "CLASSES"), 2.x meta["CLASSES"], COCO's
    80 for an 80-class head, else class1..N."""
    meta = mapping(meta)
    dataset_meta = mapping(meta.get("dataset_meta"))
    for names in (dataset_meta.get("classes"), dataset_meta.get("CLASSES"), meta.get("CLASSES")):
        if isinstance(names, (list, tuple)) and len(names) == foreground and all(isinstance(n, str) and n for n in names):
            return ("background", *names)
    if foreground == len(COCO_80):
        return ("background", *COCO_80)
    return ("background", *(f"class{i}" for i in range(1, foreground + 1)))


def background_first(sd: dict[str, torch.Tensor], num_classes: int) -> dict[str, torch.Tensor]:
    """Move each anchor's last class channel (mmdet's background) to the front of its block:
    new[a*C + 0] = old[a*C + C-1], new[a*C + c] = old[a*C + c-1]."""
    block = [num_classes - 1, *range(num_classes - 1)]
    order = torch.tensor([a * num_classes + c for a in range(ANCHORS_PER_CELL) for c in block])
    out = dict(sd)
    for k in range(LEVELS):
        for name in ("weight", "bias"):
            key = f"bbox_head.cls_convs.{k}.1.{name}"
            if key in sd:
                out[key] = sd[key].index_select(0, order)
    return out


def load(obj: dict, sd: dict[str, torch.Tensor], opts: ImportOptions) -> SSDDetector:
    if not matches(sd):
        missing = next(k for k in SIGNATURE if k not in sd)
        raise CheckpointError(f"the checkpoint is not mmdetection's SSDLite MobileNetV2 (no {missing}); drop --from mmdet or pass the right file")
    if opts.preset is not None:
        raise CheckpointError("an mmdet SSDLite checkpoint gets its priors from mmdetection's config; drop --preset")
    n = num_classes_of(sd)
    if opts.num_classes is not None and opts.num_classes != n:
        raise CheckpointError(f"--num-classes {opts.num_classes} contradicts the checkpoint's class heads ({n} including the background); drop the option")
    width = width_of(sd)
    if opts.width_mult is not None and abs(opts.width_mult - width) > 1e-9:
        raise CheckpointError(f"--width-mult {opts.width_mult} contradicts the checkpoint's channels (width {width}); drop the option")
    model = MmdetSSDLite(mmdet_ssdlite320(class_names(obj.get("meta"), n - 1), width))
    load_state_strict(model, background_first(sd, n), "the checkpoint looks like mmdetection's SSDLite MobileNetV2 but does not fit it",
                      "only configs/ssd/ssdlite_mobilenetv2*_coco.py's neck and head (use_depthwise) are supported")
    return model.eval()


IMPORTER = register(Importer(
    name="mmdet",
    matches=matches,
    load=load,
))
