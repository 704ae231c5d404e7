"""`ssd2ncnn detect`: run a converted model folder on images, print the detections, optionally draw them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click
from PIL import Image

from ..errors import InputError
from ..fileio import atomic_write
from ..runtime.detector import Detection, Detector
from ..runtime.draw import draw_detections
from ..runtime.images import load_image, open_image


def _check_images(images: tuple[Path, ...], output: Path | None) -> None:
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
    """Atomic: a failure never leaves a partial PNG under the final name."""
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG")


def _line(det: Detection) -> str:
    x1, y1, x2, y2 = det.box
    return f"  {det.name:<16} {det.score:.3f}  ({x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f})"


@click.command("detect")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write <stem>.png with the boxes drawn here (created).",
)
@click.option(
    "--threshold", type=float, default=0.3, show_default=True, help="Keep detections with score > T (0..1)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document to stdout and nothing else there."
)
@click.option("--input-size", type=int, default=None, help="Network input size (default: model.json's).")
@click.option("--threads", type=int, default=2, show_default=True, help="ncnn CPU threads.")
def command(out_dir, images, output, threshold, as_json, input_size, threads):
    """Detect objects in IMAGES with the converted model in OUT_DIR."""
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold must be in [0, 1], got {threshold}")
    detector = Detector(out_dir, num_threads=threads, input_size=input_size)
    _check_images(images, output)
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
        click.echo(f"{path}: {len(dets)} detection{'' if len(dets) == 1 else 's'}")
        for det in dets:
            click.echo(_line(det))
        if output is not None:
            click.echo(f"  wrote {png}")
    if as_json:
        click.echo(json.dumps(results, indent=2))
