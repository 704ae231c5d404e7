"""`ssd2ncnn convert`: checkpoint -> OUT/ (model.param, model.bin, model.onnx, model.json)."""

from __future__ import annotations

from pathlib import Path

import click

from ..modelfolder import PARAM
from ..ncnn_format import read_param
from .model_options import model_options
from .output_option import output_option


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@click.command("convert")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@output_option("Output folder.", file_okay=False)
@click.option("--input-size", type=click.IntRange(min=32), default=None, help="Export size (default: the config's).")
@click.option("--fp16/--fp32", default=False, show_default=True, help="Store weights as fp16 (half the .bin) or fp32.")
@click.option("--no-simplify", is_flag=True, help="Skip onnx-simplifier (use when it fails on your model).")
@click.option("--force", is_flag=True, help="Replace a non-empty output folder.")
@model_options
def command(checkpoint, output, input_size, fp16, no_simplify, force, source, preset, num_classes, width_mult, labels, resolution):
    """Convert CHECKPOINT to an ncnn SSD detector in OUTPUT."""
    from .. import api  # torch, on use: not for --help

    def log(stage):
        click.echo(f"  {stage.name:<9} {stage.seconds:6.2f} s  {stage.output} ({_human(stage.size_bytes)})")

    click.echo(f"converting {checkpoint} -> {output}/")
    stages = []
    folder = api.convert(checkpoint, output, source_format=source, input_size=input_size, fp16=fp16, force=force,
                         simplify=not no_simplify, preset=preset, num_classes=num_classes, width_mult=width_mult,
                         labels=labels, resolution=resolution,
                         log=lambda stage: (stages.append(stage), log(stage)))
    graph = read_param(folder.path / PARAM)
    total = sum(s.seconds for s in stages)
    click.echo(f"done in {total:.2f} s: {len(graph.layers)} layers, {len(graph.blobs())} blobs -> {output}/model.param")
