"""`ssd2ncnn convert`: checkpoint -> OUT/ (model.param, model.bin, model.onnx, model.json)."""

from __future__ import annotations

from pathlib import Path

import click

from .model_options import load_kwargs, model_options
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
def command(checkpoint, output, input_size, fp16, no_simplify, force, source, preset, num_classes, width_mult):
    """Convert CHECKPOINT to an ncnn SSD detector in OUTPUT."""
    from ..converter.convert import convert_checkpoint  # torch: not for --help


    def log(stage):
        click.echo(f"  {stage.name:<9} {stage.seconds:6.2f} s  {stage.output} ({_human(stage.size_bytes)})")

    click.echo(f"converting {checkpoint} -> {output}/")
    res = convert_checkpoint(
        checkpoint, output, **load_kwargs(source, preset, num_classes, width_mult),
        input_size=input_size, fp16=fp16, simplify=not no_simplify, force=force, log=log,
    )
    total = sum(s.seconds for s in res.stages)
    click.echo(f"done in {total:.2f} s: {res.layer_count} layers, {res.blob_count} blobs -> {output}/model.param")
