"""Opening a data set folder (VOC or COCO, detected from its layout). Plain numpy records: no torch here,
so verify and the runtime can read data sets too; the PyTorch side is `train/data.py`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from .coco import CocoFolder, coco_splits, is_coco
from .records import DetectionSource
from .scan import Findings, merge_reports, scan_source
from .voc import VocFolder, is_voc, voc_splits


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


class DataFolder:
    """One VOC or COCO root, its annotation files read once for the class names and every split."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.format = _format(self.root)
        self._reader: VocFolder | CocoFolder = VocFolder(self.root) if self.format == "voc" else CocoFolder(self.root)

    def class_names(self) -> tuple[str, ...]:
        """Class names the data set itself implies (background first)."""
        return self._reader.class_names()

    def splits(self) -> list[str]:
        return voc_splits(self.root) if self.format == "voc" else coco_splits(self.root)

    def resolve_split(self, split: str) -> str:
        """`split` itself when the data set has it, else its one year-suffixed form (`train` -> `train2017`,
        as COCO 2017 unpacks), else `split` unchanged (opening it then names the splits there are)."""
        splits = self.splits()
        if split in splits:
            return split
        dated = [s for s in splits if re.fullmatch(re.escape(split) + r"\d{4}", s)]
        return dated[0] if len(dated) == 1 else split

    def has_split(self, split: str) -> bool:
        return self.resolve_split(split) in self.splits()

    def open(self, split: str, class_names: tuple[str, ...] | None = None, strict: bool = False) -> DetectionSource:
        """The split, scanned (`data/scan.py`): one `InputError` line for what cannot be used, the rest
        handled and listed in the returned source's `scan.warnings`."""
        names = tuple(class_names) if class_names else self.class_names()
        split = self.resolve_split(split)
        findings = Findings(classes=names)
        source = self._reader.load(split, names, findings)
        if not source.records and not findings.found:
            raise InputError(f"split {split!r} of {self.root} has no images")
        return scan_source(source, findings, strict)


def dataset_class_names(root: str | Path) -> tuple[str, ...]:
    return DataFolder(root).class_names()


def dataset_splits(root: str | Path) -> list[str]:
    return DataFolder(root).splits()


def resolve_split(root: str | Path, split: str) -> str:
    return DataFolder(root).resolve_split(split)


def has_split(root: str | Path, split: str) -> bool:
    return DataFolder(root).has_split(split)


def open_dataset(root: str | Path, split: str, class_names: tuple[str, ...] | None = None, strict: bool = False) -> DetectionSource:
    return DataFolder(root).open(split, class_names, strict)


def common_class_names(roots: Sequence[str | Path | DataFolder]) -> tuple[str, ...]:
    """The class names of several data roots, which must agree (merging them by name would silently
    renumber one root's labels)."""
    folders = [r if isinstance(r, DataFolder) else DataFolder(r) for r in roots]
    first = folders[0].class_names()
    for folder in folders[1:]:
        names = folder.class_names()
        if names != first:
            raise InputError(
                f"data roots disagree on classes: {folders[0].root} has {list(first[1:])}, {folder.root} has {list(names[1:])}; "
                f"pass --classes to train on one list"
            )
    return first


def per_root(values: Sequence[str], roots: Sequence[object], option: str) -> list[str]:
    """One value for every root, or one per root (`--train-split trainval` or `trainval,train`)."""
    if len(values) == 1:
        return list(values) * len(roots)
    if len(values) != len(roots):
        raise InputError(f"{option} lists {len(values)} values for {len(roots)} data roots; give one, or one per --data")
    return list(values)


def open_datasets(roots: Sequence[str | Path | DataFolder], splits: Sequence[str], class_names: tuple[str, ...],
                  strict: bool = False) -> DetectionSource:
    """Several roots' splits as one source (e.g. VOC2007 trainval + VOC2012 trainval), each scanned; its
    root and split name the first root and every split."""
    folders = [r if isinstance(r, DataFolder) else DataFolder(r) for r in roots]
    sources = [f.open(s, class_names, strict) for f, s in zip(folders, per_root(splits, folders, "the split list"), strict=True)]
    if len(sources) == 1:
        return sources[0]
    split = "+".join(f"{s.root.name}/{s.split}" for s in sources)
    return DetectionSource(sources[0].root, split, tuple(class_names), [r for s in sources for r in s.records],
                           merge_reports(sources))
