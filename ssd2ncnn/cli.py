"""The `ssd2ncnn` command. Thin: each subcommand lives in `ssd2ncnn/commands/<name>.py` as a click
command named `command` and calls into the library. Errors of the project's own type become one line on
stderr and exit code 2 (1 for failed checks); `--debug` shows the traceback instead.

Commands load lazily: `COMMANDS` names each one's module and one-line help, so `ssd2ncnn --help` and
`ssd2ncnn param ...` import neither torch nor onnx nor the other commands (tests/test_cli_lazy.py keeps
the table equal to the commands themselves)."""

from __future__ import annotations

import importlib
import sys

import click
from click.exceptions import NoArgsIsHelpError

from .errors import Ssd2NcnnError
from .version import __version__

# name -> (module holding `command`, the command's one-line help as `ssd2ncnn --help` lists it)
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": ("bench", "Benchmark the ncnn detector in MODEL_DIR end to end against onnxruntime (+ PyTorch "
                       "post-processing)."),
    "check": ("check", "Check OUT_DIR against its own model.json: file hashes, blob names, PriorBox and "
                       "DetectionOutput params and the priors they produce."),
    "convert": ("convert", "Convert CHECKPOINT to an ncnn SSD detector in OUTPUT."),
    "demo": ("demo", "Run the whole pipeline on the bundled checkpoint and images; results go to OUTPUT."),
    "detect": ("detect", "Detect objects in IMAGES (files or folders of images) with the converted model in "
                         "OUT_DIR."),
    "eval": ("eval", "Per-class AP and mAP at IoU 0.5, VOC07 11-point and all-point (difficult objects "
                     "ignored)."),
    "init": ("init", "Write an untrained checkpoint (config saved inside) to OUTPUT."),
    "param": ("param", "Read, rewrite and check ncnn .param files."),
    "quantize": ("quantize", "Quantize the fp32 model in MODEL_DIR to int8 with images from --calib."),
    "synth": ("synth", "Write a synthetic detection data set to OUTPUT: coloured shapes on noisy textured "
                       "backgrounds."),
    "train": ("train", "Train an SSDLite detector; writes RUN_DIR/best.pth, last.pth, train.log, "
                       "metrics.csv/json, curves.png."),
    "verify": ("verify", "Compare the ncnn model in OUT_DIR with CHECKPOINT in PyTorch (and its ONNX in "
                         "onnxruntime)."),
}


def load_command(name: str) -> click.Command:
    module = importlib.import_module(f"{__package__}.commands.{COMMANDS[name][0]}")
    return module.command


def _shorten(text: str, limit: int) -> str:
    """`text` cut at a word boundary to fit `limit` characters, "..." marking the cut (as click does)."""
    if len(text) <= limit:
        return text
    return text[: limit - 3].rsplit(" ", 1)[0] + "..."


class _Group(click.Group):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        """click's standalone mode, except that a usage error (a bad or missing option, an unknown command)
        is one line, `error: ...; see '... --help'`, exit code 2, like every other bad input."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except NoArgsIsHelpError as exc:  # `ssd2ncnn` or `ssd2ncnn param` alone: the help, as click prints it
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
            click.echo(f"error: {exc.format_message().rstrip('.')}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from `COMMANDS`, without importing a single command."""
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(cmd, _shorten(text, limit)) for cmd, (_, text) in sorted(COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

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


def main() -> None:
    try:
        cli(prog_name="ssd2ncnn")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
