"""The SSD wrapper of qfgaohao/pytorch-ssd (and dusty-nv's fork, jetson-inference's `train_ssd.py`), with
its state-dict layout: `base_net.*` (the backbone as one Sequential), `extras.*`, `classification_headers.*`,
`regression_headers.*` (`vision/ssd/ssd.py`, qfgaohao 7a839cb). The nets themselves are built in
`pytorch_ssd_mb1.py`, `pytorch_ssd_mb2.py` and `pytorch_ssd_mb3.py` from reading that code.

Their forward (`SSD.forward`) runs `base_net` up to each source layer index and taps the output there; a
`GraphPath(i, name, n)` taps inside `base_net[i].<name>` after its first n layers (mb2-ssd-lite's first
level, before the stride-2 depthwise conv of block 14). Then the rest of `base_net`, then each extra with a
level after it. Here `forward` returns the raw per-level head maps (`is_test=False` before their
permute/view), which is what the converter exports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..config import SSDConfig
from .ssdlite import SSDDetector


@dataclass(frozen=True)
class Tap:
    """A level taken from `base_net`: the output of `base_net[:end]`, or with `inner=(name, n)` the
    output of the first n layers of `base_net[end].<name>` (their `GraphPath(end, name, n)`)."""

    end: int
    inner: tuple[str, int] | None = None


def separable(cin: int, cout: int, eps: float | None, act: type[nn.Module] = nn.ReLU6, stride: int = 1) -> nn.Sequential:
    """Their `SeperableConv2d`: 3x3 depthwise conv (with bias) [+ BatchNorm] + activation + 1x1 conv (with
    bias). mb1-ssd-lite has no BatchNorm (`eps=None`) and ReLU; mb2/mb3 have BatchNorm and ReLU6."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin)]
    if eps is not None:
        layers.append(nn.BatchNorm2d(cin, eps=eps))
    layers += [act(), nn.Conv2d(cin, cout, 1)]
    return nn.Sequential(*layers)


class PytorchSSD(SSDDetector):
    """`SSD(num_classes, base_net, source_layer_indexes, extras, classification_headers, regression_headers)`
    with the raw head maps as output."""

    def __init__(self, cfg: SSDConfig, base_net: nn.Sequential, taps: tuple[Tap, ...], extras: nn.ModuleList,
                 channels: tuple[int, ...], head: Callable[[int, int], nn.Module] | None = None):
        """`channels`: the input channels of the six levels' heads; levels 0-4 get `head(cin, cout)` and the
        last a 1x1 conv (the -lite nets), or all six a 3x3 conv when `head` is None (mb1-ssd)."""
        super().__init__(cfg)
        self.base_net = base_net
        self.taps = taps
        self.extras = extras
        self.classification_headers = self._heads(channels, cfg.num_classes, head)
        self.regression_headers = self._heads(channels, 4, head)
        # the heads under the names every network here has, not registered twice in the state dict
        self.__dict__["loc_heads"] = self.regression_headers
        self.__dict__["conf_heads"] = self.classification_headers

    def _heads(self, channels: tuple[int, ...], per_anchor: int, head: Callable[[int, int], nn.Module] | None) -> nn.ModuleList:
        outs = [self.cfg.priors_per_cell(k) * per_anchor for k in range(len(channels))]
        if head is None:
            return nn.ModuleList(nn.Conv2d(c, o, 3, padding=1) for c, o in zip(channels, outs))
        last = len(channels) - 1
        return nn.ModuleList(head(c, o) if k < last else nn.Conv2d(c, o, 1) for k, (c, o) in enumerate(zip(channels, outs)))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats: list[torch.Tensor] = []
        start = 0
        for tap in self.taps:
            for layer in self.base_net[start:tap.end]:  # type: ignore[attr-defined]
                x = layer(x)
            start = tap.end
            if tap.inner is not None:  # their GraphPath: run the named sub-Sequential in two parts
                name, n = tap.inner
                sub: nn.Sequential = getattr(self.base_net[tap.end], name)
                for layer in sub[:n]:  # type: ignore[attr-defined]
                    x = layer(x)
                feats.append(x)
                for layer in sub[n:]:  # type: ignore[attr-defined]
                    x = layer(x)
                start += 1
            else:
                feats.append(x)
        for layer in self.base_net[start:]:  # type: ignore[attr-defined]
            x = layer(x)
        for extra in self.extras:
            x = extra(x)
            feats.append(x)
        return feats
