"""`--from pytorch-ssd`: checkpoints of qfgaohao/pytorch-ssd and of dusty-nv's fork (jetson-inference's
`train_ssd.py`). `net.save(path)` is `torch.save(self.state_dict(), path)` (`vision/ssd/ssd.py`): a bare
state dict with no net name, classes, width or resolution in it. So everything is read from the keys and
shapes (the net, the classes from the last classification head, mb2's width multiplier from its first
head), the class names from the label file the training script writes beside the checkpoint
(`importers/labels.py`) or `--labels`, and the priors and post-processing are theirs
(`config.pytorch_ssd`). dusty-nv's later mb1-ssd `--resolution` is not recorded either: `--resolution`
says it.

| keys (shape) | net |
| --- | --- |
| `base_net.0.0.weight` (32,3,3,3), `base_net.13.3.weight` (1024,1024,1,1), `classification_headers.0.weight` | mb1-ssd |
| the same backbone, `classification_headers.0.0.weight` (512,1,3,3) (a separable head) | mb1-ssd-lite |
| `base_net.1.conv.0.weight`, `base_net.18.0.weight` (1280, int(320 w), 1, 1) | mb2-ssd-lite |
| `base_net.3.conv1.weight`, `base_net.18.weight` (960,160,1,1) | mb3-large-ssd-lite |
| `base_net.3.conv1.weight`, `base_net.14.weight` (576,96,1,1) | mb3-small-ssd-lite |"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..config import PYTORCH_SSD_SIZE, pytorch_ssd
from ..errors import CheckpointError
from ..model.factory import build_model
from ..model.load_state import load_state_strict
from ..model.pytorch_ssd_mb2 import tap_channels
from ..model.ssdlite import SSDDetector
from . import Importer, ImportOptions, register
from .labels import BACKGROUND, find_beside, names_for_head

PREFIXES = ("base_net.", "extras.", "classification_headers.", "regression_headers.")
ANCHORS_PER_CELL = 6  # every MobileNet net of theirs: min, sqrt(min*max), ratios 2 and 3 flipped
LAST_CONF = "classification_headers.5.weight"  # a plain conv in every net
MB2_HEAD0 = "classification_headers.0.0.weight"  # round(576 w) depthwise channels
# nets of theirs recognised but not converted (other backbones, another prior table)
NOT_SUPPORTED = {"source_layer_add_ons.0.running_mean": "vgg16-ssd", "base_net.3.squeeze.weight": "sq-ssd-lite"}
RESOLUTION_NETS = ("mb1-ssd",)  # dusty-nv: "can be changed for mb1-ssd only"


def _shape(sd: dict[str, torch.Tensor], key: str) -> tuple[int, ...] | None:
    return tuple(sd[key].shape) if key in sd else None


def detect_net(sd: dict[str, torch.Tensor]) -> str | None:
    """The net name as their train_ssd.py --net spells it, from the keys alone (None when none fits)."""
    if _shape(sd, "base_net.13.3.weight") == (1024, 1024, 1, 1) and "base_net.0.0.weight" in sd:
        if MB2_HEAD0 in sd or "classification_headers.0.2.weight" in sd:
            return "mb1-ssd-lite"
        if "classification_headers.0.weight" in sd:
            return "mb1-ssd"
    if "base_net.1.conv.0.weight" in sd and "base_net.18.0.weight" in sd:
        return "mb2-ssd-lite"
    if "base_net.3.conv1.weight" in sd:
        if _shape(sd, "base_net.18.weight") == (960, 160, 1, 1):
            return "mb3-large-ssd-lite"
        if _shape(sd, "base_net.14.weight") == (576, 96, 1, 1):
            return "mb3-small-ssd-lite"
    return None


def matches(sd: dict[str, torch.Tensor]) -> bool:
    # loose (the SSD wrapper's prefixes), so a net of theirs we do not build gets a precise error
    return all(any(k.startswith(p) for k in sd) for p in PREFIXES) and (
        all(k.startswith(PREFIXES + ("source_layer_add_ons.",)) for k in sd))


def _num_classes(sd: dict[str, torch.Tensor]) -> int:
    outputs = int(sd[LAST_CONF].shape[0]) if LAST_CONF in sd else 0
    if outputs % ANCHORS_PER_CELL or outputs < 2 * ANCHORS_PER_CELL:
        raise CheckpointError(
            f"{LAST_CONF} has {outputs} outputs, expected {ANCHORS_PER_CELL} anchors x (classes incl. {BACKGROUND} >= 2); "
            f"is this a pytorch-ssd checkpoint?"
        )
    return outputs // ANCHORS_PER_CELL


def _width(net: str, sd: dict[str, torch.Tensor], given: float | None) -> float:
    width = 1.0
    if net == "mb2-ssd-lite":
        width = int(sd[MB2_HEAD0].shape[0]) / 576  # their head 0 has round(576 w) channels
        if tap_channels(width) != int(sd[MB2_HEAD0].shape[0]):
            raise CheckpointError(
                f"mb2-ssd-lite's first head has {int(sd[MB2_HEAD0].shape[0])} channels, which no width multiplier "
                f"their code can run gives (1.0, 0.75, 0.5 and 0.25 do); is the file complete?"
            )
    if given is not None and abs(given - width) > 1e-9:
        raise CheckpointError(f"--width-mult {given} contradicts the checkpoint's shapes ({net} width {width:g}); drop the option")
    return width


def _class_names(opts: ImportOptions, num_classes: int) -> tuple[str, ...]:
    label_file = opts.labels if opts.labels is not None else (find_beside(opts.path) if opts.path else None)
    if label_file is None:  # no file: the names their scripts would not know either
        return (BACKGROUND,) + tuple(f"class{i}" for i in range(1, num_classes))
    return names_for_head(label_file, num_classes)


def _check_options(net: str, opts: ImportOptions, num_classes: int) -> None:
    if opts.preset is not None:
        raise CheckpointError(f"a pytorch-ssd checkpoint is recognised from its keys ({net}); drop --preset")
    if opts.num_classes is not None and opts.num_classes != num_classes:
        raise CheckpointError(
            f"--num-classes {opts.num_classes} contradicts the checkpoint's heads ({num_classes} classes including "
            f"{BACKGROUND}); drop the option"
        )
    if opts.resolution not in (None, PYTORCH_SSD_SIZE) and net not in RESOLUTION_NETS:
        raise CheckpointError(
            f"--resolution {opts.resolution}: {net}'s priors exist for {PYTORCH_SSD_SIZE} only (dusty-nv's "
            f"--resolution is for {', '.join(RESOLUTION_NETS)}); drop the option"
        )


def load(obj: dict, sd: dict[str, torch.Tensor], opts: ImportOptions) -> SSDDetector:
    net = detect_net(sd)
    if net is None:
        other = next((name for key, name in NOT_SUPPORTED.items() if key in sd), None)
        what = f"their {other}, which ssd2ncnn does not convert" if other else "no net ssd2ncnn knows"
        raise CheckpointError(
            f"the checkpoint has pytorch-ssd's layout but is {what}; supported: mb1-ssd, mb1-ssd-lite, mb2-ssd-lite, "
            f"mb3-large-ssd-lite, mb3-small-ssd-lite"
        )
    num_classes = _num_classes(sd)
    _check_options(net, opts, num_classes)
    cfg = pytorch_ssd(_class_names(opts, num_classes), net, opts.resolution)
    cfg = replace(cfg, width_mult=_width(net, sd, opts.width_mult)).validate()
    model = build_model(cfg)
    load_state_strict(model, sd, f"the checkpoint looks like pytorch-ssd's {net} but does not fit it",
                      "was the net changed after train_ssd.py built it?")
    return model.eval()


IMPORTER = register(Importer(
    name="pytorch-ssd",
    matches=matches,
    load=load,
    accepts=("labels", "resolution", "path"),
))
