"""`ssd2ncnn check`: a model folder against its own model.json, without the checkpoint.

A command of its own rather than `verify OUT`: verify compares against PyTorch and needs the checkpoint;
check needs only the folder, so it runs wherever the folder went (after ncnnoptimize, on a phone build
machine) and its exit code says whether the folder is still what convert wrote."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import CheckFailed
from .output_option import output_option


@click.command("check")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--restore", is_flag=True, help="Write a copy with the PriorBox/DetectionOutput params from model.json (needs -o).")
@output_option("Folder for --restore's copy.", file_okay=False, required=False)
@click.option("--force", is_flag=True, help="With --restore: replace a non-empty -o folder.")
def command(out_dir, restore, output, force):
    """Check OUT_DIR against its own model.json: file hashes, blob names, PriorBox and DetectionOutput
    params and the priors they produce. Exit 0 when all match, 1 with each finding and its likely cause."""
    from .. import api
    from ..errors import InputError
    from ..verify.folder_check import restore_params

    if restore:
        if output is None:
            raise InputError("--restore writes a new folder: pass -o FIXED (the original stays as it is)")
        out_dir = restore_params(out_dir, output, force)
        click.echo(f"wrote {out_dir} with the PriorBox and DetectionOutput params of model.json's config")
    elif output is not None or force:
        raise InputError(f"{'-o' if output is not None else '--force'} is only for --restore")
    result = api.check(out_dir)
    for text in result.passed_checks:
        click.echo(f"ok    {text}")
    for finding in result.findings:
        click.echo(f"FAIL  {finding}")
    if not result.passed:
        raise CheckFailed(f"{out_dir} differs from its model.json in {len(result.findings)} place(s)")
    click.echo(f"{out_dir} is what convert wrote: all checks passed")
