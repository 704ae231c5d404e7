"""SSDLite on MobileNetV3-Large, as the seed model: six levels (stride-16 expansion output, the last
960-channel map, then four extras of 1x1 -> 3x3 depthwise s2 -> 1x1), each with a loc and a conf head of
3x3 depthwise + 1x1. `forward` returns the raw per-level NCHW head maps: that is what is exported to ONNX;
flattening, priors and post-processing belong to the ncnn graph rewrite and to `postprocess.py`."""

from __future__ import annotations

import torch
from torch import nn

from ..config import SSDConfig
from .mobilenetv3 import MobileNetV3Large, conv_bn_act, make_divisible


def _extra(cin: int, mid: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        conv_bn_act(cin, mid, 1, act=nn.ReLU6),
        conv_bn_act(mid, mid, 3, 2, groups=mid, act=nn.ReLU6),
        conv_bn_act(mid, cout, 1, act=nn.ReLU6),
    )


def _head(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv_bn_act(cin, cin, 3, groups=cin, act=nn.ReLU6), nn.Conv2d(cin, cout, 1))


def init_conv_bn(module: nn.Module) -> None:
    """Kaiming (fan_out) convolutions with zero bias, BatchNorm at 1 / 0: the usual MobileNet start."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def head_conv(head: nn.Module) -> nn.Conv2d:
    """The final 1x1 convolution of a loc/conf head (the layer that sets its outputs)."""
    assert isinstance(head, nn.Sequential) and isinstance(head[-1], nn.Conv2d)
    return head[-1]


class SSDDetector(nn.Module):
    """What every network variant (`cfg.arch`, built by `model.factory`) provides: `features(x)` gives the
    per-level maps, `loc_heads`/`conf_heads` (ModuleLists whose heads end in a 1x1 conv, see `head_conv`)
    turn them into raw head maps."""

    loc_heads: nn.ModuleList
    conf_heads: nn.ModuleList

    def __init__(self, cfg: SSDConfig):
        super().__init__()
        self.cfg = cfg

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(N, 3, H, W) -> ([loc_k (N, A_k*4, H_k, W_k)], [conf_k (N, A_k*C, H_k, W_k)])."""
        feats = self.features(x)
        return [h(f) for h, f in zip(self.loc_heads, feats)], [h(f) for h, f in zip(self.conf_heads, feats)]

    @torch.no_grad()
    def feature_sizes(self, input_h: int, input_w: int) -> list[tuple[int, int]]:
        """Feature-map sizes measured with a dummy forward pass (never a table). The dummy input is made on
        the weights' device and dtype: a CPU tensor into a CUDA model was the first-epoch crash on GPUs."""
        was_training = self.training
        self.eval()
        weight = next(self.parameters())
        try:
            feats = self.features(torch.zeros(1, 3, input_h, input_w, device=weight.device, dtype=weight.dtype))
        finally:
            self.train(was_training)
        return [(int(f.shape[2]), int(f.shape[3])) for f in feats]


class SSDLite(SSDDetector):
    """The bundled network: MobileNetV3-Large as in the paper's Table 1, SSDLite extras and heads."""

    def __init__(self, cfg: SSDConfig):
        super().__init__(cfg)
        self.backbone = MobileNetV3Large(cfg.width_mult)
        channels: list[int] = [self.backbone.tap_channels, self.backbone.last_channels]
        extras = []
        for mid, out in cfg.extras:
            mid_c, out_c = make_divisible(mid * cfg.width_mult), make_divisible(out * cfg.width_mult)
            extras.append(_extra(channels[-1], mid_c, out_c))
            channels.append(out_c)
        self.extras = nn.ModuleList(extras)
        anchors = [cfg.priors_per_cell(k) for k in range(cfg.num_levels)]
        self.loc_heads = nn.ModuleList(_head(c, a * 4) for c, a in zip(channels, anchors))
        self.conf_heads = nn.ModuleList(_head(c, a * cfg.num_classes) for c, a in zip(channels, anchors))
        self.level_channels = tuple(channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_conv_bn(self)
        for head in list(self.loc_heads) + list(self.conf_heads):
            nn.init.normal_(head_conv(head).weight, std=0.01)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        tap, last = self.backbone(x)
        feats = [tap, last]
        for extra in self.extras:
            feats.append(extra(feats[-1]))
        return feats


def flatten_heads(locs: list[torch.Tensor], confs: list[torch.Tensor], num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-level maps -> (N, P, 4) and (N, P, C) logits, priors ordered cell-major then anchor, as ncnn's
    Permute(order 3) + Flatten + Concat produce them: (N, A*K, H, W) -> (N, H, W, A*K) -> (N, HWA, K)."""
    n = locs[0].shape[0]
    loc = torch.cat([t.permute(0, 2, 3, 1).reshape(n, -1, 4) for t in locs], dim=1)
    conf = torch.cat([t.permute(0, 2, 3, 1).reshape(n, -1, num_classes) for t in confs], dim=1)
    return loc, conf


class ExportWrapper(nn.Module):
    """The exported graph: raw per-level maps as outputs loc0..loc{K-1}, conf0..conf{K-1}."""

    def __init__(self, model: SSDDetector):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        locs, confs = self.model(x)
        return tuple(locs) + tuple(confs)
