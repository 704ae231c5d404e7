"""`ssd2ncnn eval`: VOC mAP of a checkpoint on a data set split."""

from __future__ import annotations

from pathlib import Path

import click

from .model_options import load_kwargs, model_options


@click.command("eval")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--data", "data", required=True, type=click.Path(path_type=Path), help="VOC or COCO data set folder.")
@click.option("--split", default="test", show_default=True, help="Split of --data to evaluate (VOC ImageSets/Main/<split>.txt).")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Images per forward pass.")
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True, help="Image-decoding processes (0: in this one).")
@model_options
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None, help="Also write the results here.")
@click.option("--pr-plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw each class's precision-recall curve into this PNG.")
@click.option("--strict", is_flag=True,
              help="Data set warnings (boxes past the border clipped, empty or outside boxes dropped) are errors.")
def command(checkpoint, data, split, batch_size, workers, source, preset, num_classes, width_mult, labels, resolution, device,
            json_out,
            pr_plot, strict) -> None:
    """Per-class AP and mAP at IoU 0.5, VOC07 11-point and all-point (difficult objects ignored)."""
    import json

    from rich.console import Console
    from rich.table import Table

    from ..checkpoint import load_model
    from ..data.folders import open_dataset
    from ..data.metrics import evaluate_detections
    from ..train.distributed import resolve_device
    from ..train.evaluate import ground_truth, predict

    dev = resolve_device(device)  # first: a bad --device fails before the model and data are read
    model = load_model(checkpoint, **load_kwargs(source, preset, num_classes, width_mult, labels, resolution))
    source = open_dataset(data, split, model.cfg.class_names, strict=strict)
    for line in source.scan.warnings if source.scan else ():
        click.echo(f"warning: {data} [{source.split}]: {line}", err=True)
    dets = predict(model.to(dev), source, batch_size=batch_size, workers=workers, device=dev)
    gts = ground_truth(source)
    m07 = evaluate_detections(dets, gts, source.num_classes, use_07=True)
    mall = evaluate_detections(dets, gts, source.num_classes, use_07=False)
    table = Table(title=f"{checkpoint.name} on {data} [{split}], {len(source)} images, IoU 0.5")
    for col in ("class", "GT", "AP (VOC07)", "AP (all-point)"):
        table.add_column(col, justify="left" if col == "class" else "right")
    def fmt(v: float) -> str:
        return "-" if v != v else f"{v:.4f}"  # NaN: no ground truth

    per_class = {}
    for c in range(1, source.num_classes):
        name = source.class_names[c]
        per_class[name] = {"gt": int(m07.num_gt[c]), "ap07": float(m07.ap[c]), "ap_all": float(mall.ap[c])}
        table.add_row(name, str(m07.num_gt[c]), fmt(m07.ap[c]), fmt(mall.ap[c]))
    table.add_section()
    table.add_row("mAP", str(int(m07.num_gt.sum())), f"{m07.map:.4f}", f"{mall.map:.4f}")
    Console().print(table)
    if json_out is not None:
        json_out.write_text(json.dumps({"map07": m07.map, "map_all": mall.map, "per_class": per_class}, indent=1))
    if pr_plot is not None:
        from ..train.plots import plot_precision_recall

        curves = {source.class_names[c]: (*mall.curves[c], f"AP07 {m07.ap[c]:.3f}, all-point {mall.ap[c]:.3f}") for c in mall.curves}
        plot_precision_recall(curves, pr_plot, title=f"{checkpoint.name} on {data} [{source.split}], IoU 0.5")
