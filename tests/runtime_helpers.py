"""Shared by the runtime and detect CLI tests: converted model folders and synthetic images.

A random-init model scores every prior about 1/C, so `perturb_model` makes a deterministic one with
input-dependent, varied detections: BatchNorm statistics are recomputed on synthetic scenes (with the
stock init the features barely depend on the input), then the heads' last convs get seeded weights scaled
so logits have a chosen spread, with a background bias so only some priors score high.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

INPUT_SIZE = 160
NUM_CLASSES = 4


def scene_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """A gradient background with a few filled shapes: image-like statistics without any data file."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    t = ((xx / max(width - 1, 1) + yy / max(height - 1, 1)) / 2)[..., None]
    im = Image.fromarray(((1 - t) * c0 + t * c1).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(4):
        x1, x2 = sorted(rng.uniform(0, width, 2))
        y1, y2 = sorted(rng.uniform(0, height, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x1, y1, x2, y2), fill=colour)
    return im


def perturb_model(
    model, seed: int = 0, logit_std: float = 1.5, background_bias: float = 4.0, loc_std: float = 0.3
) -> None:
    """In place, see the module docstring."""
    import torch

    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    mean = np.asarray(cfg.mean_vals, np.float32)
    norm = np.asarray(cfg.norm_vals, np.float32)
    batch = []
    for k in range(8):
        x = np.asarray(scene_image(cfg.input_size, cfg.input_size, seed=1000 + k), np.float32)
        x = x if cfg.rgb else x[..., ::-1]
        batch.append(((x - mean) * norm).transpose(2, 0, 1))
    x = torch.from_numpy(np.stack(batch))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration pass
        model.train()
        model(x)
        model.eval()
        for feat, conf, loc in zip(model.features(x), model.conf_heads, model.loc_heads, strict=True):
            for head, std in ((conf, logit_std), (loc, loc_std)):
                h = head[:-1](feat)
                scale = h.pow(2).mean().sqrt() * h.shape[1] ** 0.5  # output std per unit weight std
                head[-1].weight.normal_(0.0, float(std / scale), generator=g)
                head[-1].bias.zero_()
            conf[-1].bias.view(-1, cfg.num_classes)[:, 0] = background_bias


def build_models(root: Path) -> dict[str, Path]:
    """{"real": OUT/ of a perturbed model, "empty": the same with DetectionOutput's confidence threshold
    at 1.0 so ncnn returns an empty Mat}. Built once per `root` (a session temp folder), in-process to
    spare a second torch import."""
    import torch

    from ssd2ncnn.config import get_preset
    from ssd2ncnn.converter.convert import convert_model
    from ssd2ncnn.model.ssdlite import SSDLite
    from ssd2ncnn.ncnn_format import read_param, write_param

    real, empty = root / "real", root / "empty"
    if (empty / "model.json").exists():
        return {"real": real, "empty": empty}
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = SSDLite(
        get_preset("voc300", num_classes=NUM_CLASSES, width_mult=0.5, input_size=INPUT_SIZE)
    ).eval()
    perturb_model(model)
    convert_model(model, real, force=True)
    tmp = root / "empty.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(real, tmp)
    graph = read_param(tmp / "model.param")
    det = next(layer for layer in graph.layers if layer.type == "DetectionOutput")
    det.params[4] = 1.0  # confidence_threshold: ncnn keeps score > 1.0, i.e. nothing
    write_param(graph, tmp / "model.param")
    tmp.rename(empty)
    return {"real": real, "empty": empty}
