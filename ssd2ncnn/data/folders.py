"""Opening a data set folder (VOC or COCO, detected from its layout). Plain numpy records: no torch here,
so verify and the runtime can read data sets too; the PyTorch side is `train/data.py`."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .coco import coco_class_names, coco_splits, is_coco, load_coco
from .records import DetectionSource
from .voc import is_voc, load_voc, voc_class_names, voc_splits


def _format(root: Path) -> str:
    if not root.exists():
        raise InputError(f"data directory {root} does not exist")
    if not root.is_dir():
        raise InputError(f"data path {root} is not a directory; pass the VOC or COCO folder")
    if is_voc(root):
        return "voc"
    if is_coco(root):
        return "coco"
    raise InputError(
        f"{root} is neither a VOC folder (Annotations/, ImageSets/Main/) nor a COCO folder "
        f"(annotations/*.json); run `ssd2ncnn synth` for an example layout"
    )


def dataset_class_names(root: str | Path) -> tuple[str, ...]:
    """Class names the data set itself implies (background first)."""
    root = Path(root)
    return voc_class_names(root) if _format(root) == "voc" else coco_class_names(root)


def dataset_splits(root: str | Path) -> list[str]:
    root = Path(root)
    return voc_splits(root) if _format(root) == "voc" else coco_splits(root)


def open_dataset(root: str | Path, split: str, class_names: tuple[str, ...] | None = None) -> DetectionSource:
    root = Path(root)
    fmt = _format(root)
    names = tuple(class_names) if class_names else dataset_class_names(root)
    source = load_voc(root, split, names) if fmt == "voc" else load_coco(root, split, names)
    if not source.records:
        raise InputError(f"split {split!r} of {root} has no images")
    return source

