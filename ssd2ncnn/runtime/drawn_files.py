"""Where and how `detect -o` writes a drawn image: in the input's own format by default (JPEG in, JPEG
out, as Ultralytics' `save=True` does), or the one `--format` names.

PNG encoding is slow (about 50 ms for 640x480 at Pillow's default level, 20x the network's 2.3 ms on the
bundled model: issue #20), JPEG at quality 95 a few ms. Formats that cannot hold the drawn RGB image as
it is (GIF's 256-colour palette, PGM's grey) are written as PNG."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..errors import InputError
from ..fileio import atomic_write

# format name -> (Pillow format, the suffix written, Pillow save options)
FORMATS: dict[str, tuple[str, str, dict]] = {
    "jpeg": ("JPEG", ".jpg", {"quality": 95}),
    "png": ("PNG", ".png", {}),
    "webp": ("WEBP", ".webp", {"quality": 95}),
    "bmp": ("BMP", ".bmp", {}),
    "tiff": ("TIFF", ".tif", {}),
    "ppm": ("PPM", ".ppm", {}),
}
AUTO = "auto"
FORMAT_CHOICES = (AUTO, *FORMATS)
# an input suffix -> the format its drawn copy keeps by default
OWN_FORMAT = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp", ".bmp": "bmp", ".tif": "tiff",
              ".tiff": "tiff", ".ppm": "ppm", ".gif": "png", ".pgm": "png"}


def drawn_format(path: Path, fmt: str = AUTO) -> str:
    if fmt == AUTO:
        return OWN_FORMAT.get(path.suffix.lower(), "png")
    if fmt not in FORMATS:
        raise InputError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMAT_CHOICES)}")
    return fmt


def drawn_path(path: Path, output: Path, fmt: str = AUTO) -> Path:
    """output/<stem><suffix>: the input's own suffix when it names the format written (a.jpeg stays a.jpeg,
    a.gif drawn as PNG becomes a.png), by Pillow's own table of suffixes."""
    name = drawn_format(path, fmt)
    keep = Image.registered_extensions().get(path.suffix.lower()) == FORMATS[name][0]
    return output / (path.stem + (path.suffix if keep else FORMATS[name][1]))


def output_paths(paths: list[Path], output: Path, fmt: str = AUTO) -> dict[Path, Path]:
    """Each input's drawn file, or an InputError when two inputs would be written to one file."""
    seen: dict[Path, Path] = {}
    for path in paths:
        target = drawn_path(path, output, fmt)
        if target in seen and seen[target] != path:
            raise InputError(f"{seen[target]} and {path} would both be written to {target}; rename one")
        seen[target] = path
    return {src: dst for dst, src in seen.items()}


def save_drawn(image: Image.Image, target: Path, fmt: str, mode: int | None = None) -> None:
    """Atomically: a failure never leaves a partial file under the final name."""
    pil_format, _, options = FORMATS[fmt]
    with atomic_write(target, mode) as tmp:
        image.save(tmp, format=pil_format, **options)
