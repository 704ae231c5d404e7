"""pytorch-ssd's mb2-ssd-lite with its width multiplier (qfgaohao 7a839cb `vision/nn/mobilenet_v2.py`,
`vision/ssd/mobilenet_v2_ssd_lite.py`; dusty-nv's are byte-identical).

Backbone `MobileNetV2(width_mult=w).features`, as their code builds it (not torchvision's):
- channels `int(c * w)` (no rounding to multiples of 8), the hidden width of a block `round(in * t)`
  (Python's round), the last conv 1280 channels for w <= 1 and `int(1280 * w)` above;
- a block with t = 1 is dw 3x3 + BN + ReLU6 + 1x1 + BN (keys conv.0/1/3/4), with t > 1 it starts with a
  1x1 + BN + ReLU6 (keys conv.0/1/3/4/6/7); residual when stride 1 and in == out;
- ReLU6 throughout (`onnx_compatible=False`, what `train_ssd.py` builds; nothing in a checkpoint says
  otherwise).
Levels: inside block 14 (`GraphPath(14, 'conv', 3)`: after its expansion 1x1 + BN + ReLU6, round(576 w)
channels at stride 16), the backbone's end (1280), then extras `InvertedResidual(1280, 512, s2, t=0.2)`,
(512, 256, 0.25), (256, 256, 0.5), (256, 64, 0.25), which the width does not scale. Heads: separable convs
with BatchNorm and ReLU6 on levels 0-4, a 1x1 conv on the last."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from ..config import SSDConfig
from .pytorch_ssd import PytorchSSD, Tap, separable

SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
EXTRAS = ((1280, 512, 0.2), (512, 256, 0.25), (256, 256, 0.5), (256, 64, 0.25))  # in, out, expand ratio
FIRST_LEVEL = (14, "conv", 3)  # their GraphPath


def _conv_bn(cin: int, cout: int, k: int, stride: int, eps: float, groups: int = 1, act: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=eps)]
    return layers + [nn.ReLU6()] if act else layers


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: float, eps: float):
        super().__init__()
        hidden = round(cin * expand)
        self.use_res_connect = stride == 1 and cin == cout
        layers = [] if expand == 1 else _conv_bn(cin, hidden, 1, 1, eps)
        layers += _conv_bn(hidden, hidden, 3, stride, eps, groups=hidden) + _conv_bn(hidden, cout, 1, 1, eps, act=False)
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


def mobilenet_v2(width: float, eps: float) -> nn.Sequential:
    cin = int(32 * width)
    layers: list[nn.Module] = [nn.Sequential(*_conv_bn(3, cin, 3, 2, eps))]
    for t, c, n, s in SETTINGS:
        cout = int(c * width)
        for i in range(n):
            layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t, eps))
            cin = cout
    last = int(1280 * width) if width > 1.0 else 1280
    layers.append(nn.Sequential(*_conv_bn(cin, last, 1, 1, eps)))
    return nn.Sequential(*layers)


def tap_channels(width: float) -> int:
    """Channels of the first level: block 14's expansion of int(96 w) inputs, which their heads size as
    round(576 w); the two agree only for some widths (1.0, 0.75, 0.5, 0.25), the only ones that run."""
    return round(int(96 * width) * 6)


def build_mb2(cfg: SSDConfig) -> PytorchSSD:
    w, eps = cfg.width_mult, cfg.bn_eps
    extras = nn.ModuleList(InvertedResidual(cin, cout, 2, t, eps) for cin, cout, t in EXTRAS)
    channels = (round(576 * w), 1280, 512, 256, 256, 64)
    head = partial(separable, eps=eps, act=nn.ReLU6)
    index, name, n = FIRST_LEVEL
    return PytorchSSD(cfg, mobilenet_v2(w, eps), (Tap(index, (name, n)), Tap(19)), extras, channels, head)
