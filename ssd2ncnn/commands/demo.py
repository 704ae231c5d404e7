"""`ssd2ncnn demo`: convert, verify and detect with the bundled checkpoint and sample images."""

from __future__ import annotations

from pathlib import Path

import click

from ..demo import DEFAULT_CHECKPOINT, DEFAULT_IMAGES, run_demo


@click.command("demo")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"), show_default=True)
@click.option("--checkpoint", type=click.Path(path_type=Path), default=DEFAULT_CHECKPOINT, show_default=True)
@click.option("--images", type=click.Path(path_type=Path), default=DEFAULT_IMAGES, show_default=True)
def command(output, checkpoint, images):
    """Run the whole pipeline on the bundled checkpoint and images; results go to OUTPUT."""
    run_demo(output, checkpoint, images, say=click.echo)
