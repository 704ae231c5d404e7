"""Pascal VOC: `Annotations/<id>.xml`, `JPEGImages/<id>.jpg`, `ImageSets/Main/<split>.txt`.

VOC pixel coordinates are 1-based and inclusive; they are stored as continuous 0-based boxes
(xmin - 1, ymin - 1, xmax, ymax) so that a box covering the whole image is (0, 0, W, H). `difficult`
flags are kept: training drops those objects, evaluation ignores them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..errors import InputError
from .records import DetectionSource, ImageRecord


def is_voc(root: Path) -> bool:
    return (root / "Annotations").is_dir() and (root / "ImageSets" / "Main").is_dir()


def voc_splits(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "ImageSets" / "Main").glob("*.txt") if "_" not in p.stem)


def _text(node: ET.Element, tag: str, path: Path) -> str:
    child = node.find(tag)
    if child is None or child.text is None:
        raise InputError(f"{path}: annotation lacks <{tag}>")
    return child.text.strip()


def parse_voc_xml(path: Path) -> tuple[str, int, int, list[tuple[str, tuple[float, float, float, float], bool]]]:
    """(filename, width, height, [(name, box, difficult)]) of one annotation file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{path}: malformed XML ({exc})") from exc
    size = root.find("size")
    if size is None:
        raise InputError(f"{path}: annotation lacks <size>")
    width, height = int(float(_text(size, "width", path))), int(float(_text(size, "height", path)))
    objects = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            raise InputError(f"{path}: <object> lacks <bndbox>")
        x1, y1, x2, y2 = (float(_text(bb, t, path)) for t in ("xmin", "ymin", "xmax", "ymax"))
        diff = obj.find("difficult")
        difficult = diff is not None and diff.text is not None and diff.text.strip() not in ("", "0")
        objects.append((_text(obj, "name", path), (x1 - 1, y1 - 1, x2, y2), difficult))
    filename = root.findtext("filename", default=path.stem + ".jpg").strip()
    return filename, width, height, objects


def voc_class_names(root: Path) -> tuple[str, ...]:
    """Background + the sorted object names found in all annotation files (sorted VOC names are exactly
    the standard VOC class order)."""
    names: set[str] = set()
    for xml in (root / "Annotations").glob("*.xml"):
        names.update(name for name, _, _ in parse_voc_xml(xml)[3])
    if not names:
        raise InputError(f"{root}/Annotations holds no annotated objects; is this a VOC folder?")
    return ("background",) + tuple(sorted(names))


def load_voc(root: Path, split: str, class_names: tuple[str, ...]) -> DetectionSource:
    list_file = root / "ImageSets" / "Main" / f"{split}.txt"
    if not list_file.is_file():
        raise InputError(f"VOC split {split!r} not found: {list_file} is missing (splits here: {', '.join(voc_splits(root)) or 'none'})")
    ids = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise InputError(f"{list_file} lists no images")
    index = {name: i for i, name in enumerate(class_names)}
    records = []
    for image_id in ids:
        xml = root / "Annotations" / f"{image_id}.xml"
        if not xml.is_file():
            raise InputError(f"{list_file} lists {image_id!r} but {xml} does not exist")
        filename, width, height, objects = parse_voc_xml(xml)
        image = root / "JPEGImages" / filename
        if not image.is_file():
            image = root / "JPEGImages" / f"{image_id}.jpg"
        if not image.is_file():
            raise InputError(f"image for {image_id!r} not found in {root / 'JPEGImages'}")
        unknown = sorted({name for name, _, _ in objects if name not in index})
        if unknown:
            raise InputError(
                f"{xml}: classes {unknown} are not among the {len(class_names) - 1} model classes "
                f"{list(class_names[1:])}; train with --classes naming them all, or evaluate a checkpoint trained on them"
            )
        records.append(ImageRecord(
            path=image, width=width, height=height,
            boxes=np.array([b for _, b, _ in objects], dtype=np.float32).reshape(-1, 4),
            labels=np.array([index[n] for n, _, _ in objects], dtype=np.int64),
            difficult=np.array([d for _, _, d in objects], dtype=bool),
        ))
    return DetectionSource(root, split, tuple(class_names), records)
