"""Write fixtures/golden/mmdet-*/: what mmdetection's own SSDLite MobileNetV2 returns, so CI can check
`ssd2ncnn convert` + `ssd2ncnn detect` against mmdetection without importing it (tests/test_mmdet_golden.py).

mmdetection 3.3.0, mmengine 0.10 and mmcv-lite 2.1.0 install from PyPI beside the pinned torch 2.13.0 CPU
build (nothing pulls another torch); mmcv-lite lacks mmcv's compiled ops (`mmcv._ext`), which mmdet imports
at start-up. `install_cpu_nms` below provides the one op the SSD head runs, `nms`, as mmcv's CPU kernel
computes it (mmcv/ops/csrc/pytorch/cpu/nms.cpp, `nms_cpu`: float32, sort by score descending, drop
`ovr > iou_threshold`, offset 0); every other op raises if called. Everything else is mmdetection's own
code: the config file shipped in the wheel, the model, `inference_detector` (its test pipeline, data
preprocessor, SSDAnchorGenerator, DeltaXYWHBBoxCoder, filter_scores_and_topk, min_bbox_size, batched_nms).

    python3 -m venv /work/scratch/mmdet/venv
    /work/scratch/mmdet/venv/bin/pip install /path/to/torch-2.13.0+cpu-*.whl
    /work/scratch/mmdet/venv/bin/pip install mmdet==3.3.0 mmengine==0.10.7 mmcv-lite==2.1.0
    PYTHONPATH=$PWD /work/scratch/mmdet/venv/bin/python scripts/make_mmdet_golden.py

Per case: Kaiming-normal convolutions, then BatchNorm statistics calibrated on other pictures of the same kind and the
final head convs re-drawn with spread biases (the recipe of ssd2ncnn's `model/spread_init.py`, applied here to
mmdet's module names); the background logit (mmdet's LAST class channel) is raised by `background_bias`
so that, as in a trained detector, most (prior, class) pairs fall below score_thr. Conv weights are
rounded to power-of-two int8 steps (`golden_common.quantized`) and loaded back strictly. Images are
320 x 320 PNGs, for which mmdet's Resize (cv2 bilinear to 320 x 320) is a copy.

Stored: `weights.npz` (mmdet's own keys and channel order), `images/*.png`, `mmdet.npz` (per image: the
detections as mmdet label (0-based, no background), score, x1, y1, x2, y2 in pixels; the flattened box
regression (P, 4); per level the number of (prior, class) pairs above score_thr; the anchors (P, 4) in
pixels), `golden.json`, and once `mmengine_meta.pth`: the `meta` and `message_hub` a 3.x Runner saves
beside the weights, written by mmengine itself (HistoryBuffer, numpy scalars), to test the restricted
unpickler on real bytes."""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import shutil
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SIZE = 320


