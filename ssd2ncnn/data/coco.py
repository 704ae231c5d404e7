"""COCO: `annotations/instances_<split>.json` (or `annotations/<split>.json`) with images under
`images/<split>/`, `<split>/` or `images/`. Category ids (sparse in COCO) map to contiguous labels 1..K in
id order; `iscrowd` boxes are ignored for training and evaluation alike (kept as `difficult`).

COCO 2017 unpacks as `annotations/{instances,captions,person_keypoints}_{train,val}2017.json` beside
`train2017/` and `val2017/` (cocodataset.org/#download): only the `instances_*` files describe boxes, so
when any exist they alone name the splits and the classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from .records import DetectionSource, ImageRecord


def _annotation_file(root: Path, split: str) -> Path | None:
    for name in (f"instances_{split}.json", f"{split}.json"):
        if (root / "annotations" / name).is_file():
            return root / "annotations" / name
    return None


def is_coco(root: Path) -> bool:
    return (root / "annotations").is_dir() and any((root / "annotations").glob("*.json"))


def _detection_files(root: Path) -> list[Path]:
    """The annotation files with boxes: `instances_*.json` when there are any (COCO's captions and
    keypoints files sit beside them), else every `*.json`."""
    files = sorted((root / "annotations").glob("*.json"))
    instances = [p for p in files if p.stem.startswith("instances_")]
    return instances or files


def coco_splits(root: Path) -> list[str]:
    return sorted(p.stem.removeprefix("instances_") for p in _detection_files(root))


def _read(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise InputError(f"{path}: a COCO file needs a {key!r} list")
    return doc


def coco_class_names(root: Path) -> tuple[str, ...]:
    """Background + category names in category-id order, from any of the annotation files."""
    cats = sorted(_read(_detection_files(root)[0])["categories"], key=lambda c: c["id"])
    return ("background",) + tuple(c["name"] for c in cats)


def category_mapping(categories: list[dict]) -> dict[int, int]:
    """COCO category id -> contiguous label (1..K, by ascending id); 0 stays the background."""
    return {c["id"]: k + 1 for k, c in enumerate(sorted(categories, key=lambda c: c["id"]))}


def _image_dir(root: Path, split: str, file_name: str) -> Path:
    for d in (root / "images" / split, root / split, root / "images"):
        if (d / file_name).is_file():
            return d
    raise InputError(f"image {file_name!r} of split {split!r} not found under {root}/images/{split}, {root}/{split} or {root}/images")


def load_coco(root: Path, split: str, class_names: tuple[str, ...]) -> DetectionSource:
    path = _annotation_file(root, split)
    if path is None:
        raise InputError(f"COCO split {split!r} not found: no annotations/instances_{split}.json (splits here: {', '.join(coco_splits(root)) or 'none'})")
    doc = _read(path)
    mapping = category_mapping(doc["categories"])
    if len(mapping) != len(class_names) - 1:
        raise InputError(
            f"{path} has {len(mapping)} categories but the model has {len(class_names) - 1} classes "
            f"(+ background); train with matching --classes, or evaluate a checkpoint trained on these categories"
        )
    per_image: dict[int, list[dict]] = {img["id"]: [] for img in doc["images"]}
    for ann in doc["annotations"]:
        if ann["category_id"] not in mapping:
            raise InputError(f"{path}: annotation {ann.get('id')} has unknown category {ann['category_id']}")
        per_image.setdefault(ann["image_id"], []).append(ann)
    records, image_dir = [], None
    for img in doc["images"]:
        if image_dir is None:
            image_dir = _image_dir(root, split, img["file_name"])
        anns = [a for a in per_image[img["id"]] if a["bbox"][2] > 0 and a["bbox"][3] > 0]
        boxes = [(x, y, x + w, y + h) for x, y, w, h in (a["bbox"] for a in anns)]
        records.append(ImageRecord(
            path=image_dir / img["file_name"], width=int(img["width"]), height=int(img["height"]),
            boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
            labels=np.array([mapping[a["category_id"]] for a in anns], dtype=np.int64),
            difficult=np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
        ))
    if not records:
        raise InputError(f"{path} lists no images")
    return DetectionSource(root, split, tuple(class_names), records)
