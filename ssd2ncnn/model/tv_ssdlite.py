"""torchvision's `ssdlite320_mobilenet_v3_large` as an `SSDDetector`, with torchvision's own state-dict key
names, so a checkpoint saved by torchvision (or by its detection reference `train.py`) loads unchanged.

The layout, read from pytorch/vision (torchvision 0.29, `torchvision/models/detection/ssdlite.py`,
`torchvision/models/mobilenetv3.py`):

- `backbone.features.0`: MobileNetV3-Large `features[0:13]` (stem + 12 inverted residuals), then the
  1x1 expansion of the first stride-32 block (`features[13].block[0]`, 672 channels, hard-swish): the
  "C4 expansion" of the paper's section 6.3. Output 0, stride 16.
- `backbone.features.1`: the rest of that block (`block[1:]`, which keeps torchvision's child indices
  1, 2, 3), `features[14]`, `features[15]` and the last 1x1 conv. Output 1, stride 32.
  The *reduced tail* (`reduced_tail=True`, MobileNetV3 paper Table 6) halves the last stage: 80 instead
  of 160 block outputs, 480 instead of 960 expansions and last conv. torchvision enables it whenever no
  ImageNet backbone weights are given, so the COCO weights have it; a fine-tune that started from
  `weights_backbone=IMAGENET1K_V1` has the full tail.
- `backbone.extra.{0..3}`: 1x1 (out/2) -> 3x3 depthwise stride 2 -> 1x1 (out), BN + ReLU6, out
  512/256/256/128 (`_extra_block`); never scaled by a width multiplier.
- `head.regression_head.module_list.k` / `head.classification_head.module_list.k`: 3x3 depthwise + BN
  + ReLU6, then a 1x1 conv with bias (`_prediction_block`), 6 anchors per cell.

BatchNorm eps is 0.001 everywhere (`partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)`), as in
`mobilenetv3.conv_bn_act`. The head maps come out in the same (N, A*K, H, W) layout torchvision's
`SSDScoringHead` permutes to (N, HWA, K), which is what the graph rewrite's Permute/Flatten produce."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..config import SSDConfig
from ..errors import InputError
from .mobilenetv3 import LARGE, LAST_CHANNELS, TAP_BLOCK, BlockSpec, SqueezeExcite, conv_bn_act
from .ssdlite import SSDDetector, _extra, _head

# torchvision's `_mobilenet_v3_conf`: with reduced_tail, blocks from the C4 block on have half the
# outputs, the blocks after it half the expansion, and the last conv half the channels.
REDUCED_TAIL_DIVIDER = 2
ARCH_REDUCED, ARCH_FULL = "torchvision", "torchvision_full_tail"


def _block_layers(cin: int, spec: BlockSpec, expand: int, cout: int) -> list[nn.Module]:
    """torchvision's `InvertedResidual.block` children: [expand], depthwise, [SE], project."""
    act = nn.Hardswish if spec.hswish else nn.ReLU
    layers: list[nn.Module] = []
    if expand != cin:
        layers.append(conv_bn_act(cin, expand, 1, act=act))
    layers.append(conv_bn_act(expand, expand, spec.kernel, spec.stride, groups=expand, act=act))
    if spec.se:
        layers.append(SqueezeExcite(expand))  # fc1/fc2 names and squeeze = make_divisible(c / 4) as torchvision's
    layers.append(conv_bn_act(expand, cout, 1, act=None))
    return layers


class _InvertedResidual(nn.Module):
    """torchvision's `InvertedResidual`: its children live in `block`, the residual is added when shapes allow."""

    def __init__(self, cin: int, spec: BlockSpec, expand: int, cout: int):
        super().__init__()
        self.block = nn.Sequential(*_block_layers(cin, spec, expand, cout))
        self.use_res_connect = spec.stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_res_connect else y


class _Extractor(nn.Module):
    """`SSDLiteFeatureExtractorMobileNet`: `features` (two backbone halves) and `extra`."""

    def __init__(self, reduced_tail: bool, extras: tuple[tuple[int, int], ...]):
        super().__init__()
        div = REDUCED_TAIL_DIVIDER if reduced_tail else 1
        specs = [
            BlockSpec(s.kernel, s.expand // div if i > TAP_BLOCK else s.expand, s.out // div if i >= TAP_BLOCK else s.out, s.se, s.hswish, s.stride)
            for i, s in enumerate(LARGE)
        ]
        first: list[nn.Module] = [conv_bn_act(3, 16, 3, 2, act=nn.Hardswish)]
        cin = 16
        for spec in specs[:TAP_BLOCK]:
            first.append(_InvertedResidual(cin, spec, spec.expand, spec.out))
            cin = spec.out
        c4 = specs[TAP_BLOCK]
        c4_layers = _block_layers(cin, c4, c4.expand, c4.out)
        first.append(c4_layers[0])  # the C4 expansion: output 0
        rest: list[nn.Module] = [nn.Sequential(OrderedDict((str(i), m) for i, m in enumerate(c4_layers) if i > 0))]
        cin = c4.out
        for spec in specs[TAP_BLOCK + 1:]:
            rest.append(_InvertedResidual(cin, spec, spec.expand, spec.out))
            cin = spec.out
        last = LAST_CHANNELS // div
        rest.append(conv_bn_act(cin, last, 1, act=nn.Hardswish))
        self.features = nn.Sequential(nn.Sequential(*first), nn.Sequential(*rest))
        channels = [c4.expand, last]
        blocks = []
        for mid, out in extras:
            blocks.append(_extra(channels[-1], mid, out))
            channels.append(out)
        self.extra = nn.ModuleList(blocks)
        self.out_channels = tuple(channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for part in self.features:
            x = part(x)
            feats.append(x)
        for block in self.extra:
            x = block(x)
            feats.append(x)
        return feats


class _ScoringHead(nn.Module):
    """torchvision's `SSDScoringHead`: only the `module_list` name matters here."""

    def __init__(self, module_list: nn.ModuleList):
        super().__init__()
        self.module_list = module_list


class _Head(nn.Module):
    def __init__(self, regression: nn.ModuleList, classification: nn.ModuleList):
        super().__init__()
        self.regression_head = _ScoringHead(regression)
        self.classification_head = _ScoringHead(classification)


class TorchvisionSSDLite(SSDDetector):
    """`cfg.arch` "torchvision" (reduced tail, as the COCO weights) or "torchvision_full_tail"."""

    def __init__(self, cfg: SSDConfig):
        super().__init__(cfg)
        if cfg.width_mult != 1.0:
            raise InputError(f"torchvision's ssdlite320_mobilenet_v3_large has no width multiplier; got width {cfg.width_mult}, use 1.0")
        self.backbone = _Extractor(cfg.arch == ARCH_REDUCED, cfg.extras)
        channels = self.backbone.out_channels
        anchors = [cfg.priors_per_cell(k) for k in range(cfg.num_levels)]
        loc = nn.ModuleList(_head(c, a * 4) for c, a in zip(channels, anchors))
        conf = nn.ModuleList(_head(c, a * cfg.num_classes) for c, a in zip(channels, anchors))
        self.head = _Head(loc, conf)
        # The same ModuleLists under the SSDDetector names, kept out of the module tree (`__dict__`, not
        # `_modules`) so that state_dict() holds only torchvision's keys.
        self.__dict__["loc_heads"] = loc
        self.__dict__["conf_heads"] = conf
        self.level_channels = channels

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone(x)
