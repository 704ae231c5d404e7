"""Reading any image a user may pass (`detect`, data sets, calibration) as 8-bit RGB, or an `InputError`
that says what was found. Below `runtime` and `data`, which both read images.

Mode rules (the network sees 8-bit RGB, as in training):
- L, P, 1, CMYK, YCbCr, LAB, HSV: Pillow's own conversion to RGB.
- Alpha (RGBA, LA, PA, P with transparency, RGBa, La): composited on black, so fully transparent pixels
  are black whatever colour they happen to store.
- 16-bit greyscale (I;16, I;16B, I;16L) and 32-bit integer (I): taken as 0..65535 and scaled to
  0..255 by rounding x / 257 (Pillow's own conversion clips at 255 instead, turning most of a 16-bit
  image white). Negative or larger values are clipped to that range.
- F (32-bit float): taken as 0..255 and clipped, as Pillow does.
- EXIF orientation is applied, so boxes are in the image as a viewer shows it.
- Multi-frame files (GIF, TIFF): the first frame.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

# Refuse larger images before decoding: 100 MP of RGB is 300 MB before any processing.
MAX_PIXELS = 100_000_000

_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_ALPHA = {"RGBA", "LA", "PA", "RGBa", "La"}


def _describe_bytes(head: bytes) -> str:
    """What a non-image file looks like, for the error message."""
    if not head:
        return "an empty file (0 bytes)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data starting " + head[:8].hex(" ")
    if text.isprintable() or all(c.isprintable() or c.isspace() for c in text):
        return f"text starting {text[:40].strip()!r}"
    return "binary data starting " + head[:8].hex(" ")


def _too_big(path: Path, width: int, height: int) -> InputError:
    return InputError(
        f"image {path} is {width}x{height} = {width * height / 1e6:.0f} megapixels, above the "
        f"{MAX_PIXELS / 1e6:.0f} MP limit; downscale it first"
    )


def open_image(path: str | Path) -> Image.Image:
    """The opened (not yet decoded) image, after the checks that need only the header: exists, is a file,
    is an image Pillow reads, is within `MAX_PIXELS`. The caller closes it."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"image {path} does not exist")
    if path.is_dir():
        raise InputError(f"image {path} is a folder; pass image files")
    try:
        with warnings.catch_warnings():
            # Our own limit is checked below with a clearer message; PIL's warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise InputError(f"image {path} is too large to decode safely ({exc}); downscale it first") from exc
    except UnidentifiedImageError as exc:
        with open(path, "rb") as f:
            head = f.read(64)
        raise InputError(f"{path} is not an image Pillow can read: found {_describe_bytes(head)}") from exc
    except OSError as exc:
        raise InputError(f"cannot read image {path}: {exc}") from exc
    width, height = im.size
    if width * height > MAX_PIXELS:
        im.close()
        raise _too_big(path, width, height)
    return im


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode == "P" and "transparency" in im.info:
        im, mode = im.convert("RGBA"), "RGBA"
    if mode in _SIXTEEN_BIT:
        x = np.asarray(im).astype(np.float64)
        grey = np.rint(np.clip(x, 0, 65535) / 257.0).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "F":
        grey = np.rint(np.clip(np.nan_to_num(np.asarray(im, np.float64)), 0, 255)).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode in _ALPHA:
        rgba = im.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return im if mode == "RGB" else im.convert("RGB")  # load_image's exif_transpose made the copy


def load_image(path: str | Path) -> Image.Image:
    """8-bit RGB, EXIF orientation applied (see the module docstring for each mode)."""
    path = Path(path)
    with open_image(path) as im:
        try:
            im.load()
            # a new image (a copy when no orientation is set), so it outlives `im`, closed on return
            return _to_rgb(ImageOps.exif_transpose(im))
        except (OSError, ValueError, SyntaxError) as exc:
            # Truncated or corrupt pixel data: the header was fine but decoding failed.
            raise InputError(f"cannot decode image {path} ({im.format or 'unknown format'}): {exc}") from exc


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in `folder`, by suffix, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
