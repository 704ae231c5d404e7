"""`-o/--output`, spelled one way in every command that writes (check, convert, demo, detect, init, param
fmt, quantize, synth, train). `--out`, the older spelling of synth and train, is still accepted but hidden
from the help."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click


def output_option(help: str, *, file_okay: bool = True, dir_okay: bool = True, required: bool = True,
                  default: Path | None = None) -> Callable:
    """`-o/--output PATH` (the command receives `output`) with the hidden alias `--out`; required unless
    `required=False` (then `default`, which may be None)."""
    path = click.Path(path_type=Path, file_okay=file_okay, dir_okay=dir_okay)
    if default is not None:
        help = f"{help}  [default: {default}]"

    def take_alias(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
        if value is not None:
            ctx.meta["ssd2ncnn_output_alias"] = value

    def require(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
        value = value if value is not None else ctx.meta.get("ssd2ncnn_output_alias")
        if value is None and required:
            raise click.MissingParameter(ctx=ctx, param=_param)
        return value if value is not None else default

    def decorate(f: Callable) -> Callable:
        f = click.option("-o", "--output", "output", type=path, default=None, callback=require, help=help)(f)
        # eager, so that `require` above sees it whatever the order on the command line
        return click.option("--out", type=path, default=None, hidden=True, expose_value=False, is_eager=True,
                            callback=take_alias)(f)

    return decorate
