"""`ssd2ncnn train`: train an SSDLite on VOC or COCO folders (see docs/training.md)."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import PRESET_ARCHES, PRESETS
from ..train.options import DEFAULTS as D
from ..train.options import OPTIMIZERS
from ..train.schedule import SCHEDULES
from .list_option import IntList, NameList
from .output_option import output_option


@click.command("train")
@click.option("--data", "data", required=True, multiple=True, type=click.Path(path_type=Path),
              help="VOC or COCO data set folder; repeat for several (e.g. --data VOC2007 --data VOC2012), classes must agree.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=D["preset"], show_default=True,
              help="Anchor/normalisation preset.")
@click.option("--arch", type=click.Choice(PRESET_ARCHES), default=None,
              help="Network: ssdlite (paper MobileNetV3, default) or seed (ujsyehao/mobilenetv3-ssd's own).")
@click.option("--num-classes", type=int, default=None,
              help="Number of classes + 1 for the background, e.g. 21 for VOC (checked against the data).")
@click.option("--classes", type=NameList(), default=None, help="Comma-separated class names (no background); default: from the data set.")
@click.option("--input-size", type=int, default=None, help="Network input size; anchor sizes scale with it.")
@click.option("--width-mult", type=float, default=None, help="MobileNetV3 width multiplier.")
@click.option("--epochs", type=int, default=D["epochs"], show_default=True, help="Passes over the training split.")
@click.option("--batch-size", type=int, default=D["batch_size"], show_default=True, help="Global batch size (split over torchrun processes).")
@click.option("--lr", type=float, default=D["lr"], show_default=True, help="Peak learning rate after warm-up.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=D["optimizer"], show_default=True,
              help="SGD or AdamW (try --lr 2e-3 --weight-decay 0.05 from scratch).")
@click.option("--momentum", type=float, default=D["momentum"], show_default=True, help="SGD momentum.")
@click.option("--weight-decay", type=float, default=D["weight_decay"], show_default=True, help="L2 weight decay of the optimizer.")
@click.option("--schedule", type=click.Choice(SCHEDULES), default=D["schedule"], show_default=True,
              help="Cosine decay to 1% of --lr, or x --lr-gamma after each of --lr-steps.")
@click.option("--lr-steps", type=IntList(example="16,22"), default=None, help="Step schedule: epochs after which the rate drops, e.g. 16,22.")
@click.option("--lr-gamma", type=float, default=D["lr_gamma"], show_default=True, help="Step schedule: the factor of each drop.")
@click.option("--warmup-epochs", type=float, default=D["warmup_epochs"], show_default=True,
              help="Epochs of linear learning-rate warm-up before the schedule.")
@click.option("--warmup-iters", type=int, default=None, help="Warm-up length in steps (overrides --warmup-epochs).")
@click.option("--warmup-ratio", type=float, default=D["warmup_ratio"], show_default=True, help="Warm-up starts at this share of the rate.")
@click.option("--grad-clip", type=float, default=D["grad_clip"], show_default=True, help="Max gradient norm (0: no clipping).")
@click.option("--max-expand", type=float, default=D["max_expand"], show_default=True, help="SSD zoom-out augmentation ratio (1 disables).")
@click.option("--repeat", type=int, default=D["repeat"], show_default=True, help="Passes over the training set per epoch.")
@click.option("--sync-bn", is_flag=True, help="SyncBatchNorm across torchrun processes (CUDA; for small per-GPU batches).")
@click.option("--channels-last/--no-channels-last", default=None, help="Channels-last memory format (default: on CUDA).")
@click.option("--workers", type=int, default=D["workers"], show_default=True, help="Data-loading processes per training process.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="A last.pth to continue from.")
@click.option("--backbone-weights", type=click.Path(path_type=Path), default=None,
              help="ImageNet MobileNetV3-Large weights (torchvision or timm; xiaolai-sqlai's for --arch seed).")
@click.option("--seed", type=int, default=D["seed"], show_default=True, help="Seed of initialisation, augmentation and sampling.")
@click.option("--train-split", type=NameList(), default=D["train_split"], show_default=True, help="Split of every root, or one per root: trainval,trainval.")
@click.option("--val-data", type=click.Path(path_type=Path), default=None, help="Folder of the val split (default: the first --data).")
@click.option("--val-split", default=D["val_split"], show_default=True, help="Evaluated each --eval-interval epochs when present; picks best.pth.")
@click.option("--eval-interval", type=int, default=D["eval_interval"], show_default=True,
              help="Evaluate on --val-split every this many epochs.")
@click.option("--log-interval", type=int, default=D["log_interval"], show_default=True, help="Steps between loss reads (progress, divergence check).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available).")
@click.option("--strict", is_flag=True,
              help="Data set warnings (boxes past the border clipped, empty or outside boxes dropped) are errors.")
@click.option("--tensorboard", is_flag=True, help="Also log the per-epoch scalars to RUN_DIR/tensorboard (needs the tensorboard package).")
@output_option("Run folder (RUN_DIR): checkpoints, train.log, metrics, curves.png.", file_okay=False)
def command(data, preset, arch, num_classes, classes, input_size, width_mult, epochs, batch_size, lr, optimizer, momentum,
            weight_decay, schedule, lr_steps, lr_gamma, warmup_epochs, warmup_iters, warmup_ratio, grad_clip, max_expand, repeat,
            sync_bn, channels_last, workers, resume, backbone_weights, seed, train_split, val_data, val_split, eval_interval,
            log_interval, device, strict, tensorboard, output) -> None:
    """Train an SSDLite detector; writes RUN_DIR/best.pth, last.pth, train.log, metrics.csv/json, curves.png.

    Multi-GPU: torchrun --nproc_per_node N -m ssd2ncnn train ... [--sync-bn]"""
    from ..train.loop import train
    from ..train.options import TrainOptions

    opts = TrainOptions(
        data=list(data), out=output, preset=preset, arch=arch, num_classes=num_classes,
        classes=classes,
        input_size=input_size, width_mult=width_mult, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
        momentum=momentum, weight_decay=weight_decay, schedule=schedule, lr_steps=lr_steps or (),
        lr_gamma=lr_gamma, warmup_epochs=warmup_epochs, warmup_iters=warmup_iters, warmup_ratio=warmup_ratio,
        grad_clip=grad_clip, max_expand=max_expand, repeat=repeat, sync_bn=sync_bn, channels_last=channels_last,
        workers=workers, resume=resume, backbone_weights=backbone_weights, seed=seed, train_split=list(train_split),
        val_data=val_data, val_split=val_split, eval_interval=eval_interval, log_interval=log_interval, device=device,
        strict=strict, tensorboard=tensorboard,
    )
    result = train(opts)
    if result["history"]:
        last = result["history"][-1]
        click.echo(f"done: {len(result['history'])} epochs logged, last loss {last['loss']:.4f}"
                   + (f", val mAP(07) {last['map07']:.4f}" if "map07" in last else "") + f"; checkpoints in {output}")
