"""The command line loads lazily: `--help`, `param fmt`, `param lint`, `convert --help` and `eval --help`
import no heavy library, and the command table in cli.py says what the commands themselves say.
(Timings: benchmarks/cli_speed.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from ssd2ncnn.assets import reference_param
from ssd2ncnn.cli import COMMANDS, cli, load_command

REPO = Path(__file__).resolve().parents[1]
PARAM = reference_param()
HEAVY = ("torch", "onnx", "onnxruntime", "onnxsim", "ncnn", "numpy", "PIL", "rich")

_PROBE = """
import json, sys
from ssd2ncnn.cli import main
heavy = json.loads(sys.argv[2])
sys.argv = ["ssd2ncnn", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
print("PROBE " + json.dumps({"code": code, "heavy": sorted(m for m in heavy if m in sys.modules)}))
"""


def _imports(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(HEAVY)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    probe = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert probe, proc.stderr[-2000:]
    return json.loads(probe[-1][len("PROBE "):])


@pytest.mark.parametrize(
    "args",
    [["--help"], ["param", "lint", str(PARAM)], ["param", "fmt", str(PARAM), "-o", "{tmp}/out.param"],
     ["param", "--help"], ["convert", "--help"], ["eval", "--help"]],
    ids=["help", "lint", "fmt", "param-help", "convert-help", "eval-help"],
)
def test_fast_paths_import_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    result = _imports([a.format(tmp=tmp_path) for a in args])
    assert result["code"] in (0, None), result
    assert result["heavy"] == []


def test_command_table_matches_the_commands() -> None:
    modules = sorted(p.stem for p in (REPO / "ssd2ncnn" / "commands").glob("*.py")
                     if "\ncommand = " in p.read_text() or "def command(" in p.read_text())
    assert sorted(m for m, _ in COMMANDS.values()) == modules, "every command module has a COMMANDS entry"
    for name, (_, short_help) in COMMANDS.items():
        cmd = load_command(name)
        assert isinstance(cmd, click.Command) and cmd.name == name
        assert short_help == cmd.get_short_help_str(limit=10_000), (
            f"update COMMANDS[{name!r}] in ssd2ncnn/cli.py to the command's first help sentence"
        )


def test_unknown_command_is_a_usage_error() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["nope"])
    assert result.exit_code == 2 and "No such command 'nope'" in result.output


def test_from_choices_match_the_importer_registry() -> None:
    from ssd2ncnn.commands.model_options import IMPORTER_HELP, SOURCES
    from ssd2ncnn.importers import IMPORTERS, source_names

    # one table (importer_names): the registry is loaded from it, the command line reads it
    assert sorted(IMPORTERS) == sorted(IMPORTER_HELP) == ["mmdet", "pytorch-ssd", "seed", "torchvision"]
    assert list(SOURCES) == source_names() == ["auto", "ssd2ncnn", "mmdet", "pytorch-ssd", "seed", "torchvision"]
    assert all(IMPORTERS[name].name == name for name in IMPORTERS)
