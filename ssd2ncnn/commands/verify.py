"""`ssd2ncnn verify`: prove a conversion (ncnn vs PyTorch and onnxruntime), or check golden outputs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from ..errors import CheckFailed, FilesFailed, InputError
from ..jsonutil import dumps
from ..verify.console_report import print_report
from ..verify.golden import UPDATE_ENV, check_golden, ignored_update_env, write_golden
from ..verify.tolerances import FP32, parse_overrides
from .list_option import IntList
from .model_options import load_kwargs, model_options

# --update-golden without --sizes: the shipped fixture's (fixtures/golden/voc300-tiny/COMMAND.txt), its
# voc300 input size and one other size, so the golden covers PriorBox at a size it was not built for
GOLDEN_SIZES = (300, 320)

SYNTHETIC_DEFAULT = 4  # seeded synthetic inputs when no --images are given


def rewrite_golden(golden: Path, sizes: tuple[int, ...] | None, num_images: int | None, seed: int, console: Console) -> None:
    size_list = list(sizes) if sizes else list(GOLDEN_SIZES)
    count = num_images or SYNTHETIC_DEFAULT
    cmd = (f"ssd2ncnn verify --golden {golden} --update-golden --sizes {','.join(map(str, size_list))} "
           f"--num-images {count} --seed {seed}")
    write_golden(golden, size_list, count, seed, cmd)
    console.print(f"rewrote golden outputs in {golden} (command recorded in {golden}/COMMAND.txt)")


def check_golden_folder(golden: Path, overrides: dict[str, float], console: Console) -> None:
    if ignored_update_env():
        console.print(f"{UPDATE_ENV} is ignored: the golden check only checks; rewrite with --update-golden "
                      "(scripts/update_golden.sh)")
    result = check_golden(golden, FP32.override(overrides))
    console.print(f"golden {golden}: {len(result.checks)} tensors compared, {len(result.failures)} failures")
    if not result.passed:
        raise CheckFailed("golden check failed: " + "; ".join(result.failures[:5]))
    console.print("[green]golden outputs match[/]")


def check_parity(checkpoint: Path, out_dir: Path, images: Path | None, num_images: int | None,
                 sizes: tuple[int, ...] | None,
                 report_path: Path | None, html_path: Path | None, overrides: dict[str, float], use_onnx: bool,
                 seed: int, strict: bool, load_kw: dict, console: Console) -> None:
    """The parity run (`ssd2ncnn.verify`): exit 0 when every check holds, 1 when one does not, 2 when an
    image file could not be read (after every other image was verified)."""
    from .. import api

    size_list = list(sizes) if sizes else None
    errors = Console(stderr=True, soft_wrap=True)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("verifying", total=None)
        outcome = api.verify(
            checkpoint, out_dir, images=images, sizes=size_list, num_images=num_images, seed=seed,
            tolerances=overrides, use_onnx=use_onnx, source_format=load_kw["source"], preset=load_kw["preset"],
            num_classes=load_kw["num_classes"], width_mult=load_kw["width_mult"],
            labels=load_kw["labels"], resolution=load_kw["resolution"],
            progress=lambda done, total: progress.update(task, completed=done, total=total), strict=strict,
            warn=lambda line: errors.print(f"warning: {escape(line)}", highlight=False),
        )
    report = outcome.report
    for name, why in report.bad_files:  # one line each; the other images were verified
        errors.print(f"error: {escape(name)}: {escape(why)}", highlight=False)
    print_report(report, console)
    if report_path:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(dumps(outcome.to_dict()))
        console.print(f"report written to {report_path}")
    if html_path:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        outcome.write_html(html_path)
        console.print(f"HTML report written to {html_path}")
    if not report.passed:
        failures = report.failures()
        raise CheckFailed(f"{len(failures)} check(s) out of tolerance; first: {failures[0]}")
    if report.bad_files:
        total = len(report.bad_files) + len({c.image for c in report.cases})
        raise FilesFailed(f"{len(report.bad_files)} of {total} image(s) could not be read (listed above); "
                         f"the other {total - len(report.bad_files)} are within tolerance; fix or remove those files")
    console.print("[green]all checks within tolerance[/]")


@click.command("verify")
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path))
@click.argument("out_dir", required=False, type=click.Path(path_type=Path))
@click.option("--images", type=click.Path(path_type=Path), default=None, help="Images, or a VOC/COCO set for mAP.")
@click.option("--num-images", type=click.IntRange(min=1), default=None, help="Synthetic inputs without --images (default 4); with --images, use at most this many (default all).")
@click.option("--sizes", type=IntList(minimum=32, example="300,320"), default=None, help="Input sizes, e.g. 300,320,384 (default: the model's size and +32).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the JSON report here.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a self-contained HTML report here: both runtimes' boxes per image and size, error tables.")
@click.option("--tol", multiple=True, help="Override a tolerance: NAME=VALUE (repeatable), e.g. score_atol=1e-3.")
@click.option("--no-onnx", is_flag=True, help="Skip the onnxruntime reference.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the synthetic inputs.")
@click.option("--golden", type=click.Path(path_type=Path), default=None, help="Check a golden fixture folder instead.")
@click.option("--update-golden", is_flag=True, help="Rewrite the golden tensors (the only way to; scripts/update_golden.sh).")
@click.option("--strict", is_flag=True,
              help="With an annotated --images set: its warnings (boxes past the border clipped, empty or outside boxes dropped) are errors.")
@model_options
def command(checkpoint, out_dir, images, num_images, sizes, report_path, html_path, tol, no_onnx, seed, golden, update_golden, strict, source, preset, num_classes, width_mult, labels, resolution):
    """Compare the ncnn model in OUT_DIR with CHECKPOINT in PyTorch (and its ONNX in onnxruntime).

    Exit 0 when every check is within tolerance; 1 when one is not, or (with --images) when an image could
    not be read, after every readable one was verified (as detect does); 2 on bad input before any work."""
    console = Console(stderr=False)
    overrides = parse_overrides(tol)
    if golden is not None:
        given = [n for n, v in (("CHECKPOINT", checkpoint), ("--images", images), ("--report", report_path),
                                ("--html", html_path)) if v is not None]
        if given:  # the golden check uses the fixture's own checkpoint and inputs: these would be ignored
            raise InputError(f"--golden DIR checks the fixture's own model and inputs; drop {', '.join(given)}")
        if update_golden:
            rewrite_golden(golden, sizes, num_images, seed, console)
        else:
            check_golden_folder(golden, overrides, console)
        return
    if checkpoint is None or out_dir is None:
        raise InputError("verify needs CHECKPOINT and OUT_DIR (or --golden DIR)")
    check_parity(checkpoint, out_dir, images, num_images, sizes, report_path, html_path, overrides, not no_onnx, seed, strict,
                 load_kwargs(source, preset, num_classes, width_mult, labels, resolution), console)
