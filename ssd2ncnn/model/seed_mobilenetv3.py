"""The seed's own network (`SSDConfig.arch == "seed"`): the MobileNetV3-SSDLite of ujsyehao/mobilenetv3-ssd,
whose mmdetection v1 checkpoint reached 71.7 VOC07 mAP and whose hand-edited ncnn graph is
`ssd2ncnn/assets/reference/mobilenetv3_ssdlite_voc.param`.

It is not the paper's MobileNetV3 (`mobilenetv3.py`); read from the seed's `pytorch_model/mobilenetv3.py`
(itself xiaolai-sqlai/mobilenetv3's `mobilenetv3.old.py`) and `mobilenetv3_ssd_head.py`, and checked
layer by layer against the deployed `.param` (101 convolutions, no Pooling layer):

- squeeze-and-excite sits after the projection conv, on the block's output channels: 1x1 conv (no bias)
  -> BN -> ReLU -> 1x1 conv (no bias) -> BN -> hard-sigmoid, channels // 4 in the middle. Its average
  pool is defined but `forward` never calls it, so the gate is computed per pixel (no squeeze);
- a stride-1 block whose input and output channels differ adds a 1x1 conv + BN projection shortcut;
  stride-2 blocks have no shortcut;
- every block has its expansion conv, the first one too (16 -> 16);
- block strides 2,1 | 2,1,1 | 2,1,1,1,1,1,1 | 2,1 by stage: the 5x5 112 -> 160 block has stride 1 and the
  5x5 160 -> 160 block stride 2 (the paper has them the other way round); the first SSD feature is the
  672-channel expansion output of that stride-2 block (the seed's `output_status` block), at stride 16;
- BatchNorm with PyTorch's defaults (eps 1e-5); ReLU in the first six blocks and the SE, hard-swish
  elsewhere in the backbone, ReLU6 in the extras and heads;
- extras (inside the seed's backbone as `extra_convs`): 1x1 conv+BN+ReLU6 -> 3x3 depthwise s2
  +BN+ReLU6 -> 1x1 conv+BN+ReLU6, from `SSDConfig.extras`;
- heads (`depthwise_heads=True`): 3x3 depthwise conv (with bias) + BN + ReLU6, then a 1x1 conv.

Module names follow the seed's, so its state dict loads by renaming the head prefixes only
(`importers/mmdet_seed.py`). Channels scale with `width_mult` (make_divisible, as `mobilenetv3.py`);
at 1.0 every count is the seed's."""

from __future__ import annotations

import torch
from torch import nn

from ..config import SSDConfig
from .mobilenetv3 import BlockSpec, make_divisible
from .ssdlite import SSDDetector, init_conv_bn

# The seed's `bneck` table: kernel, expansion, output channels, SE, hard-swish (else ReLU), stride.
SEED_BLOCKS: tuple[BlockSpec, ...] = (
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
    BlockSpec(5, 672, 160, True, True, 1),
    BlockSpec(5, 672, 160, True, True, 2),  # its expansion output is SSD level 0 (stride 16)
    BlockSpec(5, 960, 160, True, True, 1),
)
SEED_TAP_BLOCK = 13
SEED_STEM, SEED_LAST = 16, 960
SE_REDUCTION = 4
ConvBN = tuple[nn.Conv2d, nn.BatchNorm2d | None]  # a convolution and the BatchNorm folded into it


def _act(hswish: bool) -> nn.Module:
    return nn.Hardswish(inplace=True) if hswish else nn.ReLU(inplace=True)


def _conv_bn_relu6(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(inplace=True)
    )


