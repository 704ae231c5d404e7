"""The `ssd2ncnn` command. Thin: each subcommand lives in `ssd2ncnn/commands/<name>.py` as a click
command named `command` and calls into the library. Errors of the project's own type become one line on
stderr and exit code 2 (1 for failed checks); `--debug` shows the traceback instead."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from . import __version__, commands
from .errors import Ssd2NcnnError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Ssd2NcnnError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            # A file the user named cannot be read or written (no such folder, permission, disk full):
            # that is bad input, whichever command met it.
            if ctx.obj and ctx.obj.get("debug"):
                raise
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"error: {exc.strerror or exc}{where}; check the path and its permissions", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.version_option(__version__, prog_name="ssd2ncnn")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Convert PyTorch MobileNetV3-SSDLite detectors to ncnn and prove the result."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        cmd = getattr(module, "command", None)
        if isinstance(cmd, click.Command):
            cli.add_command(cmd)


_register()


def main() -> None:
    try:
        cli(prog_name="ssd2ncnn")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
