"""The main job on the bundled default: convert the shipped checkpoint, verify it against PyTorch on
the shipped images at two input sizes, and run detection on them, leaving everything in one folder."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import load_model
from .converter.convert import ConvertResult, convert_model
from .errors import CheckFailed, InputError
from .jsonutil import dumps
from .modelfolder import read_info
from .runtime.detector import Detection, Detector
from .runtime.draw import draw_detections
from .runtime.images import list_images, load_image
from .verify.inputs import folder_images
from .verify.parity import VerifyReport, verify
from .verify.tolerances import for_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEFAULT_CHECKPOINT = FIXTURES / "model" / "shapes_ssdlite.pth"
DEFAULT_IMAGES = FIXTURES / "images"
DEMO_THRESHOLD = 0.5


@dataclass
class DemoResult:
    out: Path
    conversion: ConvertResult
    report: VerifyReport
    detections: dict[str, list[Detection]]


def run_demo(
    out: Path,
    checkpoint: Path = DEFAULT_CHECKPOINT,
    images: Path = DEFAULT_IMAGES,
    say: Callable[[str], None] = print,
) -> DemoResult:
    if not checkpoint.exists():
        raise InputError(f"the bundled checkpoint {checkpoint} is missing; run from a full clone of the repository")
    paths = list_images(images) if images.is_dir() else []
    if not paths:
        raise InputError(f"no sample images in {images}")
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(checkpoint)
    cfg = model.cfg
    say(f"1/3 convert {checkpoint.name} ({cfg.preset}, {cfg.num_classes - 1} classes, width {cfg.width_mult}, input {cfg.input_size})")
    conversion = convert_model(
        model, out / "model", force=True,
        log=lambda s: say(f"    {s.name:<9} {s.seconds:6.2f} s  {s.output} ({s.size_bytes / 1024:.0f} KB)"),
    )
    say(f"    {conversion.layer_count} layers, {conversion.blob_count} blobs")

    sizes = [cfg.input_size, cfg.input_size + 32]
    say(f"2/3 verify ncnn against PyTorch on {len(paths)} images at sizes {sizes}")
    report = verify(model, out / "model", folder_images(images), sizes, for_model(read_info(out / "model")))
    (out / "verify.json").write_text(dumps(report.as_dict()))
    worst = max((t for c in report.cases for t in c.tensors), key=lambda t: t.max_abs)
    say(
        f"    {'PASSED' if report.passed else 'FAILED'}: {len(report.cases)} cases; worst tensor error "
        f"{worst.max_abs:.2e} ({worst.name}, {worst.stage}); "
        f"{sum(c.detections.matched for c in report.cases)} detections matched"
    )

    say(f"3/3 detect (score > {DEMO_THRESHOLD}) and draw")
    detector = Detector(out / "model")
    drawn = out / "detections"
    drawn.mkdir(exist_ok=True)
    found: dict[str, list[Detection]] = {}
    for path in paths:
        image = load_image(path)
        dets = detector.detect(image, DEMO_THRESHOLD)
        found[path.name] = dets
        draw_detections(image, dets).save(drawn / f"{path.stem}.png")
        summary = ", ".join(f"{d.name} {d.score:.2f}" for d in dets[:6]) or "nothing"
        say(f"    {path.name}: {len(dets)} detections ({summary}{', ...' if len(dets) > 6 else ''})")
    (out / "detections.json").write_text(
        json.dumps({name: [d.to_dict() for d in dets] for name, dets in found.items()}, indent=2) + "\n"
    )
    say(f"results in {out}/: model/ (model.param, model.bin, model.onnx, model.json), verify.json, detections/*.png")
    if not report.passed:
        raise CheckFailed("verification failed: " + "; ".join(report.failures()[:3]))
    return DemoResult(out, conversion, report, found)
