"""MobileNetV3-Large backbone (Howard et al. 2019, "Searching for MobileNetV3", Table 1), with
squeeze-and-excite and hard-swish. It returns the two maps the SSDLite head uses: the expansion output of
the first stride-16 -> 32 block (672 channels at width 1.0) and the final 960-channel map."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of `divisor`, never dropping more than 10% (the paper's rule)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@dataclass(frozen=True)
class BlockSpec:
    kernel: int
    expand: int
    out: int
    se: bool
    hswish: bool
    stride: int


# Table 1 of the paper: kernel, expansion size, output channels, SE, non-linearity (HS = hard-swish), stride.
LARGE: tuple[BlockSpec, ...] = (
    BlockSpec(3, 16, 16, False, False, 1),
    BlockSpec(3, 64, 24, False, False, 2),
    BlockSpec(3, 72, 24, False, False, 1),
    BlockSpec(5, 72, 40, True, False, 2),
    BlockSpec(5, 120, 40, True, False, 1),
    BlockSpec(5, 120, 40, True, False, 1),
    BlockSpec(3, 240, 80, False, True, 2),
    BlockSpec(3, 200, 80, False, True, 1),
    BlockSpec(3, 184, 80, False, True, 1),
    BlockSpec(3, 184, 80, False, True, 1),
    BlockSpec(3, 480, 112, True, True, 1),
    BlockSpec(3, 672, 112, True, True, 1),
    BlockSpec(5, 672, 160, True, True, 2),  # its expansion output is SSDLite level 1 (stride 16)
    BlockSpec(5, 960, 160, True, True, 1),
    BlockSpec(5, 960, 160, True, True, 1),
)
TAP_BLOCK = 12  # index in LARGE of the block whose expansion output feeds the first head
LAST_CHANNELS = 960


def conv_bn_act(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
    ]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        squeeze = make_divisible(channels / 4)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.relu = nn.ReLU(inplace=True)
        self.gate = nn.Hardsigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.mean(x, dim=(2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.relu(self.fc1(s))))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, spec: BlockSpec, width_mult: float):
        super().__init__()
        expand = make_divisible(spec.expand * width_mult)
        cout = make_divisible(spec.out * width_mult)
        act = nn.Hardswish if spec.hswish else nn.ReLU
        self.use_res = spec.stride == 1 and cin == cout
        self.expand = conv_bn_act(cin, expand, 1, act=act) if expand != cin else None
        self.depthwise = conv_bn_act(expand, expand, spec.kernel, spec.stride, groups=expand, act=act)
        self.se = SqueezeExcite(expand) if spec.se else None
        self.project = conv_bn_act(expand, cout, 1, act=None)
        self.out_channels = cout
        self.expand_channels = expand

    def forward_expand(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(x) if self.expand is not None else x

    def forward_rest(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(e)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + y if self.use_res else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_rest(x, self.forward_expand(x))


class MobileNetV3Large(nn.Module):
    def __init__(self, width_mult: float = 1.0):
        super().__init__()
        stem = make_divisible(16 * width_mult)
        self.stem = conv_bn_act(3, stem, 3, 2, act=nn.Hardswish)
        blocks: list[InvertedResidual] = []
        cin = stem
        for spec in LARGE:
            block = InvertedResidual(cin, spec, width_mult)
            blocks.append(block)
            cin = block.out_channels
        self.blocks = nn.ModuleList(blocks)
        self.tap_channels: int = blocks[TAP_BLOCK].expand_channels
        self.last_channels: int = make_divisible(LAST_CHANNELS * width_mult)
        self.last = conv_bn_act(cin, self.last_channels, 1, act=nn.Hardswish)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) -> (tap (N, 672w, H/16, W/16), last (N, 960w, H/32, W/32))."""
        x = self.stem(x)
        tap = x
        for i, block in enumerate(self.blocks):
            assert isinstance(block, InvertedResidual)
            if i == TAP_BLOCK:
                tap = block.forward_expand(x)
                x = block.forward_rest(x, tap)
            else:
                x = block(x)
        return tap, self.last(x)
