"""The data set scan, run on every split before any work starts (train, --val-data, eval, verify --images).

What the detection references handle is handled and counted, one warning line per kind with the first
few files: boxes past the border are clipped to the image, and zero-area, negative-size or fully-outside
boxes are dropped (torchvision references/detection/coco_utils.py, `ConvertCocoPolysToMask`: clamp to
[0, w] x [0, h], keep x2 > x1 and y2 > y1; real COCO 2017 has such boxes). What cannot be handled stops
the run with one line giving the count and the first few: missing or unreadable images, unknown classes,
malformed annotations. `strict` turns the warnings into errors too.

Images are checked from their header only (`images.open_image`: Pillow reads the header, not the
pixels), in a few threads, since on a cold disk the scan waits on file opens, not on the CPU."""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import InputError
from ..images import open_image
from .records import DetectionSource, ImageRecord, ScanReport

# Boxes may reach this far past the border without a warning (they are still clipped): VOC's 1-based
# inclusive corners and float COCO boxes put exact border boxes a fraction of a pixel out.
BORDER_TOLERANCE_PX = 1.0
SHOWN = 3  # files named per kind
THREADS = 8

# kind -> what the line says; errors first, in the order they are reported.
ERRORS = {
    "malformed": "malformed annotation(s)",
    "unknown_class": "object(s) of a class the model does not have",
    "missing_image": "missing image file(s)",
    "unreadable_image": "unreadable image file(s)",
}
WARNINGS = {
    "clipped": f"box(es) more than {BORDER_TOLERANCE_PX:g} px past the image border, clipped to it",
    "degenerate": "zero-area or negative-size box(es), dropped",
    "outside": "box(es) wholly outside the image, dropped",
    "size": "annotation(s) whose image size differs from the image file's (the file's is used)",
}
FIXES = {
    "malformed": "fix or remove those files",
    "unknown_class": "train with --classes naming them all, or evaluate a checkpoint trained on them",
    "missing_image": "restore the files or remove them from the split",
    "unreadable_image": "replace the files or remove them from the split",
}


@dataclass
class Findings:
    """Problems found while reading a data set: kind -> how many, and the files (with a detail) they
    were found in."""

    found: dict[str, dict[str, None]] = field(default_factory=dict)  # dict: ordered and de-duplicated
    counts: dict[str, int] = field(default_factory=dict)
    classes: tuple[str, ...] = ()  # the model's, named in the unknown-class error

    def add(self, kind: str, entry: str, n: int = 1) -> None:
        """`n` problems of `kind` in `entry` (a file may hold several bad boxes)."""
        self.found.setdefault(kind, {})[entry] = None
        self.counts[kind] = self.counts.get(kind, 0) + n

    def _line(self, kind: str, what: str) -> str:
        entries = list(self.found[kind])
        more = f", and {len(entries) - SHOWN} more file(s)" if len(entries) > SHOWN else ""
        return f"{self.counts[kind]} {what}: {', '.join(entries[:SHOWN])}{more}"

    def warning_lines(self) -> list[str]:
        return [self._line(k, what) for k, what in WARNINGS.items() if k in self.found]

    def raise_errors(self, where: str, strict: bool = False) -> None:
        """One `InputError` line naming every kind of error (and, with `strict`, of warning) found."""
        kinds = [k for k in ERRORS if k in self.found]
        known = f"the model has {list(self.classes[1:])}; " if self.classes else ""
        parts = [f"{self._line(k, ERRORS[k])} ({known if k == 'unknown_class' else ''}{FIXES[k]})" for k in kinds]
        if strict:
            parts += [f"{line} (--strict)" for line in self.warning_lines()]
        if parts:
            raise InputError(f"{where}: " + "; ".join(parts))


def check_boxes(rec: ImageRecord, findings: Findings) -> ImageRecord:
    """`rec` with its boxes clipped to the image and the empty ones dropped, each change counted."""
    boxes, name = rec.boxes.astype(np.float64), rec.path.name
    degenerate = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    limit = np.array([rec.width, rec.height, rec.width, rec.height], dtype=np.float64)
    clipped = np.clip(boxes, 0.0, limit)
    outside = ~degenerate & ((clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1]))
    beyond = np.maximum(-boxes[:, :2], boxes[:, 2:] - limit[2:]).max(axis=1, initial=0.0) > BORDER_TOLERANCE_PX
    for kind, mask in (("degenerate", degenerate), ("outside", outside), ("clipped", beyond & ~degenerate & ~outside)):
        if mask.any():
            findings.add(kind, name, int(mask.sum()))
    keep = ~(degenerate | outside)
    return replace(rec, boxes=clipped[keep].astype(np.float32), labels=rec.labels[keep], difficult=rec.difficult[keep])


def _header(rec: ImageRecord) -> tuple[str, str] | tuple[int, int]:
    """(width, height) as a viewer shows the image (EXIF orientation applied, as `load_image` does), or
    (kind, detail) when the file cannot be opened."""
    shown = f"{rec.path.parent.name}/{rec.path.name}"
    if not rec.path.is_file():
        return "missing_image", shown
    try:
        with open_image(rec.path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)  # EXIF Orientation; 5-8 turn the image by 90 degrees
    except InputError as exc:
        return "unreadable_image", f"{shown} ({str(exc).replace(str(rec.path), '').strip(' :')})"
    except (OSError, SyntaxError, ValueError) as exc:  # a corrupt EXIF block
        return "unreadable_image", f"{shown} ({exc})"
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def check_images(records: list[ImageRecord], findings: Findings) -> list[ImageRecord]:
    """The records whose image files open, each with the size its file declares."""
    with ThreadPoolExecutor(THREADS) as pool:
        headers = list(pool.map(_header, records))
    out = []
    for rec, head in zip(records, headers, strict=True):
        if isinstance(head[0], str):
            findings.add(str(head[0]), str(head[1]))
            continue
        w, h = int(head[0]), int(head[1])
        if (w, h) != (rec.width, rec.height):
            findings.add("size", f"{rec.path.name} ({rec.width}x{rec.height} annotated, {w}x{h} in the file)")
            rec = replace(rec, width=w, height=h)
        out.append(rec)
    return out


def scan_source(source: DetectionSource, findings: Findings | None = None, strict: bool = False) -> DetectionSource:
    """Check `source`'s images (headers) and boxes, after `findings` of the reading (malformed
    annotations, unknown classes, missing files) were collected; raise one `InputError` line for the
    errors (and, with `strict`, the warnings); return the cleaned source, its `scan` holding the
    warning lines and the time the scan took."""
    findings = findings or Findings()
    t0 = time.perf_counter()
    records = [check_boxes(rec, findings) for rec in check_images(source.records, findings)]
    findings.raise_errors(f"{source.root} [{source.split}]", strict)
    report = ScanReport(len(source.records), time.perf_counter() - t0, tuple(findings.warning_lines()))
    return replace(source, records=records, scan=report)


def merge_reports(sources: Iterable[DetectionSource]) -> ScanReport:
    """The scans of several sources as one; each warning line names its root and split."""
    items = [(s, s.scan) for s in sources if s.scan is not None]
    return ScanReport(sum(r.images for _, r in items), sum(r.seconds for _, r in items),
                      tuple(f"{s.root.name}/{s.split}: {w}" for s, r in items for w in r.warnings))
