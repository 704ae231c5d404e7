"""`ssd2ncnn synth`: write a synthetic shapes data set as a VOC folder (or COCO)."""

from __future__ import annotations

import click

from .output_option import output_option


@click.command("synth")
@output_option("Folder to write the data set into (VOC: JPEGImages/, Annotations/, ImageSets/).", file_okay=False)
@click.option("--num", type=int, default=500, show_default=True, help="Number of images.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the generator: same seed, same data set.")
@click.option("--shapes", default="circle,square,triangle", show_default=True, help="Classes: circle, square, triangle, cross, ring.")
@click.option("--format", "fmt", type=click.Choice(["voc", "coco"]), default="voc", show_default=True,
              help="Folder layout: Pascal VOC (XML per image) or COCO (one JSON per split).")
@click.option("--image-size", default="160,256", show_default=True, help="MIN,MAX image side in pixels.")
@click.option("--object-size", default="0.12,0.55", show_default=True, help="MIN,MAX shape size as a fraction of the short side.")
@click.option("--max-objects", type=int, default=4, show_default=True, help="Shapes per image: 1..N.")
@click.option("--p-difficult", type=float, default=0.15, show_default=True, help="Probability that a shape is tiny (6-12 px, difficult).")
def command(output, num, seed, shapes, fmt, image_size, object_size, max_objects, p_difficult) -> None:
    """Write a synthetic detection data set to OUTPUT: coloured shapes on noisy textured backgrounds.

    Splits train/val/test 80/10/10 (COCO: train/val 80/20)."""
    from ..data.synthetic import ALL_SHAPES, write_synthetic_coco, write_synthetic_voc
    from ..errors import InputError

    names = tuple(s.strip() for s in shapes.split(",") if s.strip())
    unknown = [s for s in names if s not in ALL_SHAPES]
    if unknown or not names:
        raise InputError(f"unknown shapes {unknown}; choose from {', '.join(ALL_SHAPES)}")
    if num < 1:
        raise InputError("--num must be >= 1")
    try:
        lo, hi = (int(v) for v in image_size.split(","))
        olo, ohi = (float(v) for v in object_size.split(","))
    except ValueError:
        raise InputError("--image-size takes MIN,MAX pixels and --object-size MIN,MAX fractions") from None
    if not 32 <= lo <= hi:
        raise InputError(f"--image-size must satisfy 32 <= MIN <= MAX, got {image_size}")
    if not 0 < olo <= ohi < 1:
        raise InputError(f"--object-size must satisfy 0 < MIN <= MAX < 1, got {object_size}")
    if max_objects < 1 or not 0 <= p_difficult <= 1:
        raise InputError("--max-objects must be >= 1 and --p-difficult in [0, 1]")
    writer = write_synthetic_voc if fmt == "voc" else write_synthetic_coco
    root = writer(output, num, seed=seed, shapes=names, size_range=(lo, hi), object_range=(olo, ohi),
                  max_objects=max_objects, p_difficult=p_difficult)
    click.echo(f"wrote {num} images to {root} ({fmt})")
