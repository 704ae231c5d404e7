"""pytorch-ssd's mb3-large-ssd-lite and mb3-small-ssd-lite (qfgaohao 7a839cb `vision/nn/mobilenetv3.py`,
`vision/ssd/mobilenetv3_ssd_lite.py`; not in dusty-nv's fork).

Backbone: xiaolai-sqlai's older MobileNetV3 `.features` = conv1 3x3 s2 (16) / bn1 / hswish, the blocks,
conv2 1x1 / bn2 / hswish. A block: 1x1 expand + BN + act, kxk depthwise + BN + act, 1x1 project + BN, then
squeeze-excitation on the projected channels (global average pool, 1x1 C -> C/4 without bias, BN, ReLU,
1x1 C/4 -> C without bias, BN, hard sigmoid relu6(x + 3) / 6, multiplied in), then with stride 1 the
input added back, through a 1x1 conv + BN when the channel count changes. The SE module is assigned
before conv1, so its keys (`se.se.1.weight`, ...) come first. This is the seed's block design (`seed`
arch) with the SE global pooling the seed lacks.
Levels: large after block 11 (`base_net[:15]`, 112 channels, stride 16) and after conv2 (960); small after
block 7 (`base_net[:11]`, 48) and after conv2 (576). Extras: blocks (3x3, in, mid, out, hswish, no SE,
stride 2) to 512, 256, 256, 64, so no residual. Heads: separable convs with BN and ReLU6 on levels 0-4,
a 1x1 conv on the last. Their `width_mult` only resizes the first head, which then no longer fits: 1.0."""

from __future__ import annotations

from torch import nn

from ..config import SSDConfig
from .pytorch_ssd import PytorchSSD, Tap, separable

RE, HS = "relu", "hswish"
# kernel, in, expand, out, activation, SE, stride (their MobileNetV3_Large / _Small bneck tables)
LARGE = ((3, 16, 16, 16, RE, False, 1), (3, 16, 64, 24, RE, False, 2), (3, 24, 72, 24, RE, False, 1),
         (5, 24, 72, 40, RE, True, 2), (5, 40, 120, 40, RE, True, 1), (5, 40, 120, 40, RE, True, 1),
         (3, 40, 240, 80, HS, False, 2), (3, 80, 200, 80, HS, False, 1), (3, 80, 184, 80, HS, False, 1),
         (3, 80, 184, 80, HS, False, 1), (3, 80, 480, 112, HS, True, 1), (3, 112, 672, 112, HS, True, 1),
         (5, 112, 672, 160, HS, True, 1), (5, 160, 672, 160, HS, True, 2), (5, 160, 960, 160, HS, True, 1))
SMALL = ((3, 16, 16, 16, RE, True, 2), (3, 16, 72, 24, RE, False, 2), (3, 24, 88, 24, RE, False, 1),
         (5, 24, 96, 40, HS, True, 2), (5, 40, 240, 40, HS, True, 1), (5, 40, 240, 40, HS, True, 1),
         (5, 40, 120, 48, HS, True, 1), (5, 48, 144, 48, HS, True, 1), (5, 48, 288, 96, HS, True, 2),
         (5, 96, 576, 96, HS, True, 1), (5, 96, 576, 96, HS, True, 1))
# blocks, last conv channels, taps (source layer indexes), first level channels
VARIANTS = {
    "mb3-large-ssd-lite": (LARGE, 960, (15, 21), 112),
    "mb3-small-ssd-lite": (SMALL, 576, (11, 17), 48),
}
EXTRAS = ((256, 512), (128, 256), (128, 256), (64, 64))  # expand, out


class HardSwish(nn.Module):
    """x * relu6(x + 3) / 6, written as theirs (pnnx and ncnn fuse it into HardSwish)."""

    def forward(self, x):
        return x * nn.functional.relu6(x + 3) / 6


class HardSigmoid(nn.Module):
    def forward(self, x):
        return nn.functional.relu6(x + 3) / 6


def _act(kind: str) -> nn.Module:
    return HardSwish() if kind == HS else nn.ReLU()


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, eps: float):
        super().__init__()
        mid = c // 4
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, mid, 1, bias=False), nn.BatchNorm2d(mid, eps=eps),
                                nn.ReLU(), nn.Conv2d(mid, c, 1, bias=False), nn.BatchNorm2d(c, eps=eps), HardSigmoid())

    def forward(self, x):
        return x * self.se(x)


class Block(nn.Module):
    def __init__(self, k: int, cin: int, mid: int, cout: int, act: str, se: bool, stride: int, eps: float):
        super().__init__()
        self.stride = stride
        self.se = SqueezeExcite(cout, eps) if se else None  # first: their key order
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid, eps=eps)
        self.nolinear1 = _act(act)
        self.conv2 = nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid, eps=eps)
        self.nolinear2 = _act(act)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout, eps=eps)
        project = stride == 1 and cin != cout
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout, eps=eps)) if project else nn.Sequential()

    def forward(self, x):
        out = self.nolinear1(self.bn1(self.conv1(x)))
        out = self.nolinear2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        return out + self.shortcut(x) if self.stride == 1 else out


def mobilenet_v3(blocks: tuple, last: int, eps: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16, eps=eps), HardSwish()]
    layers += [Block(k, cin, mid, cout, act, se, stride, eps) for k, cin, mid, cout, act, se, stride in blocks]
    layers += [nn.Conv2d(blocks[-1][3], last, 1, bias=False), nn.BatchNorm2d(last, eps=eps), HardSwish()]
    return nn.Sequential(*layers)


def build_mb3(cfg: SSDConfig) -> PytorchSSD:
    blocks, last, taps, first = VARIANTS[cfg.arch]
    eps = cfg.bn_eps
    extras, cin = [], last
    for mid, cout in EXTRAS:
        extras.append(Block(3, cin, mid, cout, HS, False, 2, eps))
        cin = cout
    channels = (first, last, 512, 256, 256, 64)

    def head(c: int, o: int) -> nn.Sequential:
        return separable(c, o, eps, nn.ReLU6)

    return PytorchSSD(cfg, mobilenet_v3(blocks, last, eps), tuple(Tap(t) for t in taps), nn.ModuleList(extras), channels, head)
