"""Training speed, part by part: images/s (and ms per batch) of matching, the loss, `train_step`, the
network's forward+backward alone, the data loader, training end to end, and evaluation; on the CPU and,
when present, on CUDA. Not a test: it prints numbers.

    PYTHONPATH=. python benchmarks/train_speed.py [--device cpu|cuda] [--batch 64] [--parts matching,loss,...]

`--baseline-ref REF` (default: the commit before matching and loss were batched) also times the
per-image matching and the indexing loss as they were at REF (read with `git show`; skipped where there
is no git history, as on the device machine). Variants measured where they mean something:
channels_last for the network and the step, persistent workers for the loader, pinned memory on CUDA.
Prints a table and one JSON line at the end."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssd2ncnn.config import get_preset  # noqa: E402
from ssd2ncnn.data.folders import open_dataset  # noqa: E402
from ssd2ncnn.data.synthetic import SHAPES, write_synthetic_voc  # noqa: E402
from ssd2ncnn.model.factory import build_model  # noqa: E402
from ssd2ncnn.model.ssdlite import flatten_heads  # noqa: E402
from ssd2ncnn.train.data import TorchDetectionDataset  # noqa: E402
from ssd2ncnn.train.distributed import DistInfo  # noqa: E402
from ssd2ncnn.train.engine import train_step  # noqa: E402
from ssd2ncnn.train.evaluate import evaluate_model, model_priors  # noqa: E402
from ssd2ncnn.train.loader import make_train_loader  # noqa: E402
from ssd2ncnn.train.loop import train  # noqa: E402
from ssd2ncnn.train.loss import multibox_loss  # noqa: E402
from ssd2ncnn.train.matching import build_targets, pad_ground_truth  # noqa: E402
from ssd2ncnn.train.options import TrainOptions  # noqa: E402
from ssd2ncnn.train.state import make_optimizer  # noqa: E402
from ssd2ncnn.train.transforms import TrainTransform  # noqa: E402

BASELINE_REF = "514d29e"  # main before the batched matching and sync-free loss
PARTS = ("matching", "loss", "step", "network", "loader", "e2e", "eval")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, warmup: int, iters: int) -> float:
    """Seconds per call, the device drained before and after."""
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / iters


def baseline_module(ref: str, relpath: str, name: str) -> types.ModuleType | None:
    """A module of ssd2ncnn as it was at `ref`, imported beside today's (its relative imports resolve
    in today's package); None without git history."""
    try:
        src = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:{relpath}"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    package = "ssd2ncnn." + relpath.split("/")[1]
    mod = types.ModuleType(f"{package}._baseline_{name}")
    mod.__package__ = package
    exec(compile(src, f"{ref}:{relpath}", "exec"), mod.__dict__)
    return mod


def random_ground_truth(n: int, max_gt: int, num_classes: int, gen: torch.Generator):
    """Per-image boxes in [0, 1] and labels, 1..max_gt objects (VOC averages about 2.5, COCO 7)."""
    boxes, labels = [], []
    for _ in range(n):
        g = int(torch.randint(1, max_gt + 1, (1,), generator=gen))
        xy = torch.rand(g, 2, generator=gen) * 0.7
        wh = torch.rand(g, 2, generator=gen) * 0.3 + 0.02
        boxes.append(torch.cat([xy, xy + wh], 1))
        labels.append(torch.randint(1, num_classes, (g,), generator=gen))
    return boxes, labels


class Report:
    def __init__(self):
        self.rows: list[dict] = []

    def add(self, part: str, variant: str, seconds: float, images: int, **extra) -> None:
        row = {"part": part, "variant": variant, "ms_per_batch": round(seconds * 1e3, 2), "images_per_s": round(images / seconds, 1), **extra}
        self.rows.append(row)
        print(f"{part:10s} {variant:34s} {row['ms_per_batch']:10.2f} ms/batch {row['images_per_s']:10.1f} img/s", flush=True)


def bench_matching(rep: Report, args, cfg, priors, device, baseline) -> None:
    gen = torch.Generator().manual_seed(0)
    boxes, labels = random_ground_truth(args.batch, args.max_gt, cfg.num_classes, gen)
    padded = pad_ground_truth(boxes, labels)  # the loader's collate does this in its workers
    rep.add("matching", "batched (padded GT)", timed(lambda: build_targets(*padded, priors, cfg.variances), device, 3, args.iters), args.batch)
    if baseline["matching"] is not None:
        fn = baseline["matching"].build_targets
        rep.add("matching", f"per-image loop ({args.baseline_ref})", timed(lambda: fn(boxes, labels, priors, cfg.variances), device, 2, args.iters), args.batch)


