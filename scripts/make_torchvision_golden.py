"""Write fixtures/golden/torchvision-*/: torchvision's own outputs for `ssdlite320_mobilenet_v3_large`, so
CI can check `ssd2ncnn convert` + `ssd2ncnn detect` against torchvision without importing it
(tests/test_torchvision_golden.py).

Runs only where torchvision imports, which is not beside the pinned torch 2.13.0 CPU build (`operator
torchvision::nms does not exist`). A scratch venv outside the repo does it:

    python3 -m venv /work/tvenv
    /work/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy pillow
    PYTHONPATH=$PWD /work/tvenv/bin/python scripts/make_torchvision_golden.py

Per case: ssd2ncnn's TorchvisionSSDLite gets the seeded "spread" weights (`model/spread_init.py`: calibrated
BatchNorm, spread head biases, so scores differ and the check can fail); every conv weight is then
rounded to a power-of-two step of 1/2 to 1 standard deviation (int8 steps), so the fixture
compresses to a few MB; those exact weights are loaded, strictly, into the model torchvision's own builder
makes, which is run with its own transform and post-processing on 320 x 320 PNGs. 320 x 320 inputs make
torchvision's resize an identity (bilinear `interpolate` to the same size, align_corners=False) and Pillow's
resize in `ssd2ncnn detect` a copy, so both sides see the same pixels; the script checks the first.

Stored: `weights.npz` (int8 steps + scale for conv weights, float32/int64 for the rest), `images/*.png`,
`torchvision.npz` (per image: detections as label, score, x1, y1, x2, y2 in pixels, the raw box
regression (P, 4); the anchors (P, 4) in pixels), `golden.json` (case, checkpoint form, versions)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection import ssdlite
from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
from torchvision.models.detection.ssd import SSD
from torchvision.models.mobilenetv3 import mobilenet_v3_large
from torchvision.transforms.functional import pil_to_tensor

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from golden_common import make_images, quantized  # noqa: E402  (scripts/ is on sys.path when run as a script)

from ssd2ncnn.config import torchvision_ssdlite320  # noqa: E402
from ssd2ncnn.importers.torchvision import COCO_91  # noqa: E402
from ssd2ncnn.model.spread_init import spread_init  # noqa: E402
from ssd2ncnn.model.tv_ssdlite import TorchvisionSSDLite  # noqa: E402

SIZE = 320


@dataclass(frozen=True)
class Case:
    name: str
    num_classes: int
    full_tail: bool
    form: str  # "state_dict" (torch.save(model.state_dict())) or "train.py" (references/detection dict)
    seed: int
    images: int


CASES = (
    Case("torchvision-coco91", 91, full_tail=False, form="state_dict", seed=0, images=2),
    Case("torchvision-finetune3", 3, full_tail=True, form="train.py", seed=1, images=2),
)


def torchvision_model(num_classes: int, full_tail: bool) -> SSD:
    """The builder's model. Its reduced tail comes with `weights_backbone=None`; the full tail needs the
    ImageNet backbone weights, which cannot be downloaded here, so the builder's steps are repeated with
    `reduced_tail=False` (torchvision/models/detection/ssdlite.py, `ssdlite320_mobilenet_v3_large`)."""
    if not full_tail:
        return ssdlite.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)
    norm = partial(torch.nn.BatchNorm2d, eps=0.001, momentum=0.03)
    backbone = ssdlite._mobilenet_extractor(mobilenet_v3_large(weights=None, norm_layer=norm, reduced_tail=False), 6, norm)
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    channels = det_utils.retrieve_out_channels(backbone, (SIZE, SIZE))
    head = ssdlite.SSDLiteHead(channels, anchors.num_anchors_per_location(), num_classes, norm)
    return SSD(backbone, anchors, (SIZE, SIZE), num_classes, head=head, score_thresh=0.001, nms_thresh=0.55,
               detections_per_img=300, topk_candidates=300, image_mean=[0.5] * 3, image_std=[0.5] * 3)


@torch.no_grad()
def write_case(case: Case, root: Path) -> dict:
    names = COCO_91 if case.num_classes == len(COCO_91) else ("background",) + tuple(f"class{i}" for i in range(1, case.num_classes))
    torch.manual_seed(case.seed)
    ours = spread_init(TorchvisionSSDLite(torchvision_ssdlite320(names, full_tail=case.full_tail)), case.seed)
    exact, arrays = quantized(ours.state_dict())
    tv = torchvision_model(case.num_classes, case.full_tail)
    tv.load_state_dict(exact, strict=True)  # the key names and shapes are torchvision's, or this raises
    tv.eval()

    folder = root / case.name
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "images").mkdir(parents=True)
    np.savez_compressed(folder / "weights.npz", **arrays)  # type: ignore[arg-type]

    images = make_images(1000 + case.seed, case.images, SIZE)
    tensors, files = [], []
    for i, image in enumerate(images):
        name = f"image{i}.png"
        image.save(folder / "images" / name)
        files.append(name)
        tensors.append(pil_to_tensor(Image.open(folder / "images" / name).convert("RGB")).float() / 255.0)

    detections = tv(tensors)
    batch, _ = tv.transform(tensors)
    identity = max(float((batch.tensors[i] - (t - 0.5) / 0.5).abs().max()) for i, t in enumerate(tensors))
    features = list(tv.backbone(batch.tensors).values())
    head = tv.head(features)
    anchors = tv.anchor_generator(batch, features)[0]
    stored: dict[str, np.ndarray] = {"anchors": anchors.numpy()}
    for i, (name, det) in enumerate(zip(files, detections, strict=True)):
        rows = torch.cat([det["labels"][:, None].float(), det["scores"][:, None], det["boxes"]], dim=1)
        stored[f"{name}/detections"] = rows.numpy()
        stored[f"{name}/bbox_regression"] = head["bbox_regression"][i].numpy()
    np.savez_compressed(folder / "torchvision.npz", **stored)  # type: ignore[arg-type]
    meta = {
        "case": case.name,
        "num_classes": case.num_classes,
        "full_tail": case.full_tail,
        "form": case.form,
        "seed": case.seed,
        "images": files,
        "keys": list(exact),
        "input_size": SIZE,
        "transform_max_change": identity,
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__},
        "command": "PYTHONPATH=$PWD /work/tvenv/bin/python scripts/make_torchvision_golden.py",
    }
    (folder / "golden.json").write_text(json.dumps(meta, indent=2) + "\n")
    counts = [len(d["scores"]) for d in detections]
    print(f"{case.name}: {counts} detections, top score {max(float(d['scores'].max()) for d in detections):.4f}, "
          f"transform change on 320x320 input {identity:g}, {sum(f.stat().st_size for f in folder.rglob('*') if f.is_file()) / 1e6:.2f} MB")
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "fixtures" / "golden")
    args = parser.parse_args()
    for case in CASES:
        write_case(case, args.out)


if __name__ == "__main__":
    main()
