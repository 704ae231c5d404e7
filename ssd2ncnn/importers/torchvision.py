"""torchvision's `ssdlite320_mobilenet_v3_large` checkpoints: the state dict as `torch.save(model.state_dict())`
writes it (the COCO weights file is one), or the detection reference `train.py` dict
(`{"model": ..., "optimizer": ..., "lr_scheduler": ..., "args": Namespace, "epoch": ...}`, pytorch/vision
`references/detection/train.py`), with any number of classes. Everything else is read from tensor shapes:

- classes: the first classification head's 1x1 conv has 6 * num_classes outputs;
- tail: the last backbone conv (`backbone.features.1.3`) has 480 outputs with the reduced tail (the
  COCO weights, or any model built without ImageNet backbone weights) and 960 with the full tail
  (a fine-tune started from `weights_backbone=IMAGENET1K_V1`).

The SSDConfig is torchvision's own builder defaults (`config.torchvision_ssdlite320`): a state dict does
not carry them, and the reference `train.py` never changes them."""

from __future__ import annotations

import torch

from ..config import torchvision_ssdlite320
from ..errors import CheckpointError
from ..model.load_state import load_state_strict
from ..model.mobilenetv3 import LAST_CHANNELS
from ..model.ssdlite import SSDDetector
from ..model.tv_ssdlite import REDUCED_TAIL_DIVIDER, TorchvisionSSDLite
from . import Importer, ImportOptions, register

ANCHORS_PER_CELL = 6
CONF0 = "head.classification_head.module_list.0.1.weight"
LAST_CONV = "backbone.features.1.3.0.weight"
SIGNATURE = (CONF0, "head.regression_head.module_list.0.1.weight", "backbone.features.0.0.0.weight", "backbone.extra.0.0.0.weight", LAST_CONV)

# torchvision's COCO category names by label (`_COCO_CATEGORIES`): label = COCO category id, so the 11
# unused ids are "N/A". Used when a checkpoint has the COCO weights' 91 classes.
COCO_91 = (
    "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A", "backpack", "umbrella", "N/A", "N/A", "handbag",
    "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet", "N/A", "tv", "laptop",
    "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "N/A",
    "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)


def matches(sd: dict[str, torch.Tensor]) -> bool:
    return all(k in sd for k in SIGNATURE)


def _num_classes(sd: dict[str, torch.Tensor]) -> int:
    outputs = int(sd[CONF0].shape[0])
    if outputs % ANCHORS_PER_CELL or outputs < 2 * ANCHORS_PER_CELL:
        raise CheckpointError(
            f"{CONF0} has {outputs} outputs, expected {ANCHORS_PER_CELL} anchors x (classes incl. background >= 2); "
            f"is this torchvision's ssdlite320_mobilenet_v3_large?"
        )
    return outputs // ANCHORS_PER_CELL


def _full_tail(sd: dict[str, torch.Tensor]) -> bool:
    last = int(sd[LAST_CONV].shape[0])
    if last == LAST_CHANNELS:
        return True
    if last == LAST_CHANNELS // REDUCED_TAIL_DIVIDER:
        return False
    raise CheckpointError(
        f"{LAST_CONV} has {last} outputs; torchvision's MobileNetV3-Large tail has {LAST_CHANNELS} (full) or "
        f"{LAST_CHANNELS // REDUCED_TAIL_DIVIDER} (reduced); other widths are not ssdlite320_mobilenet_v3_large"
    )


def load(obj: dict, sd: dict[str, torch.Tensor], opts: ImportOptions) -> SSDDetector:
    if not matches(sd):
        missing = [k for k in SIGNATURE if k not in sd]
        raise CheckpointError(
            f"the checkpoint is not torchvision's ssdlite320_mobilenet_v3_large (no {missing[0]}); "
            f"drop --from torchvision or pass the right file"
        )
    if opts.preset is not None:
        raise CheckpointError("a torchvision checkpoint carries its own architecture; drop --preset")
    if opts.width_mult not in (None, 1.0):
        raise CheckpointError(f"torchvision's ssdlite320_mobilenet_v3_large has no width multiplier; drop --width-mult {opts.width_mult}")
    n = _num_classes(sd)
    if opts.num_classes is not None and opts.num_classes != n:
        raise CheckpointError(
            f"--num-classes {opts.num_classes} contradicts the checkpoint's heads ({n} classes including the "
            f"background); drop the option"
        )
    names = COCO_91 if n == len(COCO_91) else ("background",) + tuple(f"class{i}" for i in range(1, n))
    model = TorchvisionSSDLite(torchvision_ssdlite320(names, full_tail=_full_tail(sd)))
    # fp16 fixture tensors are cast by load_state_dict's copy
    load_state_strict(model, sd, "the checkpoint looks like torchvision's ssdlite320_mobilenet_v3_large but does not fit it",
                      "was the model changed after building it?")
    return model.eval()


IMPORTER = register(Importer(
    name="torchvision",
    matches=matches,
    load=load,
))
