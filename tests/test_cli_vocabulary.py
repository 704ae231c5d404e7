"""One vocabulary on the command line: every option has help text, outputs are `-o/--output`, presets are
a checked choice, and class counts are said one way ("N classes + background")."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import COMMANDS, cli, load_command


def _leaf_commands() -> list[tuple[str, click.Command]]:
    out = []
    for name in sorted(COMMANDS):
        cmd = load_command(name)
        if isinstance(cmd, click.Group):
            out += [(f"{name} {sub}", cmd.commands[sub]) for sub in sorted(cmd.commands)]
        else:
            out.append((name, cmd))
    return out


LEAVES = _leaf_commands()


@pytest.mark.parametrize(("name", "cmd"), LEAVES, ids=[n for n, _ in LEAVES])
def test_every_option_has_help_and_outputs_are_dash_o_output(name: str, cmd: click.Command) -> None:
    for p in cmd.params:
        if not isinstance(p, click.Option) or p.hidden:
            continue
        assert p.help, f"{name} {p.opts[0]} has no help text"
        if "-o" in p.opts:
            assert "--output" in p.opts, f"{name}: -o must be --output"
            # commands/output_option.py spells it: the hidden --out alias is its mark
            assert any(getattr(q, "hidden", False) and "--out" in q.opts for q in cmd.params), f"{name}: -o not from output_option"
        if "--preset" in p.opts:
            assert isinstance(p.type, click.Choice), f"{name} --preset must be a checked choice"


def test_synth_and_train_take_output_and_still_accept_out(tmp_path) -> None:
    runner = CliRunner()
    for flag in ("-o", "--output", "--out"):
        target = tmp_path / flag.strip("-")
        result = runner.invoke(cli, ["synth", flag, str(target), "--num", "2", "--image-size", "64,64"])
        assert result.exit_code == 0, result.output
        assert (target / "JPEGImages").is_dir()
    missing = runner.invoke(cli, ["synth", "--num", "2"])
    assert missing.exit_code == 2 and "--output" in missing.output
    assert "--out " not in runner.invoke(cli, ["train", "--help"]).output  # the alias is hidden


def test_init_says_classes_plus_background_and_untrained(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["init", "--preset", "voc300", "--width-mult", "0.25", "-o", str(tmp_path / "m.pth")])
    assert result.exit_code == 0, result.output
    assert "20 classes + background" in result.output and "untrained" in result.output
