"""Pascal VOC: `Annotations/<id>.xml`, `JPEGImages/<id>.jpg`, `ImageSets/Main/<split>.txt`.

VOC pixel coordinates are 1-based and inclusive; they are stored as continuous 0-based boxes
(xmin - 1, ymin - 1, xmax, ymax) so that a box covering the whole image is (0, 0, W, H). `difficult`
flags are kept: training drops those objects, evaluation ignores them."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .records import DetectionSource, ImageRecord
from .scan import Findings


def is_voc(root: Path) -> bool:
    return (root / "Annotations").is_dir() and (root / "ImageSets" / "Main").is_dir()


def voc_splits(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "ImageSets" / "Main").glob("*.txt") if "_" not in p.stem)


@dataclass(frozen=True)
class VocObject:
    name: str
    box: tuple[float, float, float, float]  # continuous 0-based pixels
    difficult: bool


@dataclass(frozen=True)
class VocAnnotation:
    filename: str
    width: int
    height: int
    objects: tuple[VocObject, ...]


def _text(node: ET.Element, tag: str, path: Path) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise InputError(f"{path.name}: no <{tag}>")
    return child.text.strip()


def _number(node: ET.Element, tag: str, path: Path) -> float:
    text = _text(node, tag, path)
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path.name}: <{tag}> {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{path.name}: <{tag}> {text!r} is not a finite number")
    return value


def _size(node: ET.Element, tag: str, path: Path) -> int:
    value = _number(node, tag, path)
    if value <= 0 or not value.is_integer():
        raise InputError(f"{path.name}: <{tag}> {value:g} is not a whole number of pixels > 0")
    return int(value)


def _difficult(obj: ET.Element, path: Path) -> bool:
    text = (obj.findtext("difficult") or "0").strip()
    if text not in ("0", "1"):
        raise InputError(f"{path.name}: <difficult> {text!r} is neither 0 nor 1")
    return text == "1"


def parse_voc_xml(path: Path) -> VocAnnotation:
    """One annotation file; an `InputError` naming the file and what is wrong with it."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{path.name}: not well-formed XML ({exc})") from None
    size = root.find("size")
    if size is None:
        raise InputError(f"{path.name}: no <size>")
    width, height = _size(size, "width", path), _size(size, "height", path)
    objects = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            raise InputError(f"{path.name}: an <object> has no <bndbox>")
        x1, y1, x2, y2 = (_number(bb, t, path) for t in ("xmin", "ymin", "xmax", "ymax"))
        objects.append(VocObject(_text(obj, "name", path), (x1 - 1, y1 - 1, x2, y2), _difficult(obj, path)))
    filename = root.findtext("filename", default=path.stem + ".jpg").strip()
    return VocAnnotation(filename, width, height, tuple(objects))


class VocFolder:
    """A VOC folder whose annotation files are parsed once, however many splits and the class names read them."""

    def __init__(self, root: Path):
        self.root = root
        self._parsed: dict[Path, VocAnnotation | str] = {}  # str: why the file is malformed

    def annotation(self, xml: Path) -> VocAnnotation | str:
        if xml not in self._parsed:
            try:
                self._parsed[xml] = parse_voc_xml(xml)
            except InputError as exc:
                self._parsed[xml] = str(exc)
        return self._parsed[xml]

    def class_names(self) -> tuple[str, ...]:
        """Background + the sorted object names found in all annotation files (sorted VOC names are
        exactly the standard VOC class order)."""
        findings, names = Findings(), set[str]()
        for xml in sorted((self.root / "Annotations").glob("*.xml")):
            ann = self.annotation(xml)
            if isinstance(ann, str):
                findings.add("malformed", ann)
            else:
                names.update(o.name for o in ann.objects)
        findings.raise_errors(f"{self.root}/Annotations")
        if not names:
            raise InputError(f"{self.root}/Annotations holds no annotated objects; is this a VOC folder?")
        return ("background",) + tuple(sorted(names))

    def load(self, split: str, class_names: tuple[str, ...], findings: Findings) -> DetectionSource:
        """The split's records; malformed files and unknown classes go to `findings` (the scan reports them)."""
        list_file = self.root / "ImageSets" / "Main" / f"{split}.txt"
        if not list_file.is_file():
            raise InputError(f"VOC split {split!r} not found: {list_file} is missing (splits here: {', '.join(voc_splits(self.root)) or 'none'})")
        ids = [line.split()[0] for line in list_file.read_text().splitlines() if line.strip()]
        if not ids:
            raise InputError(f"{list_file} lists no images")
        records = []
        for image_id in ids:
            rec = self._record(image_id, {name: i for i, name in enumerate(class_names)}, findings)
            if rec is not None:
                records.append(rec)
        return DetectionSource(self.root, split, tuple(class_names), records)

    def _record(self, image_id: str, index: dict[str, int], findings: Findings) -> ImageRecord | None:
        xml = self.root / "Annotations" / f"{image_id}.xml"
        ann = self.annotation(xml) if xml.is_file() else f"{image_id}: listed, but {xml.name} does not exist"
        if isinstance(ann, str):
            findings.add("malformed", ann)
            return None
        for name in sorted({o.name for o in ann.objects} - set(index)):
            findings.add("unknown_class", f"{xml.name} ({name!r})", sum(o.name == name for o in ann.objects))
        image = self.root / "JPEGImages" / ann.filename
        if not image.is_file() and (self.root / "JPEGImages" / f"{image_id}.jpg").is_file():
            image = self.root / "JPEGImages" / f"{image_id}.jpg"
        known = [o for o in ann.objects if o.name in index]
        return ImageRecord(
            path=image, width=ann.width, height=ann.height,
            boxes=np.array([o.box for o in known], dtype=np.float32).reshape(-1, 4),
            labels=np.array([index[o.name] for o in known], dtype=np.int64),
            difficult=np.array([o.difficult for o in known], dtype=bool),
        )
