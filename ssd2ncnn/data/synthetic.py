"""A synthetic detection data set: coloured shapes on noisy, textured backgrounds.

It is written to disk as a real Pascal VOC folder (and optionally a COCO JSON), so training, evaluation and
the tests go through exactly the code path real data takes. Tiny shapes are flagged `difficult` (VOC) /
`iscrowd` (COCO) to exercise the evaluation rules for them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .boxes import iou_matrix

SHAPES = ("circle", "square", "triangle")
ALL_SHAPES = ("circle", "square", "triangle", "cross", "ring")
DIFFICULT_MAX_SIZE = 12  # shapes this small (pixels) are marked difficult


@dataclass
class SyntheticObject:
    name: str
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, VOC style (inclusive corners, 1-based)
    difficult: bool


@dataclass
class SyntheticImage:
    image: Image.Image
    objects: list[SyntheticObject]


def _background(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Smooth colour gradient + blurred blobs + pixel noise: enough texture that colour alone is no cue."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(30, 220, size=3)
    gx, gy = rng.uniform(-0.5, 0.5, size=(2, 3))
    img = base + xx[..., None] * gx + yy[..., None] * gy
    blobs = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(blobs)
    for _ in range(int(rng.integers(4, 10))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(5, max(w, h) / 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    blurred = np.asarray(blobs.filter(ImageFilter.GaussianBlur(8)), dtype=np.float32)
    img = 0.6 * img + 0.4 * blurred + rng.normal(0, 12, size=(h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def textured_shapes(rng: np.random.Generator, size: int) -> Image.Image:
    """Noise plus random filled shapes, then texture everywhere: varied enough that heads see real
    structure. Flat regions would give neighbouring priors equal scores, and which of two equal scores NMS
    keeps is float noise, not something a parity check can judge."""
    base = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    img = Image.fromarray(base)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = rng.integers(0, size - 16, size=2)
        w, h = rng.integers(16, size // 2, size=2)
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([int(x0), int(y0), int(x0 + w), int(y0 + h)], fill=colour)
    noisy = np.asarray(img, dtype=np.float32) + rng.normal(0, 24, size=(size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def gradient_picture(size: int, seed: int = 0) -> np.ndarray:
    """A (size, size, 3) uint8 RGB picture for timing (bench, quantize): smooth gradients, a few filled rectangles and mild noise, so
    activations look more like a photograph's than white noise does."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    img = np.stack([200 * xx + 30, 180 * yy + 40, 120 * (1 - xx) * yy + 60], axis=-1)
    for _ in range(6):
        x0, y0 = rng.integers(0, size * 3 // 4, 2)
        w, h = rng.integers(size // 8, size // 3, 2)
        img[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _draw_shape(draw: ImageDraw.ImageDraw, name: str, box: tuple[float, float, float, float], colour: tuple[int, ...]) -> None:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if name == "circle":
        draw.ellipse(box, fill=colour)
    elif name == "square":
        draw.rectangle(box, fill=colour)
    elif name == "triangle":
        draw.polygon([(x1 + w / 2, y1), (x2, y2), (x1, y2)], fill=colour)
    elif name == "cross":
        t = max(2.0, min(w, h) / 3)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        draw.rectangle((cx - t / 2, y1, cx + t / 2, y2), fill=colour)
        draw.rectangle((x1, cy - t / 2, x2, cy + t / 2), fill=colour)
    elif name == "ring":
        draw.ellipse(box, outline=colour, width=max(2, int(min(w, h) / 5)))
    else:
        raise ValueError(f"unknown shape {name!r}")


def make_image(
    rng: np.random.Generator,
    shapes: tuple[str, ...] = SHAPES,
    size_range: tuple[int, int] = (160, 256),
    max_objects: int = 4,
    p_difficult: float = 0.15,
    object_range: tuple[float, float] = (0.12, 0.55),
) -> SyntheticImage:
    """One image with 1..max_objects non-overlapping (IoU < 0.2) shapes of `object_range` (default
    12%..55%) of the short side; a fraction `p_difficult` of them are tiny (6-12 px, difficult)."""
    w, h = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, size=2))
    img = _background(rng, w, h)
    draw = ImageDraw.Draw(img)
    short = min(w, h)
    objects: list[SyntheticObject] = []
    placed: list[tuple[float, ...]] = []
    wanted = int(rng.integers(1, max_objects + 1))
    for _ in range(wanted * 10):
        if len(objects) >= wanted:
            break
        tiny = rng.random() < p_difficult
        side = rng.uniform(6, DIFFICULT_MAX_SIZE) if tiny else rng.uniform(*object_range) * short
        aspect = math.exp(rng.uniform(-0.3, 0.3))
        bw, bh = side * aspect, side / aspect
        if bw >= w - 2 or bh >= h - 2:
            continue
        x1, y1 = rng.uniform(1, w - bw - 1), rng.uniform(1, h - bh - 1)
        box = (x1, y1, x1 + bw, y1 + bh)
        if placed and iou_matrix(box, placed).max() > 0.2:
            continue
        name = shapes[int(rng.integers(len(shapes)))]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        _draw_shape(draw, name, box, colour)
        placed.append(box)
        ib = (int(round(box[0])) + 1, int(round(box[1])) + 1, int(round(box[2])), int(round(box[3])))
        objects.append(SyntheticObject(name, ib, difficult=max(bw, bh) <= DIFFICULT_MAX_SIZE))
    return SyntheticImage(img, objects)


def _voc_xml(filename: str, width: int, height: int, objects: list[SyntheticObject]) -> str:
    parts = [
        "<annotation>",
        "  <folder>synthetic</folder>",
        f"  <filename>{escape(filename)}</filename>",
        f"  <size><width>{width}</width><height>{height}</height><depth>3</depth></size>",
    ]
    for o in objects:
        x1, y1, x2, y2 = o.box
        parts += [
            "  <object>",
            f"    <name>{escape(o.name)}</name>",
            "    <pose>Unspecified</pose><truncated>0</truncated>",
            f"    <difficult>{int(o.difficult)}</difficult>",
            f"    <bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox>",
            "  </object>",
        ]
    parts.append("</annotation>")
    return "\n".join(parts) + "\n"


def _generate(num: int, seed: int, shapes: tuple[str, ...], size_range: tuple[int, int], **image_kw):
    rng = np.random.default_rng(seed)
    for i in range(num):
        yield f"{i:06d}", make_image(rng, shapes, size_range, **image_kw)


def _split_ids(ids: list[str], splits: dict[str, float]) -> dict[str, list[str]]:
    """Consecutive slices of `ids` in the given fractions (the last split takes the remainder)."""
    out, start, names = {}, 0, list(splits)
    for k, name in enumerate(names):
        end = len(ids) if k == len(names) - 1 else start + int(round(splits[name] * len(ids)))
        out[name] = ids[start:end]
        start = end
    return out


def write_synthetic_voc(
    out_dir: str | Path,
    num_images: int,
    seed: int = 0,
    shapes: tuple[str, ...] = SHAPES,
    splits: dict[str, float] | None = None,
    size_range: tuple[int, int] = (160, 256),
    quality: int = 92,
    **image_kw,
) -> Path:
    """Write a VOC folder (JPEGImages, Annotations, ImageSets/Main/<split>.txt) and return its path.
    `splits` maps split name -> fraction; default train 0.8 / val 0.1 / test 0.1. `image_kw` goes to
    `make_image` (max_objects, p_difficult, object_range)."""
    root = Path(out_dir)
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    ids = []
    for image_id, sample in _generate(num_images, seed, shapes, size_range, **image_kw):
        sample.image.save(root / "JPEGImages" / f"{image_id}.jpg", quality=quality)
        xml = _voc_xml(f"{image_id}.jpg", sample.image.width, sample.image.height, sample.objects)
        (root / "Annotations" / f"{image_id}.xml").write_text(xml)
        ids.append(image_id)
    for name, part in _split_ids(ids, splits or {"train": 0.8, "val": 0.1, "test": 0.1}).items():
        (root / "ImageSets" / "Main" / f"{name}.txt").write_text("".join(f"{i}\n" for i in part))
    return root


def write_synthetic_coco(
    out_dir: str | Path,
    num_images: int,
    seed: int = 0,
    shapes: tuple[str, ...] = SHAPES,
    category_ids: tuple[int, ...] | None = None,
    splits: dict[str, float] | None = None,
    size_range: tuple[int, int] = (160, 256),
    coco2017: bool = False,
    **image_kw,
) -> Path:
    """Write a COCO folder: images/<file>.jpg and annotations/instances_<split>.json. Category ids are
    deliberately non-contiguous by default (as in COCO) and difficult shapes become `iscrowd` boxes.
    `coco2017` lays it out as COCO 2017 unpacks: splits train2017/val2017, images in `<split>/`, and a
    `captions_<split>.json` (no boxes, no categories) beside each instances file."""
    root = Path(out_dir)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    if coco2017:
        splits = {f"{name}2017": part for name, part in (splits or {"train": 0.8, "val": 0.2}).items()}
    cat_ids = category_ids or tuple(3 * k + 2 for k in range(len(shapes)))
    cats = [{"id": cid, "name": name, "supercategory": "shape"} for cid, name in zip(cat_ids, shapes, strict=True)]
    samples = list(_generate(num_images, seed, shapes, size_range, **image_kw))
    ids = [image_id for image_id, _ in samples]
    by_id = dict(samples)
    ann_id = 1
    for split, part in _split_ids(ids, splits or {"train": 0.8, "val": 0.2}).items():
        images, anns = [], []
        for image_id in part:
            sample = by_id[image_id]
            num = int(image_id) + 1
            image_dir = root / (split if coco2017 else "images")
            image_dir.mkdir(exist_ok=True)
            sample.image.save(image_dir / f"{image_id}.jpg", quality=92)
            images.append({"id": num, "file_name": f"{image_id}.jpg", "width": sample.image.width, "height": sample.image.height})
            for o in sample.objects:
                x1, y1, x2, y2 = o.box
                # COCO boxes are [x, y, w, h] in 0-based continuous pixels.
                bbox = [x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1]
                anns.append({
                    "id": ann_id, "image_id": num, "category_id": cat_ids[shapes.index(o.name)], "bbox": bbox,
                    "area": bbox[2] * bbox[3], "iscrowd": int(o.difficult),
                })
                ann_id += 1
        doc = {"images": images, "annotations": anns, "categories": cats}
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
        if coco2017:
            captions = [{"id": k + 1, "image_id": im["id"], "caption": "shapes"} for k, im in enumerate(images)]
            (root / "annotations" / f"captions_{split}.json").write_text(json.dumps({"images": images, "annotations": captions}))
    return root
