"""mmdetection's SSDLite MobileNetV2 as an `SSDDetector`, with mmdetection's own state-dict key names, so a
checkpoint's `state_dict` loads unchanged (after the importer's class-channel permutation).

The layout, read from open-mmlab/mmdetection 3.3 (`mmdet/models/backbones/mobilenet_v2.py`,
`layers/inverted_residual.py`, `necks/ssd_neck.py`, `dense_heads/ssd_head.py`) and mmcv's `ConvModule` /
`DepthwiseSeparableConvModule` (children `conv`, `bn`, `activate`; a conv followed by a norm has no bias),
with the values of `configs/ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py`:

- `backbone`: `conv1` 3x3 s2 -> make_divisible(32w, 8); `layer1..layer7` of `InvertedResidual`s with
  (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1), channels
  make_divisible(c * w, 8), hidden round(in * t); `expand_conv` (absent when t = 1), `depthwise_conv`,
  `linear_conv` (no activation); identity shortcut when stride 1 and in == out; `conv2` 1x1 -> 1280
  (int(1280 w) when w > 1). ReLU6. `out_indices=(4, 7)`: the forward keeps `layers[i]` for i in (4, 7) of
  [layer1, ..., layer7, conv2], i.e. the output of layer5 (96 ch, stride 16) and of conv2 (stride 32).
- `neck.extra_layers.k`: `Sequential(ConvModule 1x1 -> out/2, DepthwiseSeparableConvModule(out/2 -> out,
  3x3 s2 p1))`, out 512, 256, 256, 128, ReLU6 after every conv.
- `bbox_head.cls_convs.k` / `reg_convs.k`: `Sequential(ConvModule 3x3 depthwise + BN + ReLU6, Conv2d 1x1
  with bias)`, 6 anchors x (classes + 1) and 6 x 4 outputs.

BatchNorm eps is the config's 1e-3 everywhere (`cfg.bn_eps`): it is not in the state dict."""

from __future__ import annotations

import torch
from torch import nn

from ..config import SSDConfig
from .mobilenetv3 import make_divisible
from .ssdlite import SSDDetector, init_conv_bn

# mmdet MobileNetV2.arch_settings: expand ratio, channels, blocks, stride of the first block
ARCH_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
OUT_INDICES = (4, 7)  # of [layer1..layer7, conv2]: layer5 and conv2
LAST_CHANNELS = 1280
STEM_CHANNELS = 32


