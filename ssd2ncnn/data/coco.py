"""COCO: `annotations/instances_<split>.json` (or `annotations/<split>.json`) with images under
`images/<split>/`, `<split>/` or `images/`. Category ids (sparse in COCO) map to contiguous labels 1..K in
id order and must be the model's classes; `iscrowd` boxes are ignored for training and evaluation alike (kept as `difficult`).

COCO 2017 unpacks as `annotations/{instances,captions,person_keypoints}_{train,val}2017.json` beside
`train2017/` and `val2017/` (cocodataset.org/#download): only the `instances_*` files describe boxes, so
when any exist they alone name the splits and the classes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from .records import DetectionSource, ImageRecord
from .scan import Findings


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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: a COCO file is a JSON object, found a {type(doc).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise InputError(f"{path}: a COCO file needs a {key!r} list")
    for c in doc["categories"]:
        if not (isinstance(c, dict) and _is_int(c.get("id")) and isinstance(c.get("name"), str)):
            raise InputError(f"{path}: category {c!r} needs an integer 'id' and a string 'name'")
    return doc


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def category_mapping(categories: list[dict]) -> dict[int, int]:
    """COCO category id -> contiguous label (1..K, by ascending id); 0 stays the background."""
    return {c["id"]: k + 1 for k, c in enumerate(sorted(categories, key=lambda c: c["id"]))}


def _category_names(doc: dict) -> tuple[str, ...]:
    return tuple(c["name"] for c in sorted(doc["categories"], key=lambda c: c["id"]))


def _image_dir(root: Path, split: str, file_name: str) -> Path:
    """Where the split's images are: the first candidate holding the first listed file (else the first
    candidate that exists; the scan then names the missing files)."""
    dirs = (root / "images" / split, root / split, root / "images")
    return next((d for d in dirs if (d / file_name).is_file()), next((d for d in dirs if d.is_dir()), dirs[0]))


def _image_problem(img: object) -> str | None:
    if not isinstance(img, dict):
        return f"image entry {img!r} is not an object"
    if not _is_int(img.get("id")) or not isinstance(img.get("file_name"), str):
        return f"image entry {img.get('id')!r} needs an integer 'id' and a string 'file_name'"
    if not all(_is_int(img.get(k)) and img[k] > 0 for k in ("width", "height")):
        return f"image {img['id']}: 'width' and 'height' must be whole numbers > 0, got {img.get('width')!r}, {img.get('height')!r}"
    return None


def _annotation_problem(ann: object, image_ids: set) -> str | None:
    if not isinstance(ann, dict):
        return f"annotation entry {ann!r} is not an object"
    where = f"annotation {ann.get('id')!r}"
    if not _is_int(ann.get("category_id")) or not _is_int(ann.get("image_id")) or ann["image_id"] not in image_ids:
        return f"{where}: needs an integer 'category_id' and an 'image_id' listed in 'images'"
    bbox = ann.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        return f"{where}: 'bbox' {bbox!r} is not 4 finite numbers [x, y, w, h]"
    if ann.get("iscrowd", 0) not in (0, 1) or isinstance(ann.get("iscrowd"), bool):
        return f"{where}: 'iscrowd' {ann.get('iscrowd')!r} is neither 0 nor 1"
    return None


class CocoFolder:
    """A COCO folder whose annotation files are read once, for the class names and for the records."""

    def __init__(self, root: Path):
        self.root = root
        self._docs: dict[Path, dict] = {}

    def document(self, path: Path) -> dict:
        if path not in self._docs:
            self._docs[path] = _read(path)
        return self._docs[path]

    def class_names(self) -> tuple[str, ...]:
        """Background + category names in category-id order, from any of the annotation files."""
        return ("background",) + _category_names(self.document(_detection_files(self.root)[0]))

    def load(self, split: str, class_names: tuple[str, ...], findings: Findings) -> DetectionSource:
        path = _annotation_file(self.root, split)
        if path is None:
            raise InputError(f"COCO split {split!r} not found: no annotations/instances_{split}.json (splits here: {', '.join(coco_splits(self.root)) or 'none'})")
        doc = self.document(path)
        _check_categories(path, doc, class_names)
        images = []
        for img in doc["images"]:
            problem = _image_problem(img)
            if problem:
                findings.add("malformed", f"{path.name}: {problem}")
            else:
                images.append(img)
        if not doc["images"]:
            raise InputError(f"{path} lists no images")
        # annotations of a malformed image are not counted again; they reach no record
        per_image = self._annotations(path, doc, {img["id"] for img in doc["images"] if isinstance(img, dict) and _is_int(img.get("id"))}, findings)
        image_dir = _image_dir(self.root, split, images[0]["file_name"]) if images else self.root
        records = [_record(image_dir, img, per_image.get(img["id"], [])) for img in images]
        return DetectionSource(self.root, split, tuple(class_names), records)

    def _annotations(self, path: Path, doc: dict, image_ids: set, findings: Findings) -> dict[int, list[tuple[list, int, bool]]]:
        """image id -> [(bbox, label, crowd)] of its well-formed annotations of known categories."""
        mapping = category_mapping(doc["categories"])
        per_image: dict[int, list[tuple[list, int, bool]]] = {}
        for ann in doc["annotations"]:
            problem = _annotation_problem(ann, image_ids)
            if problem:
                findings.add("malformed", f"{path.name}: {problem}")
            elif ann["category_id"] not in mapping:
                findings.add("unknown_class", f"{path.name}: annotation {ann.get('id')!r} (category {ann['category_id']} is not in 'categories')")
            else:
                per_image.setdefault(ann["image_id"], []).append((ann["bbox"], mapping[ann["category_id"]], ann.get("iscrowd", 0) == 1))
        return per_image


def _check_categories(path: Path, doc: dict, class_names: tuple[str, ...]) -> None:
    """The file's categories, in id order, must be the model's classes (labels are assigned by id order)."""
    names = _category_names(doc)
    if len(names) != len(class_names) - 1:
        raise InputError(
            f"{path} has {len(names)} categories but the model has {len(class_names) - 1} classes "
            f"(+ background); train with matching --classes, or evaluate a checkpoint trained on these categories"
        )
    if names != tuple(class_names[1:]):
        raise InputError(f"{path}: categories {list(names)} (in id order) are not the model's classes {list(class_names[1:])}; "
                         f"evaluate a checkpoint trained on these categories, or train with --classes in this order")


def _record(image_dir: Path, img: dict, anns: list[tuple[list, int, bool]]) -> ImageRecord:
    # COCO boxes are [x, y, w, h]; negative or zero sizes stay as they are for the scan to count and drop.
    return ImageRecord(
        path=image_dir / img["file_name"], width=img["width"], height=img["height"],
        boxes=np.array([(x, y, x + w, y + h) for (x, y, w, h), _, _ in anns], dtype=np.float32).reshape(-1, 4),
        labels=np.array([label for _, label, _ in anns], dtype=np.int64),
        difficult=np.array([crowd for _, _, crowd in anns], dtype=bool),
    )
