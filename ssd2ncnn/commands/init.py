"""`ssd2ncnn init`: write an untrained checkpoint for a preset."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from ..checkpoint import save_checkpoint
from ..config import ARCHES, PRESETS, get_preset
from ..model.factory import build_model
from ..model.spread import spread_init


@click.command("init")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), required=True, help="Model preset.")
@click.option("--arch", type=click.Choice(ARCHES), default=None, help="Network (default: the preset's, ssdlite).")
@click.option("--num-classes", type=click.IntRange(min=2), default=None, help="Classes including background.")
@click.option("--width-mult", type=float, default=None, help="Backbone/extras width multiplier (default 1.0).")
@click.option("--input-size", type=click.IntRange(min=32), default=None, help="Nominal input size (scales anchors).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the random initialisation.")
@click.option("--spread", is_flag=True, help="Calibrate BN on noise and spread head biases (parity fixtures; not trained).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def command(preset, arch, num_classes, width_mult, input_size, seed, spread, output):
    """Write an untrained checkpoint (config saved inside) to OUTPUT."""
    cfg = get_preset(preset, num_classes=num_classes, width_mult=width_mult, input_size=input_size, arch=arch)
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    if spread:
        spread_init(model, seed)
    save_checkpoint(output, model, meta={"trained": False, "seed": seed, "spread": spread})
    n = sum(p.numel() for p in model.parameters())
    click.echo(f"wrote {output}: {cfg.preset} ({cfg.arch}), {cfg.num_classes} classes, width {cfg.width_mult}, {n / 1e6:.2f}M parameters")
