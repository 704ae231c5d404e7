"""`ssd2ncnn detect`: run a converted model folder on images, print the detections, optionally draw them.
Needs ncnn, numpy and Pillow only: nothing here or below imports torch."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ..errors import FilesFailed, InputError
from ..runtime.batch import FileFailure
from ..runtime.detect_files import FileResult, detect_files
from ..runtime.detector import Detection, Detector
from ..runtime.drawn_files import AUTO, FORMAT_CHOICES
from ..runtime.images import IMAGE_SUFFIXES, list_images
from .output_option import output_option


def expand_images(args: tuple[Path, ...]) -> list[Path]:
    """Image files as given, each folder replaced by the images directly in it (sorted by name)."""
    paths: list[Path] = []
    for arg in args:
        if arg.is_dir():
            found = list_images(arg)
            if not found:
                raise InputError(f"folder {arg} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            paths += found
        else:
            paths.append(arg)
    return paths


class _Stdout:
    """stdout that a reader may close early (`detect ... | head -2`): the first broken pipe sends the rest
    to /dev/null, so the command finishes its files and exits 0 instead of reporting an error."""

    def __init__(self) -> None:
        self.closed = False

    def echo(self, text: str) -> None:
        if self.closed:
            return
        try:
            click.echo(text)
            sys.stdout.flush()
        except BrokenPipeError:
            self.closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
            os.close(devnull)


def _line(det: Detection) -> str:
    x1, y1, x2, y2 = det.box
    return f"  {det.name:<16} {det.score:.3f}  ({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f})"


@click.command("detect")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_option("Write each image with its boxes drawn here (created), in --format.", required=False)
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default=AUTO, show_default=True,
              help="Format of the drawn images: auto keeps each input's own (JPEG in, JPEG out at quality 95).")
@click.option("--threshold", type=float, default=0.3, show_default=True, help="Keep detections with score > T (0..1).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document to stdout and nothing else there.")
@click.option("--input-size", type=int, default=None, help="Network input size (default: model.json's).")
@click.option("--threads", type=int, default=2, show_default=True,
              help="ncnn CPU threads. Cores left free decode the next images meanwhile: on 2 cores, 1 is the "
                   "faster setting for many files (docs/tuning.md).")
def command(out_dir, images, output, fmt, threshold, as_json, input_size, threads):
    """Detect objects in IMAGES (files or folders of images) with the converted model in OUT_DIR.

    Pre-processing and box clamping are ncnn's own (from_pixels_resize, substract_mean_normalize with
    model.json's values), so the output is what an ncnn app prints for the same decoded pixels. An image
    that cannot be read or written is reported on stderr (and in --json) and the others are processed:
    exit 1 at the end when any failed, 2 for bad options or a bad model folder (nothing processed). When
    the reader of stdout stops early (| head), the rest of the printing is dropped and -o files still written."""
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold must be in [0, 1], got {threshold}")
    detector = Detector(out_dir, threads=threads, input_size=input_size)
    paths = expand_images(images)
    out = _Stdout()
    records, failures = [], []
    for res in detect_files(detector, paths, threshold, output, fmt):
        if isinstance(res, FileFailure):
            failures.append(res)
            click.echo(f"error: {res.path}: {res.message}", err=True)
        elif res.dropped:
            click.echo(f"warning: {res.path}: dropped {res.dropped} detections with non-finite values or unknown labels",
                       err=True)
        if as_json:
            records.append(res.to_dict())
        elif isinstance(res, FileResult):
            _print_result(out, res)
            if output is None and out.closed:
                break  # nothing is written to files and nobody reads the rest
    if as_json:
        out.echo(json.dumps(records, indent=2))
    if failures:
        raise FilesFailed(f"{len(failures)} of {len(paths)} image(s) failed (each named above); the others were processed")


def _print_result(out: _Stdout, res: FileResult) -> None:
    n = len(res.detections)
    out.echo(f"{res.path}: {n} detection{'' if n == 1 else 's'}")
    for det in res.detections:
        out.echo(_line(det))
    if res.drawn is not None:
        out.echo(f"  wrote {res.drawn}")