def install_cpu_nms() -> None:
    """A stand-in `mmcv._ext` module: `nms` as mmcv's CPU kernel, every other op an error when called."""
    def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int) -> torch.Tensor:
        if boxes.numel() == 0:
            return torch.empty(0, dtype=torch.long)
        x1, y1, x2, y2 = (boxes[:, k].contiguous().numpy() for k in range(4))
        off = np.float32(offset)
        areas = (x2 - x1 + off) * (y2 - y1 + off)
        order_t = scores.sort(0, descending=True)[1]
        order = order_t.numpy()
        select = np.ones(len(order), dtype=bool)
        thr = np.float32(iou_threshold)
        for a in range(len(order)):
            if not select[a]:
                continue
            i, rest = order[a], order[a + 1:]
            w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + off)
            h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + off)
            inter = w * h
            ovr = inter / (areas[i] + areas[rest] - inter)
            select[a + 1:] &= ~(ovr > thr)
        return order_t[torch.from_numpy(select)]

    def missing(name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def op(*args, **kwargs):
            raise NotImplementedError(f"mmcv op {name} is not available in mmcv-lite")
        return op

    ext = types.ModuleType("mmcv._ext")
    ext.__spec__ = importlib.machinery.ModuleSpec("mmcv._ext", None)  # no loader: mmengine's probe says "no mmcv-full"
    ext.nms = nms  # type: ignore[attr-defined]
    ext.__getattr__ = missing  # type: ignore[attr-defined]
    sys.modules["mmcv._ext"] = ext


install_cpu_nms()
sys.path.insert(0, str(REPO))

import mmdet  # noqa: E402
import mmengine  # noqa: E402
from golden_common import make_images, quantized  # noqa: E402  (scripts/ is on sys.path when run as a script)
from mmdet.apis import inference_detector, init_detector  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MessageHub  # noqa: E402

CONFIG = Path(mmdet.__file__).parent / ".mim" / "configs" / "ssd" / "ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py"


@dataclass(frozen=True)
class Case:
    name: str
    classes: tuple[str, ...] | None  # None: the config's COCO 80
    form: str  # "3.x" (mmengine Runner) or "2.x" (mmcv runner, meta["CLASSES"])
    seed: int
    background_bias: float
    images: int


CASES = (
    Case("mmdet-coco80", None, form="3.x", seed=0, background_bias=7.0, images=2),
    Case("mmdet-custom3", ("cat", "traffic light", "dog"), form="2.x", seed=1, background_bias=6.0, images=2),
)


def build(case: Case):
    cfg = Config.fromfile(str(CONFIG))
    if case.classes is not None:
        cfg.model.bbox_head.num_classes = len(case.classes)
    torch.manual_seed(case.seed)
    model = init_detector(cfg, checkpoint=None, device="cpu")
    for m in model.modules():  # the project's start (model/ssdlite.init_conv_bn): mmdet's TruncNormal(0.03)
        if isinstance(m, torch.nn.Conv2d):  # leaves activations too small to depend on the picture
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out")
    # mmdet 3.3.0's BaseDenseHead._predict_by_feat_single reads `self.loss_cls`, which SSDHead never sets
    # (open-mmlab/mmdetection#11063, #11780; fix proposed in PR #11524): the users' workaround, an attribute
    # without `custom_cls_channels`, so the softmax branch runs as in 3.0-3.2 and 2.x.
    model.bbox_head.loss_cls = types.SimpleNamespace()
    return model


def calibration_batch(seed: int, count: int = 4) -> torch.Tensor:
    """Pictures of the fixture's kind, normalised as the config's data preprocessor does: noise would
    calibrate BatchNorm for high frequencies that smooth pictures lack, and the maps would stop depending
    on the picture after a few stages."""
    mean = torch.tensor([123.675, 116.28, 103.53])[:, None, None]
    std = torch.tensor([58.395, 57.12, 57.375])[:, None, None]
    pictures = [torch.from_numpy(np.array(im)).permute(2, 0, 1).float() for im in make_images(3000 + seed, count, SIZE)]
    return (torch.stack(pictures) - mean) / std


@torch.no_grad()
def spread(model, case: Case) -> None:
    """model/spread_init.py's recipe on mmdet's modules, plus the background bias (mmdet's last class channel)."""
    gen = torch.Generator().manual_seed(case.seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    model.bbox_head(model.extract_feat(calibration_batch(case.seed)))
    for bn in bns:
        bn.momentum = 0.03
        # a floor on the variance, as model/spread_init.py, but lower: with 0.25, MobileNetV2's inverted residuals
        # shrink the picture's part of the activations ~10x per stage (conv2: 3e-7 of the activation)
        bn.running_var.clamp_(min=1e-2)
    head = model.bbox_head
    per_class = head.cls_out_channels
    for convs, bias_std in ((head.reg_convs, 0.5), (head.cls_convs, 1.0)):
        for seq in convs:
            conv = seq[-1]
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / conv.in_channels**0.5))
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=gen) * bias_std)
    for seq in head.cls_convs:
        seq[-1].bias[per_class - 1::per_class] += case.background_bias
    model.eval()


def run(model, image: Path):
    """mmdet's inference on one file, and what its bbox_head forward returned (a forward hook)."""
    seen: list = []
    handle = model.bbox_head.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        result = inference_detector(model, str(image))
    finally:
        handle.remove()
    return result, seen[-1]


