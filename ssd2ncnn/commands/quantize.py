"""`ssd2ncnn quantize`: post-training int8 quantization into ncnn's int8 format."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import FilesFailed
from ..quantize.calibrate import METHODS
from ..quantize.select import SELECT_MODES
from .output_option import output_option


@click.command("quantize")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--calib", "calib", type=click.Path(path_type=Path), required=True, help="Folder of calibration images.")
@output_option("Output folder.", file_okay=False)
@click.option("--num-images", type=int, default=None, help="Use the first N images (sorted by name).")
@click.option("--method", type=click.Choice(METHODS), default="maxabs", show_default=True, help="Activation threshold rule (see docs/int8.md).")
@click.option("--percentile", type=click.FloatRange(50, 100), default=99.99, show_default=True, help="For --method percentile.")
@click.option("--skip", multiple=True, help="Keep this conv layer in float (repeatable).")
@click.option("--force", is_flag=True, help="Replace a non-empty output folder.")
@click.option("--int8-depthwise", is_flag=True, help="Quantize depthwise convolutions too (slower on x86 ncnn).")
@click.option("--no-requantize", is_flag=True,
              help="Dequantize after every int8 conv, even one that feeds only int8 convs (ncnn2int8 fuses these).")
@click.option("--select", type=click.Choice(SELECT_MODES), default="speed", show_default=True,
              help="speed: time each conv alone here, fp32 against int8, and keep float where int8 is slower; "
                   "all: every candidate in int8 (for a target other than this CPU).")
@click.option("--select-threads", type=click.IntRange(1, 64), default=1, show_default=True, help="Threads for --select speed timing.")
def command(model_dir, calib, output, num_images, method, percentile, skip, force, int8_depthwise, no_requantize,
            select, select_threads):
    """Quantize the fp32 model in MODEL_DIR to int8 with images from --calib.

    A calibration image that cannot be read is reported on stderr and left out: the folder is written from
    the others and the exit code is 1. None readable, or a bad option: exit 2, nothing written."""
    from .. import api

    res = api.quantize(model_dir, calib, output, num_images=num_images, method=method, percentile=percentile,
                       skip=skip, force=force, int8_depthwise=int8_depthwise, requantize=not no_requantize,
                       select=select, select_threads=select_threads, log=lambda m: click.echo(m, err=True))
    click.echo(f"wrote {output}/: {res.quantized} int8 conv layers, {res.float_layers} float, "
               f"calibrated on {res.images} images in {res.seconds:.1f} s")
    if res.failed:
        raise FilesFailed(f"{len(res.failed)} calibration image(s) could not be read (each named above); "
                          f"{output}/ was calibrated on the other {res.images}")
