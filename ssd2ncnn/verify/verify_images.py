"""Verification inputs: seeded synthetic images, a folder of images, or an annotated data set; each
pre-processed exactly as the runtime does it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import SSDConfig
from ..data.synthetic import textured_shapes
from ..errors import InputError


@dataclass
class VerifyImage:
    name: str
    image: Image.Image | None = None  # RGB, when made in memory (synthetic); else read from `path` on use
    gt: dict | None = None  # {"boxes": (N, 4) normalised, "labels": (N,), "difficult": (N,)}
    path: Path | None = None

    def load(self) -> Image.Image:
        """The RGB image, decoded now (a file is not held in memory between uses): an InputError naming the
        file when it cannot be decoded."""
        if self.image is not None:
            return self.image
        from ..runtime.images import load_image

        assert self.path is not None, "a VerifyImage holds an image or a path"
        return load_image(self.path)


def training_input(image: Image.Image, size: int, cfg: SSDConfig) -> np.ndarray:
    """(3, size, size) float32 as the training pipeline makes it: Pillow's bilinear resize
    (`train.transforms.resize`) and the training normalisation (`train.data.network_input`). The ncnn side uses ncnn's own resize
    (`runtime.preprocess`); `verify --images` reports the difference between the two pipelines."""
    import torch

    from ..train.data import network_input
    from ..train.transforms import resize

    resized, _ = resize(np.asarray(image.convert("RGB")), np.zeros((0, 4), np.float32), size)
    pixels = np.require(resized, dtype=np.uint8, requirements=["C", "W"])  # PIL arrays are read-only: copy those
    return network_input(torch.from_numpy(pixels)[None], cfg)[0].numpy()


def synthetic_images(count: int, seed: int = 0, size: int = 256) -> list[VerifyImage]:
    """Seeded pictures (`data.synthetic.textured_shapes`), one generator for all of them."""
    rng = np.random.default_rng(seed)
    return [VerifyImage(f"synthetic-{seed}-{i}", textured_shapes(rng, size)) for i in range(count)]


def folder_images(folder: Path, limit: int | None = None, class_names: tuple[str, ...] | None = None,
                  strict: bool = False, warn: Callable[[str], None] | None = None) -> list[VerifyImage]:
    """Every image in `folder`, or, when it is a VOC/COCO data set, its test (else val, else first)
    split with the ground truth in normalised coordinates, labels numbered by `class_names` (the model's).
    A data set is scanned first (`data.scan`: an unknown class or a missing image is an InputError before
    any work; each warning line goes to `warn`, or is an error with `strict`). Images are decoded on use."""
    from ..runtime.images import IMAGE_SUFFIXES, list_images

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--images {folder} is not a folder")
    from ..data.coco import is_coco
    from ..data.folders import dataset_splits, open_dataset
    from ..data.voc import is_voc

    if is_voc(folder) or is_coco(folder):
        splits = dataset_splits(folder)
        split = next((s for s in ("test", "val", "trainval", "train") if s in splits), splits[0])
        source = open_dataset(folder, split, class_names, strict=strict)
        for line in source.scan.warnings if source.scan else ():
            if warn is not None:
                warn(f"{folder} [{source.split}]: {line}")
        out = []
        for rec in source.records[:limit]:
            scale = np.array([rec.width, rec.height, rec.width, rec.height], dtype=np.float64)
            gt = {"boxes": rec.boxes / scale, "labels": rec.labels, "difficult": rec.difficult}
            out.append(VerifyImage(rec.path.name, None, gt, rec.path))
        return out
    paths = list_images(folder)[:limit]
    if not paths:
        raise InputError(f"--images {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return [VerifyImage(p.name, path=p) for p in paths]