def level_counts(cls_scores: list[torch.Tensor], per_class: int, score_thr: float) -> list[int]:
    """(prior, class) pairs above score_thr per level, from mmdet's own maps (softmax, background dropped)."""
    counts = []
    for cls in cls_scores:
        scores = cls[0].permute(1, 2, 0).reshape(-1, per_class).softmax(-1)[:, :-1]
        counts.append(int((scores > score_thr).sum()))
    return counts


@torch.no_grad()
def write_case(case: Case, root: Path) -> dict:
    model = build(case)
    spread(model, case)
    exact, arrays = quantized(model.state_dict())
    model.load_state_dict(exact, strict=True)
    folder = root / case.name
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "images").mkdir(parents=True)
    np.savez_compressed(folder / "weights.npz", **arrays)  # type: ignore[arg-type]

    head = model.bbox_head
    stored: dict[str, np.ndarray] = {}
    files, counts = [], {}
    for i, image in enumerate(make_images(2000 + case.seed, case.images, SIZE)):
        name = f"image{i}.png"
        image.save(folder / "images" / name)
        files.append(name)
        result, (cls_scores, bbox_preds) = run(model, folder / "images" / name)
        inst = result.pred_instances
        rows = torch.cat([inst.labels[:, None].float(), inst.scores[:, None], inst.bboxes], dim=1)
        stored[f"{name}/detections"] = rows.numpy()
        stored[f"{name}/bbox_regression"] = torch.cat([b[0].permute(1, 2, 0).reshape(-1, 4) for b in bbox_preds]).numpy()
        counts[name] = level_counts(cls_scores, head.cls_out_channels, model.cfg.model.test_cfg.score_thr)
        if i == 0:
            sizes = [tuple(c.shape[-2:]) for c in cls_scores]
            stored["anchors"] = torch.cat(head.prior_generator.grid_priors(sizes, device="cpu")).numpy()
    np.savez_compressed(folder / "mmdet.npz", **stored)  # type: ignore[arg-type]
    names = case.classes or tuple(model.dataset_meta["classes"])
    meta = {
        "case": case.name, "form": case.form, "seed": case.seed, "background_bias": case.background_bias,
        "classes": list(names), "images": files, "keys": list(exact), "input_size": SIZE,
        "candidates_per_level": counts, "test_cfg": model.cfg.model.test_cfg.to_dict(),
        "versions": {"torch": torch.__version__, "mmdet": mmdet.__version__, "mmengine": mmengine.__version__, "numpy": np.__version__},
        "command": "PYTHONPATH=$PWD /work/scratch/mmdet/venv/bin/python scripts/make_mmdet_golden.py",
    }
    (folder / "golden.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{case.name}: {[len(stored[f'{n}/detections']) for n in files]} detections, candidates per level {counts}, "
          f"{sum(f.stat().st_size for f in folder.rglob('*') if f.is_file()) / 1e6:.2f} MB")
    return meta


def write_mmengine_meta(path: Path) -> None:
    """A 3.x Runner checkpoint without its weights: `meta` (cfg text, dataset_meta, versions) and the
    `message_hub` state dict with HistoryBuffers of numpy values, pickled by mmengine itself."""
    cfg = Config.fromfile(str(CONFIG))
    hub = MessageHub.get_instance("golden")
    for it in range(3):
        hub.update_scalar("train/loss", np.float64(2.5 - it * 0.25))
        hub.update_scalar("train/lr", 0.015)
    hub.update_info("epoch", 120)
    hub.update_info("iter", 3 * 120)
    meta = {
        "cfg": cfg.pretty_text, "seed": 0, "experiment_name": "ssdlite_golden", "time": "20260101_000000",
        "mmengine_version": mmengine.__version__, "epoch": 120, "iter": 360,
        "dataset_meta": {"classes": ("cat", "traffic light", "dog"), "palette": [(220, 20, 60), (119, 11, 32), (0, 0, 142)]},
    }
    torch.save({"meta": meta, "message_hub": hub.state_dict()}, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "fixtures" / "golden")
    args = parser.parse_args()
    for case in CASES:
        write_case(case, args.out)
    write_mmengine_meta(args.out / "mmdet-custom3" / "mmengine_meta.pth")


if __name__ == "__main__":
    main()
