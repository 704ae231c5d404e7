"""`ssd2ncnn train`: train an SSDLite on a VOC or COCO folder (see docs/training.md)."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import PRESETS
from .output_option import output_option


@click.command("train")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path), help="VOC or COCO data set folder.")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default="ssdlite320", show_default=True,
              help="Anchor/normalisation preset.")
@click.option("--arch", type=click.Choice(["ssdlite", "seed"]), default=None,
              help="Network: ssdlite (paper MobileNetV3, default) or seed (ujsyehao/mobilenetv3-ssd's own).")
@click.option("--num-classes", type=int, default=None,
              help="Number of classes + 1 for the background, e.g. 21 for VOC (checked against the data).")
@click.option("--classes", default=None, help="Comma-separated class names (no background); default: from the data set.")
@click.option("--input-size", type=int, default=None, help="Network input size; anchor sizes scale with it.")
@click.option("--width-mult", type=float, default=None, help="MobileNetV3 width multiplier.")
@click.option("--epochs", type=int, default=100, show_default=True, help="Passes over the training split.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Global batch size (split over torchrun processes).")
@click.option("--lr", type=float, default=0.05, show_default=True, help="Peak learning rate after warm-up.")
@click.option("--optimizer", type=click.Choice(["sgd", "adamw"]), default="sgd", show_default=True,
              help="SGD (momentum 0.9) or AdamW (try --lr 2e-3 --weight-decay 0.05 from scratch).")
@click.option("--weight-decay", type=float, default=4e-5, show_default=True, help="L2 weight decay of the optimizer.")
@click.option("--warmup-epochs", type=float, default=1.0, show_default=True,
              help="Epochs of linear learning-rate warm-up before the cosine decay.")
@click.option("--max-expand", type=float, default=4.0, show_default=True, help="SSD zoom-out augmentation ratio (1 disables).")
@click.option("--workers", type=int, default=2, show_default=True, help="Data-loading processes per training process.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="A last.pth to continue from.")
@click.option("--backbone-weights", type=click.Path(path_type=Path), default=None,
              help="ImageNet MobileNetV3-Large weights (torchvision or timm; xiaolai-sqlai's for --arch seed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of initialisation, augmentation and sampling.")
@click.option("--train-split", default="train", show_default=True, help="Split of --data to train on.")
@click.option("--val-split", default="val", show_default=True, help="Evaluated each --eval-interval epochs when present; picks best.pth.")
@click.option("--eval-interval", type=int, default=1, show_default=True,
              help="Evaluate on --val-split every this many epochs.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available).")
@output_option("Run folder (RUN_DIR): checkpoints, train.log, metrics.", file_okay=False)
def command(data, preset, arch, num_classes, classes, input_size, width_mult, epochs, batch_size, lr, optimizer, weight_decay, warmup_epochs,
            max_expand, workers, resume, backbone_weights, seed, train_split, val_split, eval_interval, device, output) -> None:
    """Train an SSDLite detector; writes RUN_DIR/best.pth, last.pth, train.log, metrics.csv/json.

    Multi-GPU: torchrun --nproc_per_node N -m ssd2ncnn train ..."""
    from ..train.loop import TrainOptions, train

    opts = TrainOptions(
        data=data, out=output, preset=preset, arch=arch, num_classes=num_classes,
        classes=tuple(c.strip() for c in classes.split(",") if c.strip()) if classes else None,
        input_size=input_size, width_mult=width_mult, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
        weight_decay=weight_decay, warmup_epochs=warmup_epochs, max_expand=max_expand, workers=workers, resume=resume,
        backbone_weights=backbone_weights, seed=seed, train_split=train_split, val_split=val_split,
        eval_interval=eval_interval, device=device,
    )
    result = train(opts)
    if result["history"]:
        last = result["history"][-1]
        click.echo(f"done: {len(result['history'])} epochs logged, last loss {last['loss']:.4f}"
                   + (f", val mAP(07) {last['map07']:.4f}" if "map07" in last else "") + f"; checkpoints in {output}")
