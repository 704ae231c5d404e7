"""pytorch-ssd's mb1-ssd and mb1-ssd-lite (qfgaohao 7a839cb `vision/nn/mobilenet.py`,
`vision/ssd/mobilenetv1_ssd.py`, `vision/ssd/mobilenetv1_ssd_lite.py`; dusty-nv's are byte-identical).

Backbone `MobileNetV1(1001).model`: a 3x3 s2 conv to 32 channels, then 13 depthwise-separable blocks
(3x3 depthwise + BN + ReLU, 1x1 + BN + ReLU), all convs without bias, ReLU (not ReLU6). Levels: the output
of block 11 (`base_net[:12]`, 512 channels, stride 16) and of the backbone (1024, stride 32), then four
extras of 1x1 conv + ReLU and a stride-2 3x3: a plain conv + ReLU (mb1-ssd) or their `SeperableConv2d`
without BatchNorm (mb1-ssd-lite). Heads: 3x3 convs (mb1-ssd); separable convs and a last 1x1 (lite).
Every extra and head conv has a bias. 19, 10, 5, 3, 2, 1 cells at 300."""

from __future__ import annotations

from functools import partial

from torch import nn

from ..config import SSDConfig
from .pytorch_ssd import PytorchSSD, Tap, separable

# (output channels, stride) of the 13 depthwise-separable blocks after the 32-channel stem
BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
          (512, 1), (1024, 2), (1024, 1))
EXTRAS = ((1024, 256, 512), (512, 128, 256), (256, 128, 256), (256, 128, 256))  # in, 1x1, out
LEVEL_CHANNELS = (512, 1024, 512, 256, 256, 256)


def _conv_bn(cin: int, cout: int, k: int, stride: int, eps: float, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=eps), nn.ReLU()]


def mobilenet_v1(eps: float) -> nn.Sequential:
    layers = [nn.Sequential(*_conv_bn(3, 32, 3, 2, eps))]
    cin = 32
    for cout, stride in BLOCKS:
        layers.append(nn.Sequential(*_conv_bn(cin, cin, 3, stride, eps, groups=cin), *_conv_bn(cin, cout, 1, 1, eps)))
        cin = cout
    return nn.Sequential(*layers)


def _extra(cin: int, mid: int, cout: int, lite: bool) -> nn.Sequential:
    down = separable(mid, cout, None, nn.ReLU, stride=2) if lite else nn.Sequential(nn.Conv2d(mid, cout, 3, 2, 1), nn.ReLU())
    # the plain extra is one flat Sequential (keys extras.k.0 and extras.k.2), the lite one nests (extras.k.2.*)
    tail = [down] if lite else list(down)
    return nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU(), *tail)


def build_mb1(cfg: SSDConfig) -> PytorchSSD:
    lite = cfg.arch == "mb1-ssd-lite"
    extras = nn.ModuleList(_extra(*e, lite=lite) for e in EXTRAS)
    head = partial(separable, eps=None, act=nn.ReLU) if lite else None
    return PytorchSSD(cfg, mobilenet_v1(cfg.bn_eps), (Tap(12), Tap(14)), extras, LEVEL_CHANNELS, head)
