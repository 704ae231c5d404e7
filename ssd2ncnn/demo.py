"""The walk-through behind `ssd2ncnn demo`, the main job on the bundled default: convert the shipped
checkpoint, verify it against PyTorch on the shipped images at two input sizes, and run detection on them,
leaving everything in one folder. The checkpoint and images are package data (ssd2ncnn/assets/demo), so
this works from an installed wheel as from a clone."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .assets import DEMO_CHECKPOINT, DEMO_IMAGES
from .checkpoint import load_model
from .converter.convert import ConvertResult, convert_model
from .errors import CheckFailed, InputError
from .jsonutil import dumps
from .modelfolder import read_info
from .runtime.detector import Detection, Detector
from .runtime.draw import draw_detections
from .verify.parity import verify
from .verify.tolerances import for_model
from .verify.verdict import VerifyReport
from .verify.verify_images import folder_images

DEMO_THRESHOLD = 0.5


@dataclass
class DemoResult:
    out: Path
    conversion: ConvertResult
    report: VerifyReport
    detections: dict[str, list[Detection]]


def run_demo(
    out: Path,
    checkpoint: Path | None = None,
    images: Path | None = None,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """`checkpoint` and `images` default to the bundled ones (`assets.DEMO_CHECKPOINT`, `DEMO_IMAGES`)."""
    checkpoint = DEMO_CHECKPOINT if checkpoint is None else Path(checkpoint)
    images = DEMO_IMAGES if images is None else Path(images)
    if not checkpoint.exists():
        raise InputError(f"checkpoint {checkpoint} does not exist; pass --checkpoint, or drop it for the bundled one")
    if not images.is_dir():
        raise InputError(f"--images {images} is not a folder; pass a folder of images, or drop it for the bundled ones")
    model = load_model(checkpoint)
    cfg = model.cfg
    # one list for both steps: a folder of pictures, or a VOC/COCO set's test split (verify_images.folder_images)
    pictures = folder_images(images, class_names=cfg.class_names)
    if not pictures:
        raise InputError(f"no images (.jpg/.png/...) in {images}; pass --images DIR, or drop it for the bundled ones")
    out.mkdir(parents=True, exist_ok=True)
    say(f"1/3 convert {checkpoint.name} ({cfg.preset}, {cfg.num_classes - 1} classes + background, width "
        f"{cfg.width_mult}, input {cfg.input_size})")
    conversion = convert_model(
        model, out / "model", force=True,
        log=lambda s: say(f"    {s.name:<9} {s.seconds:6.2f} s  {s.output} ({s.size_bytes / 1024:.0f} KB)"),
    )
    say(f"    {conversion.layer_count} layers, {conversion.blob_count} blobs")

    sizes = [cfg.input_size, cfg.input_size + 32]
    say(f"2/3 verify ncnn against PyTorch on {len(pictures)} images at sizes {sizes}")
    # the tolerances of what was written (fp32, fp16 weights or int8), read back from the folder's model.json
    info = read_info(out / "model")  # read once: verify and the detector below take it
    report = verify(model, out / "model", pictures, sizes, for_model(info), info=info)
    (out / "verify.json").write_text(dumps(report.as_dict()))
    worst = max((t for c in report.cases for t in c.tensors), key=lambda t: t.max_abs)
    say(
        f"    {'PASSED' if report.passed else 'FAILED'}: {len(report.cases)} cases; worst tensor error "
        f"{worst.max_abs:.2e} ({worst.name}, {worst.stage}); "
        f"{sum(c.detections.matched for c in report.cases)} detections matched"
    )

    say(f"3/3 detect (score > {DEMO_THRESHOLD}) and draw")
    detector = Detector(out / "model", info=info)
    drawn = out / "detections"
    drawn.mkdir(exist_ok=True)
    found: dict[str, list[Detection]] = {}
    for picture in pictures:
        image = picture.load()
        dets = detector.detect(image, DEMO_THRESHOLD)
        found[picture.name] = dets
        draw_detections(image, dets).save(drawn / f"{Path(picture.name).stem}.png")
        summary = ", ".join(f"{d.name} {d.score:.2f}" for d in dets[:6]) or "nothing"
        say(f"    {picture.name}: {len(dets)} detections ({summary}{', ...' if len(dets) > 6 else ''})")
    (out / "detections.json").write_text(
        json.dumps({name: [d.to_dict() for d in dets] for name, dets in found.items()}, indent=2) + "\n"
    )
    say(f"results in {out}/: model/ (model.param, model.bin, model.onnx, model.json), verify.json, detections/*.png")
    if not report.passed:
        raise CheckFailed("verification failed: " + "; ".join(report.failures()[:3]))
    return DemoResult(out, conversion, report, found)
