"""Comma-separated list options, one parser for every command (commands/list_option.py)."""

import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import cli
from ssd2ncnn.commands.list_option import IntList, NameList


def test_lists_convert_and_keep_what_they_should():
    assert IntList().convert("1, 2,2", None, None) == (1, 2)  # a thread count twice is one run
    assert NameList().convert("trainval,trainval", None, None) == ("trainval", "trainval")  # one per root


@pytest.mark.parametrize(("args", "says"), [
    (["bench", "{tmp}", "--threads", "1,x"], "'--threads': expects comma-separated integers like 1,2, got '1,x'"),
    (["bench", "{tmp}", "--sizes", "16"], "'--sizes': expects integers >= 32 like 300,320, got '16'"),
    (["verify", "{tmp}/m.pth", "{tmp}", "--sizes", ","], "'--sizes': expects integers >= 32 like 300,320"),
    (["train", "--data", "{tmp}", "-o", "{tmp}/run", "--lr-steps", "a"], "'--lr-steps': expects comma-separated"),
    (["train", "--data", "{tmp}", "-o", "{tmp}/run", "--classes", " , "], "'--classes': expects comma-separated names"),
])
def test_a_bad_list_is_one_line_exit_2_before_any_work(args, says, tmp_path):
    result = CliRunner().invoke(cli, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
