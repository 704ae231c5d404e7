"""The options that say which model a checkpoint holds when the file does not: shared by every command
that loads a checkpoint (convert, verify, eval), so they are spelled and checked one way."""

from __future__ import annotations

from collections.abc import Callable

import click

from ..config import PRESETS
from ..importers import IMPORTERS, source_names


def model_options(f: Callable) -> Callable:
    """Adds --from, --preset, --num-classes, --width-mult; the command receives them as `load_kw`."""
    options = [
        click.option("--from", "source", type=click.Choice(source_names()), default="auto", show_default=True,
                     help="Who wrote the checkpoint: auto (detected from its keys), ssd2ncnn, "
                          + ", ".join(f"{imp.name} ({imp.description})" for imp in IMPORTERS.values()) + "."),
        click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None, help="For a bare state dict: its preset."),
        click.option("--num-classes", type=click.IntRange(min=2), default=None,
                     help="For a bare state dict: number of classes + 1 for the background."),
        click.option("--width-mult", type=float, default=None, help="For a bare state dict: its width multiplier."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def load_kwargs(source: str, preset: str | None, num_classes: int | None, width_mult: float | None) -> dict:
    return {"source": source, "preset": preset, "num_classes": num_classes, "width_mult": width_mult}
