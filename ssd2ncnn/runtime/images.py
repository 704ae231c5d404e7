"""Image reading for the runtime: the loader lives in `ssd2ncnn/images.py`, below both `runtime` and
`data`, so that data sets read images without importing the ncnn runtime."""

from __future__ import annotations

from ..images import IMAGE_SUFFIXES, MAX_PIXELS, list_images, load_image, open_image

__all__ = ["IMAGE_SUFFIXES", "MAX_PIXELS", "list_images", "load_image", "open_image"]
