"""The options that say which model a checkpoint holds when the file does not: shared by every command
that loads a checkpoint (convert, verify, eval, bench --checkpoint), so they are spelled and checked one way.

The --from names and their help come from `importer_names` (stdlib only), the table the importer registry
is loaded from, so that `convert --help` and `eval --help` need not import torch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from ..config import PRESETS
from ..importer_names import SOURCES, importer_help

IMPORTER_HELP = importer_help()


def model_options(f: Callable) -> Callable:
    """Adds --from, --preset, --num-classes, --width-mult, --labels, --resolution; the command receives them as
    `source`, `preset`, `num_classes`, `width_mult`, `labels`, `resolution` and passes them on with `load_kwargs`."""
    options = [
        click.option("--from", "source", type=click.Choice(SOURCES), default="auto", show_default=True,
                     help="Who wrote the checkpoint: auto (detected from its keys), ssd2ncnn, "
                          + ", ".join(f"{name} ({text})" for name, text in IMPORTER_HELP.items()) + "."),
        click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None, help="For a bare state dict: its preset."),
        click.option("--num-classes", type=click.IntRange(min=2), default=None,
                     help="For a bare state dict: number of classes + 1 for the background."),
        click.option("--width-mult", type=float, default=None, help="For a bare state dict: its width multiplier."),
        click.option("--labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="pytorch-ssd: the class-name file (default: labels.txt, voc-model-labels.txt or "
                          "open-images-model-labels.txt beside the checkpoint)."),
        click.option("--resolution", type=click.IntRange(min=32), default=None,
                     help="pytorch-ssd mb1-ssd trained with dusty-nv's --resolution: that size (default 300)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def load_kwargs(source: str, preset: str | None, num_classes: int | None, width_mult: float | None,
                labels: Path | None = None, resolution: int | None = None) -> dict:
    return {"source": source, "preset": preset, "num_classes": num_classes, "width_mult": width_mult,
            "labels": labels, "resolution": resolution}