def bench_loss(rep: Report, args, cfg, priors, device, baseline) -> None:
    gen = torch.Generator().manual_seed(1)
    boxes, labels = random_ground_truth(args.batch, args.max_gt, cfg.num_classes, gen)
    loc_t, conf_t = build_targets(*pad_ground_truth(boxes, labels), priors, cfg.variances)
    p = priors.shape[0]
    loc = torch.randn(args.batch, p, 4, device=device, requires_grad=True)
    conf = torch.randn(args.batch, p, cfg.num_classes, device=device, requires_grad=True)

    def run(fn):
        def step():
            ll, lc = fn(loc, conf, loc_t, conf_t)
            (ll + lc).backward()
        return step

    rep.add("loss", "masked (forward+backward)", timed(run(multibox_loss), device, 3, args.iters), args.batch)
    if baseline["loss"] is not None:
        rep.add("loss", f"indexing ({args.baseline_ref})", timed(run(baseline["loss"].multibox_loss), device, 3, args.iters), args.batch)


def _model(cfg, device, channels_last: bool):
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model.train()


def bench_network(rep: Report, args, cfg, device) -> None:
    amp = device.type == "cuda"
    for cl in (False, True):
        model = _model(cfg, device, cl)
        x = torch.randn(args.batch, 3, cfg.input_size, cfg.input_size, device=device)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)

        def step(model=model, x=x):
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                locs, confs = model(x)
                loss = sum(t.float().sum() for t in locs + confs)
            loss.backward()

        rep.add("network", f"fwd+bwd{' amp' if amp else ''}{' channels_last' if cl else ''}", timed(step, device, 2, args.iters), args.batch)


def bench_step(rep: Report, args, cfg, priors, device, baseline) -> None:
    gen = torch.Generator().manual_seed(2)
    boxes, labels = random_ground_truth(args.batch, args.max_gt, cfg.num_classes, gen)
    padded = pad_ground_truth(boxes, labels)
    scaler_for = lambda: torch.amp.GradScaler("cuda") if device.type == "cuda" else None  # noqa: E731
    opts = TrainOptions(data=Path("."), out=Path("."), lr=1e-3)
    for cl in (False, True):
        model = _model(cfg, device, cl)
        opt, scaler = make_optimizer(model, opts), scaler_for()
        x = torch.randn(args.batch, 3, cfg.input_size, cfg.input_size, device=device)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        fn = lambda m=model, o=opt, s=scaler, x=x: train_step(m, x, *padded, priors, cfg, o, s, 20.0)  # noqa: E731
        rep.add("step", f"train_step{' channels_last' if cl else ''}", timed(fn, device, 2, args.iters), args.batch)
    if baseline["matching"] is not None and baseline["loss"] is not None:
        model = _model(cfg, device, False)
        opt, scaler = make_optimizer(model, opts), scaler_for()
        x = torch.randn(args.batch, 3, cfg.input_size, cfg.input_size, device=device)
        old_targets, old_loss = baseline["matching"].build_targets, baseline["loss"].multibox_loss

        def old_step():  # train_step as it was at the baseline: per-image matching, indexing loss, float() reads
            loc_t, conf_t = old_targets(boxes, labels, priors, cfg.variances)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=scaler is not None):
                loc, conf = flatten_heads(*model(x), cfg.num_classes)
            loss_l, loss_c = old_loss(loc.float(), conf.float(), loc_t, conf_t, activation=cfg.score_activation)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss_l + loss_c).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), 20.0)
                scaler.step(opt)
                scaler.update()
            else:
                (loss_l + loss_c).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 20.0)
                opt.step()
            return float(loss_l.detach()), float(loss_c.detach())

        rep.add("step", f"train_step ({args.baseline_ref})", timed(old_step, device, 2, args.iters), args.batch)


def make_data(work: Path, images: int) -> Path:
    """A VOC-like synthetic set: JPEGs of 300-500 px (VOC's are about 500x375), 1-4 objects."""
    root = work / "voc"
    if not (root / "ImageSets" / "Main" / "train.txt").exists():
        write_synthetic_voc(root, images, seed=0, size_range=(300, 500), splits={"train": 0.8, "val": 0.2}, p_difficult=0.0)
    return root


def bench_transform(rep: Report, args, cfg, data: Path, baseline) -> None:
    """One process, no loader: decode + augmentation per image, today's uint8 pipeline against the
    baseline's (whole zoom-out canvas, float normalisation in the worker), interleaved so both see the
    same machine load."""
    source = open_dataset(data, "train", cfg.class_names)
    variants = {"decode+augment (uint8 out)": TorchDetectionDataset(source, TrainTransform(cfg, seed=0))}
    if baseline["transforms"] is not None:
        variants[f"decode+augment ({args.baseline_ref})"] = TorchDetectionDataset(source, baseline["transforms"].TrainTransform(cfg, seed=0))
    n = min(len(source), 64)
    totals = dict.fromkeys(variants, 0.0)
    for rnd in range(3):
        for name, ds in variants.items():
            t0 = time.perf_counter()
            for i in range(n):
                ds[(i, rnd)]
            totals[name] += time.perf_counter() - t0
    for name, total in totals.items():
        rep.add("transform", name, total / (3 * n) * args.batch, args.batch)


