"""Opening a data set folder (VOC or COCO, detected from its layout). Plain numpy records: no torch here,
so verify and the runtime can read data sets too; the PyTorch side is `train/data.py`."""

from __future__ import annotations

import re
from collections.abc import Sequence
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


def resolve_split(root: str | Path, split: str) -> str:
    """`split` itself when the data set has it, else its one year-suffixed form (`train` -> `train2017`,
    as COCO 2017 unpacks), else `split` unchanged (opening it then names the splits there are)."""
    splits = dataset_splits(root)
    if split in splits:
        return split
    dated = [s for s in splits if re.fullmatch(re.escape(split) + r"\d{4}", s)]
    return dated[0] if len(dated) == 1 else split


def has_split(root: str | Path, split: str) -> bool:
    return resolve_split(root, split) in dataset_splits(root)


def open_dataset(root: str | Path, split: str, class_names: tuple[str, ...] | None = None) -> DetectionSource:
    root = Path(root)
    fmt = _format(root)
    names = tuple(class_names) if class_names else dataset_class_names(root)
    split = resolve_split(root, split)
    source = load_voc(root, split, names) if fmt == "voc" else load_coco(root, split, names)
    if not source.records:
        raise InputError(f"split {split!r} of {root} has no images")
    return source



def common_class_names(roots: Sequence[str | Path]) -> tuple[str, ...]:
    """The class names of several data roots, which must agree (merging them by name would silently
    renumber one root's labels)."""
    first = dataset_class_names(roots[0])
    for root in roots[1:]:
        names = dataset_class_names(root)
        if names != first:
            raise InputError(
                f"data roots disagree on classes: {roots[0]} has {list(first[1:])}, {root} has {list(names[1:])}; "
                f"pass --classes to train on one list"
            )
    return first


def per_root(values: Sequence[str], roots: Sequence[str | Path], option: str) -> list[str]:
    """One value for every root, or one per root (`--train-split trainval` or `trainval,train`)."""
    if len(values) == 1:
        return list(values) * len(roots)
    if len(values) != len(roots):
        raise InputError(f"{option} lists {len(values)} values for {len(roots)} data roots; give one, or one per --data")
    return list(values)


def open_datasets(roots: Sequence[str | Path], splits: Sequence[str], class_names: tuple[str, ...]) -> DetectionSource:
    """Several roots' splits as one source (e.g. VOC2007 trainval + VOC2012 trainval); its root and split
    name the first root and every split."""
    sources = [open_dataset(r, s, class_names) for r, s in zip(roots, per_root(splits, roots, "the split list"), strict=True)]
    if len(sources) == 1:
        return sources[0]
    split = "+".join(f"{s.root.name}/{s.split}" for s in sources)
    return DetectionSource(sources[0].root, split, tuple(class_names), [r for s in sources for r in s.records])
