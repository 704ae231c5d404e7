"""Boxes and `name score` labels drawn on a copy of the image.

Readability on any background: each box is a saturated class colour framed by a thin dark line (visible
on light images and on areas of the same hue), and each label is text on a filled box of the class
colour, with black or white text picked by the colour's luminance.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from .detector import Detection


def class_colour(label: int) -> tuple[int, int, int]:
    """A stable, well-spread colour per class: golden-ratio steps around the hue circle."""
    h = (0.13 + label * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def _text_colour(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()  # fixed-size bitmap font


def draw_detections(image: Image.Image, detections: Sequence[Detection]) -> Image.Image:
    """An RGB copy of `image` with the detections drawn; lowest score first so the best is on top."""
    out = image.convert("RGB") if image.mode != "RGB" else image.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    short = min(w, h)
    width = max(1, round(short / 250))  # 2 px at 500 px, 4 px at 1000 px
    font = _font(max(10, round(short / 40)))
    pad = max(1, width)
    for det in sorted(detections, key=lambda d: d.score):
        colour = class_colour(det.label)
        bx1, by1, bx2, by2 = det.box
        x1, y1, x2, y2 = min(bx1, bx2), min(by1, by2), max(bx1, bx2), max(by1, by2)  # Pillow rejects x2 < x1
        draw.rectangle(
            (x1 - 1, y1 - 1, x2 + 1, y2 + 1), outline=(0, 0, 0), width=1
        )  # Pillow draws width inwards
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        text = f"{det.name} {det.score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left + 2 * pad, bottom - top + 2 * pad
        # Above the box when there is room, else just inside its top edge; kept inside the image.
        ty = y1 - th if y1 - th >= 0 else y1
        tx = min(max(x1, 0), max(w - tw, 0))
        draw.rectangle((tx, ty, tx + tw, ty + th), fill=colour)
        draw.text((tx + pad - left, ty + pad - top), text, fill=_text_colour(colour), font=font)
    return out
