"""A seeded "spread" initialisation for parity tests and golden fixtures. A fresh random model gives
vanishing activations and near-uniform scores (every detection ~1/C, ties everywhere), so a parity check
on it cannot fail. Here BatchNorm statistics are calibrated on seeded noise (data-dependent init) and the
head biases are spread, so scores differ, labels vary and boxes move: the check has something to catch.
Not a trained model."""

from __future__ import annotations

import torch
from torch import nn

from .ssdlite import SSDDetector, head_conv


@torch.no_grad()
def spread_init(model: SSDDetector, seed: int = 0, batch: int = 4, calibration: torch.Tensor | None = None) -> SSDDetector:
    """`calibration`: a (N, 3, H, W) batch of normalised pictures to take the BatchNorm statistics from
    (default: `batch` images of seeded noise), so the statistics are those of real inputs."""
    gen = torch.Generator().manual_seed(seed)  # CPU generator: the same spread on every device
    weight = next(model.parameters())
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one pass sets running stats to the batch statistics
    size = model.cfg.input_size
    model.train()
    if calibration is None:
        calibration = torch.randn(batch, 3, size, size, generator=gen, device=gen.device)
    model(calibration.to(weight.device, weight.dtype))
    for bn in bns:
        bn.momentum = 0.01
        # a (nearly) constant channel would be scaled up by 1/sqrt(eps) and amplify float rounding
        # through the network; a floor on the variance keeps the model well conditioned
        assert bn.running_var is not None
        bn.running_var.clamp_(min=0.25)
    for head, bias_std in [(h, 0.5) for h in model.loc_heads] + [(h, 1.0) for h in model.conf_heads]:
        conv = head_conv(head)
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen, device=gen.device) * (2.0 / conv.in_channels**0.5))
        assert conv.bias is not None
        conv.bias.copy_(torch.randn(conv.bias.shape, generator=gen, device=gen.device) * bias_std)
    return model.eval()
