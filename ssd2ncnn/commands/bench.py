"""`ssd2ncnn bench`: time the converted detector in ncnn against onnxruntime (and PyTorch), plus the
structure-only comparison with the seed's hand-edited graph."""

from __future__ import annotations

from pathlib import Path

import click

from ..bench.result_table import render
from ..bench.suite import run_bench
from ..errors import InputError
from ..jsonutil import dumps
from .list_option import IntList
from .model_options import load_kwargs, model_options


@click.command("bench")
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.option("--threads", type=IntList(), default="1,2", show_default=True, help="Comma-separated thread counts.")
@click.option("--sizes", type=IntList(minimum=32, example="300,320"), default=None,
              help="Comma-separated square input sizes (default: model.json's).")
@click.option("--runs", type=click.IntRange(min=1), default=30, show_default=True, help="Timed runs per engine and configuration.")
@click.option("--block", type=click.IntRange(min=1), default=5, show_default=True, help="Consecutive runs per block.")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed runs per engine first.")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None, help="Also time PyTorch with this checkpoint.")
@click.option("--also", "also", multiple=True, type=click.Path(path_type=Path), help="Another model folder to time in ncnn (e.g. the int8 one).")
@click.option("--seed-param", type=click.Path(path_type=Path), default=None, help="Seed graph for the structure comparison.")
@click.option("--no-structure", is_flag=True, help="Skip the empty-weights comparison with the seed graph.")
@click.option("--no-memory", is_flag=True, help="Skip the peak-memory subprocess probes.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the result as JSON.")
@model_options
def command(model_dir, threads, sizes, runs, block, warmup, checkpoint, also, seed_param, no_structure, no_memory, json_path,
            source, preset, num_classes, width_mult, labels, resolution):
    """Benchmark the ncnn detector in MODEL_DIR end to end against onnxruntime (+ PyTorch post-processing)."""
    thread_list, size_list = list(threads), list(sizes) if sizes else None
    given = [f"--{name.replace('_', '-')}" for name, value in (("preset", preset), ("num_classes", num_classes),
             ("width_mult", width_mult), ("labels", labels), ("resolution", resolution)) if value is not None]
    if checkpoint is None and (given or source != "auto"):
        raise InputError(f"{', '.join(given or ['--from'])} say how to read --checkpoint, which is not given; "
                         f"pass --checkpoint or drop them")
    if seed_param is not None and not Path(seed_param).is_file():
        raise InputError(f"--seed-param {seed_param} does not exist")
    res = run_bench(model_dir, thread_list, size_list, runs, checkpoint=checkpoint, also=list(also),
                    seed_param=False if no_structure else seed_param, memory=not no_memory, block=block,
                    warmup=warmup, log=lambda m: click.echo(m, err=True),
                    load=load_kwargs(source, preset, num_classes, width_mult, labels, resolution))
    render(res)
    if json_path:
        json_path.write_text(dumps(res))
        click.echo(f"wrote {json_path}")
