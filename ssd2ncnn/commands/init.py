"""`ssd2ncnn init`: write an untrained checkpoint for a preset."""

from __future__ import annotations

import click
import torch

from ..checkpoint import save_checkpoint
from ..config import PRESET_ARCHES, PRESETS, get_preset
from ..model.factory import build_model
from ..model.spread_init import spread_init
from .output_option import output_option


@click.command("init")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), required=True, help="Model preset.")
@click.option("--arch", type=click.Choice(PRESET_ARCHES), default=None,
              help="Network: ssdlite (ours, the default) or seed (ujsyehao/mobilenetv3-ssd's). Torchvision's is imported, not initialised here.")
@click.option("--num-classes", type=click.IntRange(min=2), default=None,
              help="Number of classes + 1 for the background (default: the preset's, 21 for VOC).")
@click.option("--width-mult", type=float, default=None, help="Backbone/extras width multiplier (default 1.0).")
@click.option("--input-size", type=click.IntRange(min=32), default=None, help="Nominal input size (scales anchors).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the random initialisation.")
@click.option("--spread", is_flag=True, help="Calibrate BN on noise and spread head biases (parity fixtures; not trained).")
@output_option("Checkpoint file to write (.pth).", dir_okay=False)
def command(preset, arch, num_classes, width_mult, input_size, seed, spread, output):
    """Write an untrained checkpoint (config saved inside) to OUTPUT.

    The weights are random: the model converts and verifies, but detects nothing until trained
    (`ssd2ncnn train`)."""
    cfg = get_preset(preset, num_classes=num_classes, width_mult=width_mult, input_size=input_size, arch=arch)
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    if spread:
        spread_init(model, seed)
    save_checkpoint(output, model, meta={"trained": False, "seed": seed, "spread": spread})
    n = sum(p.numel() for p in model.parameters())
    click.echo(f"wrote {output}: {cfg.preset} ({cfg.arch}), {cfg.num_classes - 1} classes + background, width {cfg.width_mult}, "
               f"{n / 1e6:.2f}M parameters; untrained: it detects nothing until trained (ssd2ncnn train)")