class SeedSE(nn.Module):
    """x * hsigmoid(BN(conv(relu(BN(conv(x)))))), per pixel: the seed's SeModule never pools."""

    def __init__(self, channels: int):
        super().__init__()
        mid = max(1, channels // SE_REDUCTION)
        self.se = nn.Sequential(
            nn.Conv2d(channels, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.Hardsigmoid(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.se(x)


class SeedBlock(nn.Module):
    """expand (1x1) -> depthwise -> project (1x1) -> [SE] -> + shortcut (stride 1 only)."""

    def __init__(self, cin: int, spec: BlockSpec, width_mult: float):
        super().__init__()
        expand, cout = make_divisible(spec.expand * width_mult), make_divisible(spec.out * width_mult)
        self.stride = spec.stride
        self.conv1 = nn.Conv2d(cin, expand, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(expand)
        self.act1 = _act(spec.hswish)
        self.conv2 = nn.Conv2d(expand, expand, spec.kernel, spec.stride, spec.kernel // 2, groups=expand, bias=False)
        self.bn2 = nn.BatchNorm2d(expand)
        self.act2 = _act(spec.hswish)
        self.conv3 = nn.Conv2d(expand, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.se = SeedSE(cout) if spec.se else None
        # identity when the channels agree (an empty Sequential, as the seed: no state-dict keys)
        self.shortcut = nn.Sequential()
        if spec.stride == 1 and cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.expand_channels, self.out_channels = expand, cout

    def forward_expand(self, x: torch.Tensor) -> torch.Tensor:
        return self.act1(self.bn1(self.conv1(x)))

    def forward_rest(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv3(self.act2(self.bn2(self.conv2(e)))))
        if self.se is not None:
            out = self.se(out)
        return out + self.shortcut(x) if self.stride == 1 else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_rest(x, self.forward_expand(x))


class SeedMobileNetV3(nn.Module):
    """The seed's backbone with its SSD extras: (N, 3, H, W) -> 6 maps (strides 16, 32, 64, ...)."""

    def __init__(self, width_mult: float = 1.0, extras: tuple[tuple[int, int], ...] = ()):
        super().__init__()
        stem = make_divisible(SEED_STEM * width_mult)
        self.conv1 = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.hs1 = nn.Hardswish(inplace=True)
        blocks, cin = [], stem
        for spec in SEED_BLOCKS:
            blocks.append(SeedBlock(cin, spec, width_mult))
            cin = blocks[-1].out_channels
        self.bneck = nn.Sequential(*blocks)
        self.last_channels = make_divisible(SEED_LAST * width_mult)
        self.conv2 = nn.Conv2d(cin, self.last_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(self.last_channels)
        self.hs2 = nn.Hardswish(inplace=True)
        convs: list[nn.Module] = []
        channels = [blocks[SEED_TAP_BLOCK].expand_channels, self.last_channels]
        for mid, out in extras:
            mid_c, out_c = make_divisible(mid * width_mult), make_divisible(out * width_mult)
            convs += [_conv_bn_relu6(channels[-1], mid_c, 1), _conv_bn_relu6(mid_c, mid_c, 3, 2, groups=mid_c),
                      _conv_bn_relu6(mid_c, out_c, 1)]
            channels.append(out_c)
        self.extra_convs = nn.Sequential(*convs)
        self.level_channels = tuple(channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.hs1(self.bn1(self.conv1(x)))
        feats = []
        for i, block in enumerate(self.bneck):
            assert isinstance(block, SeedBlock)
            if i == SEED_TAP_BLOCK:
                e = block.forward_expand(x)
                feats.append(e)
                x = block.forward_rest(x, e)
            else:
                x = block(x)
        x = self.hs2(self.bn2(self.conv2(x)))
        feats.append(x)
        for i, conv in enumerate(self.extra_convs):
            x = conv(x)
            if i % 3 == 2:  # the output of each extra's last 1x1
                feats.append(x)
        return feats


def _head(cin: int, cout: int) -> nn.Sequential:
    # indices 0, 1, 3 as the seed's `reg_convs`/`cls_convs` Sequential (2 is the ReLU6)
    return nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin), nn.BatchNorm2d(cin), nn.ReLU6(inplace=True), nn.Conv2d(cin, cout, 1))


class SeedSSD(SSDDetector):
    """`backbone` (the seed's, extras included) + `loc_heads` (the seed's `bbox_head.reg_convs`) and
    `conf_heads` (`bbox_head.cls_convs`)."""

    def __init__(self, cfg: SSDConfig):
        super().__init__(cfg)
        self.backbone = SeedMobileNetV3(cfg.width_mult, cfg.extras)
        channels = self.backbone.level_channels
        if len(channels) != cfg.num_levels:
            raise ValueError(f"{len(channels)} feature maps for {cfg.num_levels} prior levels")  # validate() keeps 6
        anchors = [cfg.priors_per_cell(k) for k in range(cfg.num_levels)]
        self.loc_heads = nn.ModuleList(_head(c, a * 4) for c, a in zip(channels, anchors))
        self.conf_heads = nn.ModuleList(_head(c, a * cfg.num_classes) for c, a in zip(channels, anchors))
        self.level_channels = channels
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The seed's init: kaiming (fan_out) for the backbone, xavier-uniform for the heads, BN 1/0."""
        init_conv_bn(self)
        for head in list(self.loc_heads) + list(self.conf_heads):
            for m in head.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.xavier_uniform_(m.weight)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.backbone(x)

    def deploy_order(self) -> list[ConvBN]:
        """Every convolution with the BatchNorm that follows it, in the order of the seed's deployed graph:
        the backbone in forward order (per block: expand, depthwise, project, SE, shortcut), the extras,
        then per level the class head before the box head (the seed head's forward computes cls first)."""
        bb = self.backbone
        pairs: list[ConvBN] = [(bb.conv1, bb.bn1)]
        for block in bb.bneck:
            assert isinstance(block, SeedBlock)
            pairs += [(block.conv1, block.bn1), (block.conv2, block.bn2), (block.conv3, block.bn3)]
            if block.se is not None:
                pairs += _conv_bn_pairs(block.se.se)
            pairs += _conv_bn_pairs(block.shortcut)
        pairs.append((bb.conv2, bb.bn2))
        for extra in bb.extra_convs:
            pairs += _conv_bn_pairs(extra)
        for conf, loc in zip(self.conf_heads, self.loc_heads):
            pairs += _conv_bn_pairs(conf) + _conv_bn_pairs(loc)
        return pairs


def _conv_bn_pairs(seq: nn.Module) -> list[ConvBN]:
    """Each convolution of a Sequential with the BatchNorm right after it (None when there is none)."""
    mods = list(seq.children())
    nxt = mods[1:] + [None]
    return [(m, n if isinstance(n, nn.BatchNorm2d) else None) for m, n in zip(mods, nxt) if isinstance(m, nn.Conv2d)]