def bench_loader(rep: Report, args, cfg, device, data: Path) -> None:
    source = open_dataset(data, "train", cfg.class_names)
    pins = (False, True) if device.type == "cuda" else (False,)  # pinning needs an accelerator
    for persistent in (False, True):
        for pin in pins:
            opts = TrainOptions(data=data, out=Path("."), batch_size=args.batch, workers=args.workers,
                                persistent_workers=persistent, pin_memory=pin)
            ld = make_train_loader(opts, cfg, source, DistInfo(), device)  # one process
            batches, images, t0 = 0, 0, 0.0
            for epoch in range(3):  # epoch 0 warms the page cache; 1-2 are timed, worker start-up included
                if epoch == 1:
                    t0 = time.perf_counter()
                ld.start_epoch(epoch, epoch)
                for imgs, _, _, _ in ld.loader:
                    if epoch:
                        batches, images = batches + 1, images + imgs.shape[0]
            dt = time.perf_counter() - t0
            name = f"{args.workers} workers{' persistent' if persistent else ''}{' pin_memory' if pin else ''}"
            rep.add("loader", name, dt / batches, images / batches)
            del ld


def bench_e2e_and_eval(rep: Report, args, cfg, device, data: Path, work: Path, parts: set[str]) -> None:
    opts = TrainOptions(data=data, out=work / "run", preset=args.preset, width_mult=args.width, input_size=args.size,
                        epochs=2, batch_size=args.batch, workers=args.workers, lr=0.01, val_split="none", progress=False,
                        device=str(device))
    if "e2e" in parts:
        result = train(opts)
        ips = result["history"][-1]["images_per_s"]  # epoch 2: workers and caches warm
        rep.add("e2e", f"train(), epoch 2, {args.workers} workers", args.batch / ips, args.batch)
    if "eval" in parts:
        model = build_model(cfg).to(device)
        source = open_dataset(data, "val", cfg.class_names)
        for workers in sorted({0, args.workers}):
            t0 = time.perf_counter()
            evaluate_model(model, source, batch_size=args.batch, workers=workers, device=device)
            dt = time.perf_counter() - t0
            rep.add("eval", f"{len(source)} images, {workers} workers", dt * args.batch / len(source), args.batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=None, help="default: 64 on CUDA, 16 on CPU")
    ap.add_argument("--preset", default="ssdlite320")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--max-gt", type=int, default=6, help="ground-truth boxes per image: 1..N")
    ap.add_argument("--iters", type=int, default=None, help="timed calls per measurement (default 20 CUDA, 5 CPU)")
    ap.add_argument("--workers", type=int, default=min(14, os.cpu_count() or 1))
    ap.add_argument("--images", type=int, default=None, help="synthetic images for loader/e2e/eval (default 1024 CUDA, 160 CPU)")
    ap.add_argument("--parts", default=",".join(PARTS))
    ap.add_argument("--baseline-ref", default=BASELINE_REF)
    ap.add_argument("--work", type=Path, default=None, help="folder for the synthetic data (default: a temporary one)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (on a busy shared machine 1 is steadier)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    args.batch = args.batch or (64 if cuda else 16)
    args.iters = args.iters or (20 if cuda else 5)
    args.images = args.images or (1024 if cuda else 160)
    parts = set(args.parts.split(","))
    if unknown := parts - set(PARTS):
        ap.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    if cuda:
        torch.backends.cudnn.benchmark = True
    cfg = get_preset(args.preset, class_names=["background", *SHAPES], width_mult=args.width, input_size=args.size)
    args.size = cfg.input_size
    print(f"device {device} ({torch.cuda.get_device_name(device) if cuda else f'{torch.get_num_threads()} threads'}), torch {torch.__version__}, "
          f"{args.preset} width {args.width} at {args.size} px, batch {args.batch}, load {os.getloadavg()[0]:.2f}", flush=True)
    priors = model_priors(build_model(cfg)).to(device)
    baseline = {"matching": baseline_module(args.baseline_ref, "ssd2ncnn/train/matching.py", "matching"),
                "loss": baseline_module(args.baseline_ref, "ssd2ncnn/train/loss.py", "loss"),
                "transforms": baseline_module(args.baseline_ref, "ssd2ncnn/train/transforms.py", "transforms")}
    if baseline["matching"] is None:
        print(f"(no git history for {args.baseline_ref}: baseline rows skipped)")
    else:  # the baseline's IoU too (box_iou has since become batched and in place)
        baseline["matching"].box_iou = baseline_module(args.baseline_ref, "ssd2ncnn/model/boxes.py", "boxes").box_iou  # type: ignore[union-attr]
    rep = Report()
    if "matching" in parts:
        bench_matching(rep, args, cfg, priors, device, baseline)
    if "loss" in parts:
        bench_loss(rep, args, cfg, priors, device, baseline)
    if "network" in parts:
        bench_network(rep, args, cfg, device)
    if "step" in parts:
        bench_step(rep, args, cfg, priors, device, baseline)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        if parts & {"loader", "e2e", "eval"}:
            data = make_data(work, args.images)
            if "loader" in parts:
                bench_transform(rep, args, cfg, data, baseline)
                bench_loader(rep, args, cfg, device, data)
            bench_e2e_and_eval(rep, args, cfg, device, data, work, parts)
    doc = {"device": str(device), "torch": torch.__version__, "batch": args.batch, "preset": args.preset, "width": args.width,
           "size": args.size, "rows": rep.rows}
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
