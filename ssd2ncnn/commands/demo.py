"""`ssd2ncnn demo`: convert, verify and detect with the bundled checkpoint and sample images."""

from __future__ import annotations

from pathlib import Path

import click

from .output_option import output_option


@click.command("demo")
@output_option("Folder for the model, verify.json, detections.json and the drawn images.", file_okay=False,
               required=False, default=Path("demo-out"))
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Checkpoint to run instead of the bundled one (3 shape classes + background, width 0.5, 128 px).")
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of images instead of the three bundled samples.")
def command(output: Path, checkpoint: Path | None, images: Path | None) -> None:
    """Run the whole pipeline on the bundled checkpoint and images; results go to OUTPUT."""
    from ..demo import run_demo

    run_demo(output, checkpoint, images, say=click.echo)