class ConvModule(nn.Module):
    """mmcv's ConvModule as these configs build it: conv (no bias) -> BatchNorm -> ReLU6 (or no activation)."""

    def __init__(self, cin: int, cout: int, kernel: int, eps: float, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=eps)
        self.activate = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class DepthwiseSeparable(nn.Module):
    """mmcv's DepthwiseSeparableConvModule: depthwise ConvModule, then pointwise ConvModule, both ReLU6."""

    def __init__(self, cin: int, cout: int, eps: float, stride: int):
        super().__init__()
        self.depthwise_conv = ConvModule(cin, cin, 3, eps, stride, groups=cin)
        self.pointwise_conv = ConvModule(cin, cout, 1, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


class InvertedResidual(nn.Module):
    """mmdet's InvertedResidual (no SE here): [expand_conv], depthwise_conv, linear_conv, identity shortcut."""

    def __init__(self, cin: int, cout: int, hidden: int, stride: int, eps: float):
        super().__init__()
        if hidden != cin:  # with_expand_conv = expand_ratio != 1, and then hidden == round(cin * t) != cin
            self.expand_conv = ConvModule(cin, hidden, 1, eps)
        self.depthwise_conv = ConvModule(hidden, hidden, 3, eps, stride, groups=hidden)
        self.linear_conv = ConvModule(hidden, cout, 1, eps, act=False)
        self.shortcut = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand_conv(x) if hasattr(self, "expand_conv") else x
        y = self.linear_conv(self.depthwise_conv(y))
        return x + y if self.shortcut else y


class MobileNetV2(nn.Module):
    """mmdet's MobileNetV2 backbone with out_indices (4, 7): returns [layer5 output, conv2 output]."""

    def __init__(self, width_mult: float, eps: float):
        super().__init__()
        cin = make_divisible(STEM_CHANNELS * width_mult)
        self.conv1 = ConvModule(3, cin, 3, eps, stride=2)
        self.stage_names = []
        for i, (t, c, n, s) in enumerate(ARCH_SETTINGS):
            cout = make_divisible(c * width_mult)
            blocks = []
            for b in range(n):
                blocks.append(InvertedResidual(cin, cout, int(round(cin * t)), s if b == 0 else 1, eps))
                cin = cout
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.stage_names.append(f"layer{i + 1}")
        self.last_channels = int(LAST_CHANNELS * width_mult) if width_mult > 1.0 else LAST_CHANNELS
        self.conv2 = ConvModule(cin, self.last_channels, 1, eps)
        self.stage_names.append("conv2")
        self.tap_channels = make_divisible(ARCH_SETTINGS[OUT_INDICES[0]][1] * width_mult)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.conv1(x)
        outs = []
        for i, name in enumerate(self.stage_names):
            x = getattr(self, name)(x)
            if i in OUT_INDICES:
                outs.append(x)
        return outs


class SSDNeck(nn.Module):
    """mmdet's SSDNeck with use_depthwise=True and no L2 norm: the inputs pass through, extras are appended."""

    def __init__(self, cin: int, extras: tuple[tuple[int, int], ...], eps: float):
        super().__init__()
        layers, self.out_channels = [], []
        for _mid, out in extras:  # mmdet takes mid = out // 2; the config's (mid, out) pairs say the same
            layers.append(nn.Sequential(ConvModule(cin, out // 2, 1, eps), DepthwiseSeparable(out // 2, out, eps, stride=2)))
            self.out_channels.append(out)
            cin = out
        self.extra_layers = nn.ModuleList(layers)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        outs = list(feats)
        for layer in self.extra_layers:
            outs.append(layer(outs[-1]))
        return outs


class _SSDHead(nn.Module):
    """Only the `cls_convs` / `reg_convs` names matter: they are the state-dict keys."""

    def __init__(self, cls_convs: nn.ModuleList, reg_convs: nn.ModuleList):
        super().__init__()
        self.cls_convs = cls_convs
        self.reg_convs = reg_convs


def _head(cin: int, cout: int, eps: float) -> nn.Sequential:
    return nn.Sequential(ConvModule(cin, cin, 3, eps, groups=cin), nn.Conv2d(cin, cout, 1))


class MmdetSSDLite(SSDDetector):
    """`cfg.arch` "mmdet_ssdlite". Its conf heads hold the classes background first (the importer permutes
    mmdet's background-last channels), like every network here."""

    def __init__(self, cfg: SSDConfig):
        super().__init__(cfg)
        eps = cfg.bn_eps
        self.backbone = MobileNetV2(cfg.width_mult, eps)
        self.neck = SSDNeck(self.backbone.last_channels, cfg.extras, eps)
        channels = (self.backbone.tap_channels, self.backbone.last_channels, *self.neck.out_channels)
        anchors = [cfg.priors_per_cell(k) for k in range(cfg.num_levels)]
        conf = nn.ModuleList(_head(c, a * cfg.num_classes, eps) for c, a in zip(channels, anchors))
        loc = nn.ModuleList(_head(c, a * 4, eps) for c, a in zip(channels, anchors))
        self.bbox_head = _SSDHead(conf, loc)
        # The same ModuleLists under the SSDDetector names, kept out of the module tree (`__dict__`, not
        # `_modules`) so that state_dict() holds only mmdetection's keys.
        self.__dict__["loc_heads"] = loc
        self.__dict__["conf_heads"] = conf
        self.level_channels = channels
        init_conv_bn(self)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.neck(self.backbone(x))
