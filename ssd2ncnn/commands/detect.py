"""`ssd2ncnn detect`: run a converted model folder on images, print the detections, optionally draw them.
Needs ncnn, numpy and Pillow only: nothing here or below imports torch."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import click
from PIL import Image

from ..errors import InputError
from ..fileio import atomic_write
from ..runtime.detector import Detection, Detector
from ..runtime.draw import draw_detections
from ..runtime.images import IMAGE_SUFFIXES, list_images, load_image, open_image
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


def _check_images(images: list[Path], output: Path | None) -> None:
    """Header-only checks of every image before any work, so a bad path fails fast and writes nothing."""
    for path in images:
        open_image(path).close()
    if output is not None:
        seen: dict[str, Path] = {}
        for path in images:
            if path.stem in seen and seen[path.stem] != path:
                raise InputError(
                    f"{seen[path.stem]} and {path} would both be written to {output / (path.stem + '.png')}; rename one"
                )
            seen[path.stem] = path
        if output.exists() and not output.is_dir():
            raise InputError(f"-o {output} exists and is not a folder")


def _write_png(image: Image.Image, path: Path) -> None:
    """Atomic (a failure never leaves a partial PNG under the final name), mode from the umask."""
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG")


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
@output_option("Write <stem>.png with the boxes drawn here (created).", required=False)
@click.option(
    "--threshold", type=float, default=0.3, show_default=True, help="Keep detections with score > T (0..1)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document to stdout and nothing else there."
)
@click.option("--input-size", type=int, default=None, help="Network input size (default: model.json's).")
@click.option("--threads", type=int, default=2, show_default=True, help="ncnn CPU threads.")
def command(out_dir, images, output, threshold, as_json, input_size, threads):
    """Detect objects in IMAGES (files or folders of images) with the converted model in OUT_DIR.

    Pre-processing and box clamping are ncnn's own (from_pixels_resize, substract_mean_normalize with
    model.json's values), so the output is what an ncnn app prints for the same decoded pixels. When the
    reader of stdout stops early (| head), the rest of the printing is dropped and -o files still written."""
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold must be in [0, 1], got {threshold}")
    detector = Detector(out_dir, num_threads=threads, input_size=input_size)
    images = expand_images(images)
    _check_images(images, output)
    out = _Stdout()
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
    results = []
    for path in images:
        image = load_image(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # reported below from last_dropped instead
            dets = detector.detect(image, threshold)
        if detector.last_dropped:
            click.echo(
                f"warning: {path}: dropped {detector.last_dropped} detections with non-finite values or unknown labels",
                err=True,
            )
        if output is not None:
            png = output / f"{path.stem}.png"
            _write_png(draw_detections(image, dets), png)
        if as_json:
            w, h = image.size
            results.append(
                {"image": str(path), "width": w, "height": h, "detections": [d.to_dict() for d in dets]}
            )
            continue
        out.echo(f"{path}: {len(dets)} detection{'' if len(dets) == 1 else 's'}")
        for det in dets:
            out.echo(_line(det))
        if output is not None:
            out.echo(f"  wrote {png}")
        elif out.closed:
            break  # nothing is written to files and nobody reads the rest
    if as_json:
        out.echo(json.dumps(results, indent=2))
