"""`ssd2ncnn synth`: write a synthetic shapes data set as a VOC folder (or COCO)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("synth")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path))
@click.option("--num", type=int, default=500, show_default=True, help="Number of images.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--shapes", default="circle,square,triangle", show_default=True, help="Classes: circle, square, triangle, cross, ring.")
@click.option("--format", "fmt", type=click.Choice(["voc", "coco"]), default="voc", show_default=True)
def command(out, num, seed, shapes, fmt) -> None:
    """Coloured shapes on noisy textured backgrounds, splits train/val/test 80/10/10 (COCO: train/val 80/20)."""
    from ..errors import InputError
    from ..train.synthetic import ALL_SHAPES, write_synthetic_coco, write_synthetic_voc

    names = tuple(s.strip() for s in shapes.split(",") if s.strip())
    unknown = [s for s in names if s not in ALL_SHAPES]
    if unknown or not names:
        raise InputError(f"unknown shapes {unknown}; choose from {', '.join(ALL_SHAPES)}")
    if num < 1:
        raise InputError("--num must be >= 1")
    writer = write_synthetic_voc if fmt == "voc" else write_synthetic_coco
    root = writer(out, num, seed=seed, shapes=names)
    click.echo(f"wrote {num} images to {root} ({fmt})")
