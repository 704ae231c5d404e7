"""Benchmark: generate the synthetic shapes data set, train a small SSDLite on the CPU, report the VOC07
mAP on the held-out test split and the wall-clock training time, and draw docs/loss_curve.png.

    python benchmarks/train_synthetic.py --work /tmp/shapes_bench [--epochs 25] [--fixture ssd2ncnn/assets/demo/x.pth]

The defaults are the recipe of ssd2ncnn/assets/demo/shapes_ssdlite.pth (see docs/training.md): 2000 images of
128-160 px with 1-3 shapes of 25-60% of the short side (no tiny ones), voc300 anchors at input 128,
width 0.5, AdamW lr 4e-3 / weight decay 0.05, batch 16, no zoom-out, 25 epochs.
Not a test: it takes minutes. Prints one JSON line with the results at the end."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from PIL import Image, ImageDraw

from ssd2ncnn.checkpoint import load_model
from ssd2ncnn.data.folders import open_dataset
from ssd2ncnn.data.synthetic import write_synthetic_voc
from ssd2ncnn.train.evaluate import evaluate_model
from ssd2ncnn.train.loop import train
from ssd2ncnn.train.options import TrainOptions

REPO = Path(__file__).resolve().parent.parent


def draw_curve(history: list[dict], path: Path, width: int = 720, height: int = 400) -> None:
    """Training loss (and val mAP where measured) per epoch, drawn with Pillow."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 60, width - 60, 30, height - 40
    d.rectangle((left, top, right, bottom), outline="black")
    epochs = [r["epoch"] for r in history]
    losses = [r["loss"] for r in history]
    hi = max(losses) * 1.05
    n = max(epochs)

    def xy(e: float, v: float, vmax: float) -> tuple[float, float]:
        return left + (right - left) * (e - 1) / max(1, n - 1), bottom - (bottom - top) * v / vmax

    d.line([xy(e, v, hi) for e, v in zip(epochs, losses, strict=True)], fill=(200, 40, 40), width=2)
    maps = [(r["epoch"], r["map07"]) for r in history if r.get("map07") is not None]
    if maps:
        d.line([xy(e, v, 1.0) for e, v in maps], fill=(40, 80, 200), width=2)
        for e, v in maps:
            x, y = xy(e, v, 1.0)
            d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(40, 80, 200))
    for k in range(5):
        v = hi * k / 4
        d.text((8, xy(1, v, hi)[1] - 6), f"{v:.1f}", fill=(200, 40, 40))
        d.text((right + 8, xy(1, k / 4, 1.0)[1] - 6), f"{k / 4:.2f}", fill=(40, 80, 200))
    for e in sorted({1, n, *range(5, n, 5)}):
        d.text((xy(e, 0, 1)[0] - 6, bottom + 6), str(e), fill="black")
    d.text((left, 8), "training loss (red, left axis) and val mAP VOC07 (blue, right axis) per epoch", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/ssd2ncnn_shapes_bench"))
    ap.add_argument("--images", type=int, default=2000, help="total images; 80/10/10 train/val/test")
    ap.add_argument("--image-size", default="128,160", help="MIN,MAX synthetic image side")
    ap.add_argument("--object-size", default="0.25,0.6", help="MIN,MAX shape size, fraction of the short side")
    ap.add_argument("--max-objects", type=int, default=3)
    ap.add_argument("--p-difficult", type=float, default=0.0, help="fraction of tiny (difficult) shapes")
    ap.add_argument("--preset", default="voc300")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--optimizer", default="adamw", choices=["sgd", "adamw"])
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--input-size", type=int, default=128)
    ap.add_argument("--width-mult", type=float, default=0.5)
    ap.add_argument("--max-expand", type=float, default=1.0, help="zoom-out ratio (SSD: 4; objects get tiny at 128 px)")
    ap.add_argument("--eval-interval", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--curve", type=Path, default=REPO / "docs" / "loss_curve.png")
    ap.add_argument("--fixture", type=Path, default=None, help="copy best.pth here when done")
    args = ap.parse_args()

    data = args.work / "data"
    if data.exists():
        shutil.rmtree(data)
    t0 = time.perf_counter()
    write_synthetic_voc(data, args.images, seed=args.seed, size_range=tuple(int(v) for v in args.image_size.split(",")),
                        object_range=tuple(float(v) for v in args.object_size.split(",")),
                        max_objects=args.max_objects, p_difficult=args.p_difficult)
    t_data = time.perf_counter() - t0

    opts = TrainOptions(data=data, out=args.work / "run", preset=args.preset, input_size=args.input_size,
                        width_mult=args.width_mult, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        optimizer=args.optimizer, weight_decay=args.weight_decay, workers=args.workers, seed=args.seed,
                        eval_interval=args.eval_interval, max_expand=args.max_expand)
    t1 = time.perf_counter()
    result = train(opts)
    t_train = time.perf_counter() - t1

    model = load_model(opts.out / "best.pth")
    test = open_dataset(data, "test", model.cfg.class_names)
    m07 = evaluate_model(model, test, use_07=True)
    mall = evaluate_model(model, test, use_07=False)
    draw_curve(result["history"], args.curve)
    if args.fixture is not None:
        args.fixture.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(opts.out / "best.pth", args.fixture)
    report = {
        "test_map07": round(m07.map, 4), "test_map_all": round(mall.map, 4),
        "per_class_ap07": {model.cfg.class_names[c]: round(float(m07.ap[c]), 4) for c in range(1, model.cfg.num_classes)},
        "train_time_s": round(t_train, 1), "data_time_s": round(t_data, 1), "epochs": args.epochs,
        "train_images": len(open_dataset(data, "train", model.cfg.class_names)), "test_images": len(test),
        "input_size": args.input_size, "width_mult": args.width_mult, "batch_size": args.batch_size, "lr": args.lr,
        "optimizer": args.optimizer, "preset": args.preset,
    }
    (args.work / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
