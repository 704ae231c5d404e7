"""`detect` over many files: read ahead, detect in input order, draw and write behind (`runtime.batch`),
one result or failure record per file, so one bad file never stops the others."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import InputError
from ..fileio import umask_mode
from .batch import FileFailure, WriteBehind, pool_size, read_ahead
from .detector import Detection, Detector, PreparedInput
from .draw import draw_detections
from .drawn_files import AUTO, drawn_format, output_paths, save_drawn
from .images import load_image


@dataclass
class FileResult:
    path: Path
    width: int
    height: int
    detections: list[Detection]
    dropped: int  # detection_out rows with non-finite values or unknown labels (Detector.last_dropped)
    drawn: Path | None  # where the drawn copy is being written

    def to_dict(self) -> dict[str, Any]:
        return {"image": str(self.path), "width": self.width, "height": self.height,
                "detections": [d.to_dict() for d in self.detections]}


def _draw_and_save(image: Image.Image, dets: list[Detection], target: Path, fmt: str, mode: int) -> None:
    save_drawn(draw_detections(image, dets), target, fmt, mode)


def _reader(detector: Detector) -> Callable[[Path], tuple[Image.Image, PreparedInput]]:
    """Decoding and ncnn's pre-processing, for the reader threads: the main thread only runs the net."""
    def read(path: Path) -> tuple[Image.Image, PreparedInput]:
        image = load_image(path)
        return image, detector.prepare(image)
    return read


def prepare_output(paths: Sequence[Path], output: Path | None, fmt: str = AUTO) -> dict[Path, Path]:
    """Each input's drawn file, checked before any work (clashing names, -o not a folder); the folder made."""
    if output is None:
        return {}
    targets = output_paths(list(paths), output, fmt)
    if output.exists() and not output.is_dir():
        raise InputError(f"-o {output} exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
    return targets


def detect_files(detector: Detector, paths: Sequence[Path], threshold: float | None, output: Path | None = None,
                 fmt: str = AUTO, workers: int | None = None) -> Iterator[FileResult | FileFailure]:
    """One record per input in input order (drawn files' write failures come last, once all are written).
    `workers`: reader and writer threads each, 0 for none (default `batch.pool_size`: the cores ncnn's
    own threads leave free)."""
    targets = prepare_output(paths, output, fmt)
    mode = umask_mode()  # once, here: reading the umask sets it, which threads must not race on
    if workers is None:
        workers = pool_size(detector.num_threads)
    with WriteBehind(workers) as writer:
        for path, read in read_ahead(_reader(detector), paths, workers):
            if isinstance(read, FileFailure):
                yield read
                continue
            image, prepared = read
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # counted in `dropped` instead
                dets = detector.detect_prepared(prepared, threshold)
            target = targets.get(path)
            if target is not None:
                writer.submit(path, _draw_and_save, image, dets, target, drawn_format(path, fmt), mode)
            yield FileResult(path, image.width, image.height, dets, detector.last_dropped, target)
        yield from writer.close()
