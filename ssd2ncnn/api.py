"""The Python API: what the commands do, as functions on paths and in-memory models (docs/api.md).

Each function checks its arguments, calls the same library code as its command and returns an object
instead of printing; the commands are thin layers over these. Errors are `Ssd2NcnnError`s (`InputError`
for bad input), never `SystemExit`. torch, onnx and pnnx are imported only inside `convert` and `verify`,
so `import ssd2ncnn` and the `Detector` stay light (ncnn, numpy and Pillow)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from .errors import InputError
from .modelfolder import ModelInfo, read_info

if TYPE_CHECKING:
    import torch

    from .config import SSDConfig
    from .converter.convert import StageReport
    from .model.ssdlite import SSDDetector
    from .runtime.batch import FileFailure
    from .verify.folder_check import CheckResult
    from .verify.verdict import VerifyReport
    from .verify.verify_images import VerifyImage

Source: TypeAlias = "str | os.PathLike[str] | torch.nn.Module"  # a checkpoint path, or the network itself
MIN_SIZE = 32  # the smallest input size convert exports (runtime.detector.MIN_INPUT_SIZE)


@dataclass(frozen=True)
class ModelFolder:
    """A converted model folder: its path and its parsed model.json. Usable wherever a path is (`os.fspath`)."""

    path: Path
    info: ModelInfo

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ModelFolder:
        return cls(Path(path), read_info(Path(path)))

    @property
    def config(self) -> SSDConfig:
        return self.info.config

    @property
    def class_names(self) -> list[str]:
        return list(self.info.class_names)

    def __fspath__(self) -> str:
        return str(self.path)


def _size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_SIZE:
        raise InputError(f"{what} must be an integer >= {MIN_SIZE}, got {value!r}")
    return value


def _flag(value: object, what: str) -> bool:
    """A keyword that must be True or False: `bool("false")` is True, so nothing else is accepted."""
    if not isinstance(value, bool):
        raise InputError(f"{what} must be True or False, got {value!r}")
    return value


def _load_options(num_classes: object, width_mult: object, resolution: object) -> None:
    """The loading keywords are checked here, as click checks them for the commands, not converted."""
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2):
        raise InputError(f"num_classes must be an integer >= 2 (classes + 1 for the background), got {num_classes!r}")
    if width_mult is not None and (isinstance(width_mult, bool) or not isinstance(width_mult, int | float)):
        raise InputError(f"width_mult must be a number, got {width_mult!r}")
    if resolution is not None:
        _size(resolution, "resolution")


def load_source(source: Source, source_format: str = "auto", preset: str | None = None,
                num_classes: int | None = None, width_mult: float | None = None,
                labels: str | os.PathLike[str] | None = None, resolution: int | None = None) -> SSDDetector:
    """The network behind `source`: a checkpoint file (any layout `convert` reads) or a torch.nn.Module."""
    from .checkpoint import load_model, model_from_module

    _load_options(num_classes, width_mult, resolution)
    if isinstance(source, str | os.PathLike):
        return load_model(source, preset, num_classes, width_mult, source_format, labels, resolution)
    return model_from_module(source, preset, num_classes, width_mult, source_format, labels, resolution)  # type: ignore[arg-type]


def convert(source: Source, output: str | os.PathLike[str], *, source_format: str = "auto",
            input_size: int | None = None, fp16: bool = False, force: bool = False, simplify: bool = True,
            preset: str | None = None, num_classes: int | None = None, width_mult: float | None = None,
            labels: str | os.PathLike[str] | None = None, resolution: int | None = None,
            log: Callable[[StageReport], None] | None = None) -> ModelFolder:
    """`ssd2ncnn convert`: a checkpoint path or an in-memory model -> OUTPUT/ (written atomically)."""
    from .converter.convert import convert_model

    if input_size is not None:
        _size(input_size, "input_size")
    flags = {name: _flag(value, name) for name, value in (("fp16", fp16), ("simplify", simplify), ("force", force))}
    model = load_source(source, source_format, preset, num_classes, width_mult, labels, resolution)
    convert_model(model, Path(output), input_size=input_size, log=log, **flags)
    return ModelFolder.open(output)


@dataclass
class VerifyResult:
    """What `verify` found: `.passed`, `.summary()`, `.to_dict()` (the JSON report, with the settings);
    `.write_html(path)` for people. `.report` is the `verify.verdict.VerifyReport` itself."""

    report: VerifyReport
    images: list[VerifyImage] = field(repr=False)
    settings: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.report.passed)

    @property
    def bad_files(self) -> list[tuple[str, str]]:
        """(image, why) for each image that could not be read; the others were verified."""
        return list(self.report.bad_files)

    def failures(self) -> list[str]:
        return list(self.report.failures())

    def summary(self) -> str:
        return str(self.report.summary())

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "settings": self.settings}

    def write_html(self, path: str | os.PathLike[str]) -> Path:
        """One self-contained HTML page (images embedded): `verify.html_report`."""
        from .fileio import write_text_atomic
        from .verify.html_report import render_html

        bad = {name for name, _ in self.report.bad_files}
        pictures = {im.name: im.load() for im in self.images if im.name not in bad}  # decoded again: few images
        path = Path(path)
        write_text_atomic(path, render_html(self.to_dict(), pictures))
        return path


def verify(source: Source, folder: str | os.PathLike[str], *, images: str | os.PathLike[str] | None = None,
           sizes: Sequence[int] | None = None, num_images: int | None = None, seed: int = 0,
           tolerances: dict[str, float] | None = None, use_onnx: bool = True, source_format: str = "auto",
           preset: str | None = None, num_classes: int | None = None, width_mult: float | None = None,
           labels: str | os.PathLike[str] | None = None, resolution: int | None = None,
           progress: Callable[[int, int], None] | None = None, strict: bool = False,
           warn: Callable[[str], None] | None = None) -> VerifyResult:
    """`ssd2ncnn verify`: the folder's ncnn model against `source` in PyTorch. A failed comparison, and an
    image of `images` that cannot be read (`.bad_files`), are in the result; bad input raises. An annotated
    `images` set is scanned first: its warnings go to `warn` (one line per kind), or are errors with `strict`."""
    from .verify.parity import verify as run_parity
    from .verify.tolerances import for_model
    from .verify.verify_images import folder_images, synthetic_images

    _flag(use_onnx, "use_onnx")
    _flag(strict, "strict")
    size_list = [_size(s, "each size") for s in sizes] if sizes is not None else None
    if size_list == []:
        raise InputError("sizes is empty; pass at least one input size, e.g. [300, 320]")
    if num_images is not None and (isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1):
        raise InputError(f"num_images must be a positive integer, got {num_images!r}")
    info = read_info(Path(folder))
    tol = for_model(info).override(dict(tolerances or {}))
    size_list = size_list or [info.input_size, info.input_size + 32]
    inputs = (folder_images(Path(images), limit=num_images, class_names=info.class_names, strict=strict, warn=warn) if images is not None
              else synthetic_images(num_images or 4, seed))
    model = load_source(source, source_format, preset, num_classes, width_mult, labels, resolution)
    report = run_parity(model, Path(folder), inputs, size_list, tol, use_onnx, progress, pipeline=images is not None,
                        info=info)
    if not report.cases:
        name, why = report.bad_files[0]
        raise InputError(f"none of the {len(inputs)} image(s) in {images} could be read; first: {name}: {why}")
    settings = {"folder": str(folder), "source": str(source) if isinstance(source, str | os.PathLike) else type(source).__name__,
                "images": str(images) if images is not None else f"{len(inputs)} synthetic (seed {seed})",
                "sizes": size_list, "onnxruntime": use_onnx, "class_names": list(info.class_names),
                "versions": dict(info.tools)}
    return VerifyResult(report, inputs, settings)


def check(folder: str | os.PathLike[str]) -> CheckResult:
    """`ssd2ncnn check`: the folder against its own model.json (`.passed`, `.findings`, `.passed_checks`)."""
    from .verify.folder_check import check_folder

    return check_folder(Path(folder))


@dataclass
class QuantizeResult:
    """The int8 folder, what went int8, and the calibration files that could not be read (skipped)."""

    folder: ModelFolder
    quantized: int
    float_layers: int
    images: int
    seconds: float  # calibration time
    failed: list[FileFailure]


def quantize(folder: str | os.PathLike[str], calib: str | os.PathLike[str], output: str | os.PathLike[str], *,
             num_images: int | None = None, method: str = "maxabs", percentile: float = 99.99,
             skip: Sequence[str] = (), force: bool = False, int8_depthwise: bool = False, requantize: bool = True,
             select: str = "speed", select_threads: int = 1, log: Callable[[str], None] | None = None) -> QuantizeResult:
    """`ssd2ncnn quantize`: an int8 copy of `folder` calibrated on the images in `calib`. An unreadable
    calibration image is skipped and listed in `.failed`; none readable is an InputError."""
    from .quantize.folder import quantize_folder

    for name, value in (("force", force), ("int8_depthwise", int8_depthwise), ("requantize", requantize)):
        _flag(value, name)
    res = quantize_folder(Path(folder), Path(calib), Path(output), num_images, method, percentile, list(skip),
                          force, int8_depthwise=int8_depthwise, requantize=requantize, select=select,
                          select_threads=select_threads, log=log)
    return QuantizeResult(ModelFolder.open(output), res["quantized"], res["float"], res["images"], res["seconds"],
                          res["failed"])
