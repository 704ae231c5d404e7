"""ImageNet MobileNetV3-Large weights from torchvision or timm onto `SSDLite.backbone`, and from
xiaolai-sqlai/mobilenetv3 onto the seed architecture's backbone (`SeedSSD.backbone`).

Published layouts (names checked against torchvision `models/mobilenetv3.py` and timm `mobilenetv3.py` /
`_efficientnet_blocks.py`):

- torchvision: stem `features.0.{0,1}`; block i (0..14) is `features.{i+1}.block.{j}` with j running over
  [expand] depthwise [SE: `fc1`, `fc2`] project, each a `{0: conv, 1: bn}`; last conv `features.16.{0,1}`.
- timm (`mobilenetv3_large_100`): stem `conv_stem` + `bn1`; stages `blocks.{s}.{k}` of 1, 2, 3, 4, 2, 3
  blocks; the first is a depthwise-separable block (`conv_dw`, `bn1`, `conv_pw`, `bn2`), the others
  `conv_pw`, `bn1`, `conv_dw`, `bn2`, `se.conv_reduce`, `se.conv_expand`, `conv_pwl`, `bn3`; last conv
  `blocks.6.0.conv` + `blocks.6.0.bn1`.
- xiaolai-sqlai/mobilenetv3 `mobilenetv3.old.py` (`mbv3_large.old.pth.tar`, the file the seed's
  `ssd300_mobilenetv3_pascal.py` names as `pretrained`, often saved under DataParallel's `module.`):
  `conv1`, `bn1`, `bneck.{i}.{conv1,bn1,conv2,bn2,conv3,bn3}`, `bneck.{i}.se.se.{0,1,3,4}` (SE after the
  projection, pool outside the Sequential), `bneck.{i}.shortcut.{0,1}`, `conv2`, `bn2`, then the classifier
  `linear3`, `bn3`, `linear4`. The seed's backbone is that network with the same module names, so the
  mapping is the identity (its SSD extras are not in the file). xiaolai's later `mobilenetv3.py`
  (SE on the expansion with the pool at `se.se.0`, `skip` shortcuts on stride-2 blocks too) is another
  network and is refused.

Classifier layers (`classifier.*`, `conv_head`, `linear3`...) are reported as unused; any shape mismatch is
refused, and so is a layout meant for the other architecture."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checkpoint import _state_dict_of, read_checkpoint
from ..errors import CheckpointError, InputError
from ..model.mobilenetv3 import MobileNetV3Large
from ..model.seed_mobilenetv3 import SeedMobileNetV3

Backbone = MobileNetV3Large | SeedMobileNetV3

TIMM_STAGES = (1, 2, 3, 4, 2, 3)
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _timm_block_names(index: int) -> str:
    stage, start = 0, 0
    while index >= start + TIMM_STAGES[stage]:
        start += TIMM_STAGES[stage]
        stage += 1
    return f"blocks.{stage}.{index - start}"


def _conv_bn(ours: str, conv: str, bn: str) -> dict[str, str]:
    return {f"{ours}.0.weight": f"{conv}.weight"} | {f"{ours}.1.{p}": f"{bn}.{p}" for p in _BN}


def _se(ours: str, fc1: str, fc2: str) -> dict[str, str]:
    return {f"{ours}.fc1.{p}": f"{fc1}.{p}" for p in ("weight", "bias")} | {f"{ours}.fc2.{p}": f"{fc2}.{p}" for p in ("weight", "bias")}


def torchvision_names(backbone: MobileNetV3Large) -> dict[str, str]:
    """Our backbone key -> torchvision `mobilenet_v3_large` key."""
    names = _conv_bn("stem", "features.0.0", "features.0.1")
    for i, block in enumerate(backbone.blocks):
        prefix, j = f"features.{i + 1}.block", 0
        if block.expand is not None:
            names |= _conv_bn(f"blocks.{i}.expand", f"{prefix}.0.0", f"{prefix}.0.1")
            j += 1
        names |= _conv_bn(f"blocks.{i}.depthwise", f"{prefix}.{j}.0", f"{prefix}.{j}.1")
        j += 1
        if block.se is not None:
            names |= _se(f"blocks.{i}.se", f"{prefix}.{j}.fc1", f"{prefix}.{j}.fc2")
            j += 1
        names |= _conv_bn(f"blocks.{i}.project", f"{prefix}.{j}.0", f"{prefix}.{j}.1")
    last = len(backbone.blocks) + 1
    return names | _conv_bn("last", f"features.{last}.0", f"features.{last}.1")


def timm_names(backbone: MobileNetV3Large) -> dict[str, str]:
    """Our backbone key -> timm `mobilenetv3_large_100` key."""
    names = _conv_bn("stem", "conv_stem", "bn1")
    for i, block in enumerate(backbone.blocks):
        t = _timm_block_names(i)
        if block.expand is None:  # timm's DepthwiseSeparableConv
            names |= _conv_bn(f"blocks.{i}.depthwise", f"{t}.conv_dw", f"{t}.bn1")
            names |= _conv_bn(f"blocks.{i}.project", f"{t}.conv_pw", f"{t}.bn2")
        else:
            names |= _conv_bn(f"blocks.{i}.expand", f"{t}.conv_pw", f"{t}.bn1")
            names |= _conv_bn(f"blocks.{i}.depthwise", f"{t}.conv_dw", f"{t}.bn2")
            names |= _conv_bn(f"blocks.{i}.project", f"{t}.conv_pwl", f"{t}.bn3")
        if block.se is not None:
            names |= _se(f"blocks.{i}.se", f"{t}.se.conv_reduce", f"{t}.se.conv_expand")
    return names | _conv_bn("last", f"blocks.{len(TIMM_STAGES)}.0.conv", f"blocks.{len(TIMM_STAGES)}.0.bn1")


def xiaolai_names(backbone: SeedMobileNetV3) -> dict[str, str]:
    """Our seed backbone key -> xiaolai-sqlai `mobilenetv3.old.py` key: the same names, extras excluded."""
    return {k: k for k in backbone.state_dict() if not k.startswith("extra_convs.")}


@dataclass
class BackboneLoadReport:
    source_format: str
    loaded: list[str]
    missing: list[str]  # our keys the file does not provide (num_batches_tracked not counted)
    unused: list[str]  # file keys that map to nothing here (e.g. the classifier)

    def summary(self) -> str:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:4]) + (", ..." if len(keys) > 4 else "")

        text = f"{self.source_format} layout, {len(self.loaded)} tensors loaded"
        if self.missing:
            text += f"; {len(self.missing)} missing ({few(self.missing)})"
        if self.unused:
            text += f"; {len(self.unused)} unused ({few(self.unused)})"
        return text


def _detect_format(sd: dict[str, torch.Tensor], path: object) -> str:
    if any(k.startswith("features.") for k in sd):
        return "torchvision"
    if "conv_stem.weight" in sd:
        return "timm"
    if "bneck.0.conv1.weight" in sd:
        if any(".skip." in k for k in sd) or "bneck.3.se.se.4.weight" not in sd:
            raise InputError(
                f"{path}: this is xiaolai-sqlai/mobilenetv3's later layout (SE on the expansion, `skip` "
                f"shortcuts), another network than the seed's; use its mbv3_large.old.pth.tar"
            )
        return "xiaolai"
    raise InputError(
        f"{path}: not a MobileNetV3-Large state dict from torchvision (features.0.0.weight, ...), timm "
        f"(conv_stem.weight, ...) or xiaolai-sqlai/mobilenetv3 (bneck.0.conv1.weight, ...); first keys: "
        f"{', '.join(list(sd)[:3])}"
    )


def map_backbone_state(backbone: Backbone, sd: dict[str, torch.Tensor], path: object = "state dict") -> tuple[dict[str, torch.Tensor], BackboneLoadReport]:
    """Rename `sd` to our backbone's keys, checking shapes; returns (our partial state dict, report)."""
    if all(k.startswith("backbone.") for k in sd):
        sd = {k[len("backbone."):]: v for k, v in sd.items()}
    fmt = _detect_format(sd, path)
    if isinstance(backbone, SeedMobileNetV3) != (fmt == "xiaolai"):
        raise InputError(
            f"{path}: {fmt} weights do not fit this model: --arch seed takes xiaolai-sqlai/mobilenetv3 "
            f"(mbv3_large.old.pth.tar), --arch ssdlite takes torchvision or timm MobileNetV3-Large weights"
        )
    if isinstance(backbone, SeedMobileNetV3):
        names = xiaolai_names(backbone)
    else:
        names = torchvision_names(backbone) if fmt == "torchvision" else timm_names(backbone)
    ours = backbone.state_dict()
    mapped, missing, bad = {}, [], []
    for key, theirs in names.items():
        if theirs not in sd:
            if not key.endswith("num_batches_tracked"):
                missing.append(key)
            continue
        if sd[theirs].shape != ours[key].shape:
            bad.append(f"{theirs} {tuple(sd[theirs].shape)} vs {key} {tuple(ours[key].shape)}")
            continue
        mapped[key] = sd[theirs]
    if bad:
        raise InputError(
            f"{path}: {len(bad)} backbone tensors do not fit ({'; '.join(bad[:3])}{'; ...' if len(bad) > 3 else ''}); "
            f"the weights are for another width multiplier or architecture (this model: width {backbone_width(backbone)})"
        )
    if not mapped:
        raise InputError(f"{path}: no tensor matched the MobileNetV3-Large backbone")
    used = set(names.values())
    unused = sorted(k for k in sd if k not in used)
    return mapped, BackboneLoadReport(fmt, sorted(mapped), missing, unused)


def backbone_width(backbone: Backbone) -> str:
    stem = backbone.conv1 if isinstance(backbone, SeedMobileNetV3) else backbone.stem[0]
    return f"stem {stem.out_channels} channels, last {backbone.last_channels}"


def load_backbone_weights(backbone: Backbone, path: str | os.PathLike) -> BackboneLoadReport:
    """Load a torchvision, timm or xiaolai ImageNet checkpoint into `backbone` (strictly shape-checked)."""
    path = Path(path)
    try:
        sd = _state_dict_of(read_checkpoint(path))
    except CheckpointError as exc:
        raise InputError(f"--backbone-weights: {exc}") from exc
    mapped, report = map_backbone_state(backbone, sd, path)
    backbone.load_state_dict(mapped, strict=False)
    return report
