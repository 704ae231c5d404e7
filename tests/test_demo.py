"""The main job: convert, verify and detect leave everything in one folder, from the bundled files."""

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from ssd2ncnn.assets import DEMO_CHECKPOINT, DEMO_IMAGES
from ssd2ncnn.cli import cli
from ssd2ncnn.demo import run_demo


@pytest.mark.slow
def test_demo_writes_model_report_and_drawings(tmp_path):
    lines: list[str] = []
    result = run_demo(tmp_path / "demo", say=lines.append)  # the bundled checkpoint and images
    out = tmp_path / "demo"
    assert {p.name for p in (out / "model").iterdir()} == {"model.param", "model.bin", "model.onnx", "model.json"}
    report = json.loads((out / "verify.json").read_text())
    assert report["passed"] is True and result.report.passed
    images = sorted(p for p in DEMO_IMAGES.iterdir() if p.suffix.lower() in {".jpg", ".png"})
    assert len(images) == 3
    for img in images:
        drawn = Image.open(out / "detections" / f"{img.stem}.png")
        assert drawn.size == Image.open(img).size
    dets = json.loads((out / "detections.json").read_text())
    assert set(dets) == {p.name for p in images}
    assert any("3 classes + background" in line for line in lines)
    assert any("results in" in line for line in lines)


def test_demo_bad_paths_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, needle in ((["--checkpoint", str(tmp_path / "nope.pth")], "does not exist"),
                         (["--images", str(empty)], "no images")):
        result = CliRunner().invoke(cli, ["demo", "-o", str(tmp_path / "out"), *args])
        assert result.exit_code == 2 and result.output.startswith("error: ") and needle in result.output
        assert result.output.count("\n") == 1
    assert DEMO_CHECKPOINT.is_file()


def test_demo_help_names_no_machine_path():
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0
    assert "bundled" in result.output and "site-packages" not in result.output and "/work/" not in result.output
