"""Write fixtures/golden/pytorch-ssd-*/: what qfgaohao/pytorch-ssd's own nets and `Predictor` return, so CI
can check `ssd2ncnn convert` + `detect` + `verify` against the original code without it
(tests/test_pytorch_ssd_golden.py). Nothing of their code is stored; this script imports it from a checkout:

    python3 -m venv /work/scratch/pytorchssd/venv
    /work/scratch/pytorchssd/venv/bin/pip install /opt/wheels/torch-2.13.0+cpu-*.whl opencv-python-headless numpy
    /work/scratch/pytorchssd/venv/bin/python scripts/make_pytorch_ssd_golden.py --pytorch-ssd PATH/TO/pytorch-ssd

(`vision/transforms/transforms.py` imports torchvision for a docstring only; the script puts an empty
module in its place when torchvision is not installed.) Per case, their `create_*` builds the net with
`is_test=True`, as `run_ssd_example.py` and `eval_ssd.py` do; every conv weight is replaced by seeded random
signs times a power of two (1 bit per weight: the fixture stays small, and the values are exact in fp16);
the heads' last convs get quieter weights and spread biases (so scores differ and labels vary); BatchNorm
shifts are set to BN_SHIFT and running statistics from a training-mode pass over 8 pictures (cumulative
average), so the outputs depend on the input. Then their `Predictor` (`create_*_predictor(net, candidate_size=200)`, defaults: hard NMS
0.45, filter 0.01, no top_k) runs on 300 x 300 RGB pictures, the size their `Resize` turns into a copy.

Stored: `weights.npz` (packed sign bits + scale for conv weights, float32/int64 for the rest), the label
file under the name their training script writes (`labels.txt` by dusty-nv, `voc-model-labels.txt` /
`open-images-model-labels.txt` by qfgaohao), `images/*.png`, `predictor.npz` (per image: the Predictor's
`boxes` in pixels, `labels`, `scores`, in its order; the net's softmax `confidences` (P, C) and decoded corner
`boxes_all` (P, 4)), `priors` (their `config.priors`, centre form, clamped), `golden.json`."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SIZE = 300
# A random BatchNorm net amplifies float rounding layer by layer (its ReLUs cut half of every signal, and
# the next BatchNorm scales what is left back up); trained nets do not. A positive BatchNorm shift keeps
# most units in their linear range, and quieter heads keep the logits in a trained net's range, so the
# fixture is about as well conditioned as a trained net: float32 scores differ from float64 ones by
# 2.5e-6 to 3.8e-6 (mb1, mb2 0.5, mb3-large), against 3e-5 to 6e-5 without.
BN_SHIFT, HEAD_GAIN = 1.0, 0.25


@dataclass(frozen=True)
class Case:
    name: str
    net: str  # their train_ssd.py --net
    width: float
    class_names: tuple[str, ...]  # BACKGROUND first, as their datasets name them
    label_file: str
    seed: int
    images: int = 2
    # scale of the convs with a bias (extras and heads): mb1-ssd-lite's have no BatchNorm after them, and at
    # 1.0 its raw box regressions grow to ~16 (boxes 13 times the image), amplifying float rounding
    bias_conv_gain: float = 1.0


CASES = (
    Case("pytorch-ssd-mb1-ssd", "mb1-ssd", 1.0, ("BACKGROUND", "traffic light", "dog", "fire hydrant"), "labels.txt", 0),
    Case("pytorch-ssd-mb1-ssd-lite", "mb1-ssd-lite", 1.0, ("BACKGROUND", "bottle", "chair"), "voc-model-labels.txt", 5,
         bias_conv_gain=0.5),
    Case("pytorch-ssd-mb2-ssd-lite-w050", "mb2-ssd-lite", 0.5, ("BACKGROUND", "aeroplane", "bicycle", "bird", "boat", "bottle"), "voc-model-labels.txt", 1),
    Case("pytorch-ssd-mb2-ssd-lite-w100", "mb2-ssd-lite", 1.0, ("BACKGROUND", "person", "car"), "labels.txt", 2),
    Case("pytorch-ssd-mb3-large-ssd-lite", "mb3-large-ssd-lite", 1.0, ("BACKGROUND", "Apple", "Orange", "Traffic light", "Bus"), "open-images-model-labels.txt", 3),
    Case("pytorch-ssd-mb3-small-ssd-lite", "mb3-small-ssd-lite", 1.0, ("BACKGROUND", "cat", "dog"), "voc-model-labels.txt", 4),
)


def their_modules(checkout: Path) -> dict:
    """Their net builders and predictor factories, keyed by --net (as eval_ssd.py pairs them)."""
    sys.path.insert(0, str(checkout))
    try:
        import torchvision  # noqa: F401
    except ImportError:
        stub = types.ModuleType("torchvision")
        stub.transforms = None  # type: ignore[attr-defined]
        sys.modules["torchvision"] = stub
    from vision.ssd import mobilenet_v2_ssd_lite as mb2
    from vision.ssd import mobilenetv1_ssd as mb1
    from vision.ssd import mobilenetv1_ssd_lite as mb1l
    from vision.ssd import mobilenetv3_ssd_lite as mb3
    from vision.ssd.config import mobilenetv1_ssd_config as config

    return {
        "mb1-ssd": (lambda c, w: mb1.create_mobilenetv1_ssd(c, is_test=True), mb1.create_mobilenetv1_ssd_predictor),
        "mb1-ssd-lite": (lambda c, w: mb1l.create_mobilenetv1_ssd_lite(c, is_test=True), mb1l.create_mobilenetv1_ssd_lite_predictor),
        "mb2-ssd-lite": (lambda c, w: mb2.create_mobilenetv2_ssd_lite(c, width_mult=w, is_test=True), mb2.create_mobilenetv2_ssd_lite_predictor),
        "mb3-large-ssd-lite": (lambda c, w: mb3.create_mobilenetv3_large_ssd_lite(c, is_test=True), mb2.create_mobilenetv2_ssd_lite_predictor),
        "mb3-small-ssd-lite": (lambda c, w: mb3.create_mobilenetv3_small_ssd_lite(c, is_test=True), mb2.create_mobilenetv2_ssd_lite_predictor),
        "config": config,
    }


def pictures(seed: int, count: int) -> list[np.ndarray]:
    """RGB uint8 pictures: smooth colour fields with filled shapes (structure, no image-wide ties)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        coarse = rng.uniform(0, 255, size=(5, 5, 3)).astype(np.float32)
        image = cv2.resize(coarse, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)
        for _ in range(6):
            x0, y0 = (int(v) for v in rng.integers(-40, SIZE - 20, size=2))
            w, h = (int(v) for v in rng.integers(30, 200, size=2))
            colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
            if rng.random() < 0.5:
                cv2.ellipse(image, (x0 + w // 2, y0 + h // 2), (w // 2, h // 2), 0, 0, 360, colour, -1)
            else:
                cv2.rectangle(image, (x0, y0), (x0 + w, y0 + h), colour, -1)
        out.append(np.ascontiguousarray(image))
    return out


def heads(net) -> list[torch.nn.Conv2d]:
    """The last conv of every head (a head is a Conv2d or a Sequential ending in one)."""
    mods = list(net.classification_headers) + list(net.regression_headers)
    return [m if isinstance(m, torch.nn.Conv2d) else m[-1] for m in mods]


@torch.no_grad()
def randomise(net, gen: torch.Generator, calibration: torch.Tensor, bias_conv_gain: float) -> None:
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            step = 2.0 ** round(math.log2(2.0 / math.sqrt(m.weight[0].numel())))
            m.weight.copy_(torch.where(torch.rand(m.weight.shape, generator=gen) < 0.5, -step, step))
            if m.bias is not None:
                m.weight.mul_(bias_conv_gain)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    for conv, is_loc in [(h, i >= len(net.classification_headers)) for i, h in enumerate(heads(net))]:
        assert conv.bias is not None
        conv.weight.mul_(HEAD_GAIN)
        conv.bias.copy_(torch.randn(conv.bias.shape, generator=gen) * (0.5 if is_loc else 1.0))
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.bias.fill_(BN_SHIFT)
        bn.reset_running_stats()
        bn.momentum = None  # cumulative: one pass sets the batch statistics
    net.train()
    net(calibration)
    for bn in bns:
        bn.momentum = 0.1
        bn.running_var.clamp_(min=0.25)  # no near-constant channel blown up by 1/sqrt(eps)
    net.eval()


def packed(sd: dict[str, torch.Tensor]) -> tuple[dict[str, np.ndarray], dict[str, list[int]]]:
    arrays, shapes = {}, {}
    for key, value in sd.items():
        shapes[key] = list(value.shape)
        if value.ndim == 4:
            step = float(value.abs().max())
            assert bool((value.abs() == step).all())
            arrays[f"b:{key}"] = np.packbits((value > 0).numpy().reshape(-1))
            arrays[f"s:{key}"] = np.float32(step)
        else:
            arrays[f"t:{key}"] = value.numpy()
    return arrays, shapes


@torch.no_grad()
def write_case(case: Case, mods: dict, root: Path, commit: str) -> None:
    build, make_predictor = mods[case.net]
    gen = torch.Generator().manual_seed(case.seed)
    net = build(len(case.class_names), case.width)
    net.device = torch.device("cpu")
    calib = pictures(500 + case.seed, 8)
    transform = make_predictor(net, candidate_size=200, device=torch.device("cpu")).transform
    randomise(net, gen, torch.stack([transform(p) for p in calib]), case.bias_conv_gain)
    predictor = make_predictor(net, candidate_size=200, device=torch.device("cpu"))

    folder = root / case.name
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "images").mkdir(parents=True)
    sd = net.state_dict()
    arrays, shapes = packed(sd)
    np.savez_compressed(folder / "weights.npz", **arrays)  # type: ignore[arg-type]
    (folder / case.label_file).write_text("\n".join(case.class_names))  # their store_labels: no final newline

    stored: dict[str, np.ndarray] = {"priors": mods["config"].priors.numpy()}
    files, counts = [], []
    for i, rgb in enumerate(pictures(1000 + case.seed, case.images)):
        name = f"image{i}.png"
        cv2.imwrite(str(folder / "images" / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        # as run_ssd_example.py: imread (BGR) then BGR -> RGB
        image = cv2.cvtColor(cv2.imread(str(folder / "images" / name)), cv2.COLOR_BGR2RGB)
        boxes, labels, scores = predictor.predict(image)
        confidences, boxes_all = net(predictor.transform(image).unsqueeze(0))
        stored |= {f"{name}/boxes": boxes.numpy(), f"{name}/labels": labels.numpy(), f"{name}/scores": scores.numpy(),
                   f"{name}/confidences": confidences[0].numpy(), f"{name}/boxes_all": boxes_all[0].numpy()}
        files.append(name)
        counts.append(len(scores))
    np.savez_compressed(folder / "predictor.npz", **stored)  # type: ignore[arg-type]
    meta = {
        "case": case.name, "net": case.net, "width_mult": case.width, "num_classes": len(case.class_names),
        "class_names": list(case.class_names), "label_file": case.label_file, "seed": case.seed, "images": files,
        "input_size": SIZE, "shapes": shapes, "detections": counts,
        "source": {"repository": "qfgaohao/pytorch-ssd", "commit": commit},
        "versions": {"torch": torch.__version__, "opencv": cv2.__version__, "numpy": np.__version__},
        "command": "scripts/make_pytorch_ssd_golden.py --pytorch-ssd CHECKOUT",
    }
    (folder / "golden.json").write_text(json.dumps(meta, indent=1) + "\n")
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
    print(f"{case.name}: {counts} detections, {size:.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pytorch-ssd", type=Path, required=True, help="a checkout of qfgaohao/pytorch-ssd")
    parser.add_argument("--out", type=Path, default=REPO / "fixtures" / "golden")
    parser.add_argument("--case", action="append", help="only these cases (default: all)")
    args = parser.parse_args()
    head = subprocess.run(["git", "-C", str(args.pytorch_ssd), "rev-parse", "HEAD"], capture_output=True, text=True)
    commit = head.stdout.strip() if head.returncode == 0 else "unknown"
    mods = their_modules(args.pytorch_ssd.resolve())
    for case in CASES:
        if not args.case or case.name in args.case:
            write_case(case, mods, args.out, commit)


if __name__ == "__main__":
    main()
