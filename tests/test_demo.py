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


@pytest.mark.slow
def test_demo_on_a_voc_folder_verifies_and_draws_the_same_images(tmp_path):
    """A VOC set passed as --images: verify and detect take the same list (its test split), by name."""
    from ssd2ncnn.data.synthetic import write_synthetic_voc

    voc = write_synthetic_voc(tmp_path / "voc", 3, seed=5, splits={"test": 1.0})
    result = run_demo(tmp_path / "demo", images=voc, say=lambda line: None)
    verified = {c.image for c in result.report.cases}
    assert len(verified) == 3 and set(result.detections) == verified
    assert {p.stem for p in (tmp_path / "demo" / "detections").iterdir()} == {n.rsplit(".", 1)[0] for n in verified}
