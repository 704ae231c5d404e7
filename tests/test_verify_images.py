"""`verify --images`: a file that cannot be read is reported on its own line and the rest verified (exit
2 at the end); an annotated set's classes must be the model's."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from ssd2ncnn.cli import cli

pytestmark = pytest.mark.slow  # converts a model


def test_a_bad_image_is_reported_on_its_own_line_and_the_rest_verified(converted, tmp_path):
    ckpt, out = converted("voc300")
    folder = tmp_path / "images"
    folder.mkdir()
    for name, colour in (("a.jpg", (200, 30, 30)), ("c.jpg", (30, 30, 200))):
        Image.new("RGB", (96, 80), colour).save(folder / name)
    good = (folder / "a.jpg").read_bytes()
    (folder / "b.jpg").write_bytes(good[: len(good) // 3])  # truncated: the header reads, the pixels do not
    report = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["verify", str(ckpt), str(out), "--images", str(folder), "--sizes", "160",
                                   "--report", str(report)])
    assert res.exit_code == 1, res.output  # a batch that read what it could, as detect and quantize
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error: b.jpg:")]
    assert len(lines) == 1 and "cannot" in lines[0], res.output  # runtime.images names why
    assert "1 of 3 image(s) could not be read" in " ".join(res.output.split())
    assert "Traceback" not in res.output
    data = json.loads(report.read_text())
    assert [c["image"] for c in data["cases"]] == ["a.jpg", "c.jpg"]
    assert data["passed"] is True and [b["file"] for b in data["bad_files"]] == ["b.jpg"]


def test_a_data_set_with_a_class_the_model_does_not_know_is_bad_input(converted, tmp_path):
    from ssd2ncnn.data.synthetic import write_synthetic_voc

    ckpt, out = converted("voc300")  # the 20 VOC classes; the synthetic set draws shapes (circle, ...)
    data = write_synthetic_voc(tmp_path / "shapes", 2, seed=1, splits={"test": 1.0})
    res = CliRunner().invoke(cli, ["verify", str(ckpt), str(out), "--images", str(data), "--sizes", "160"])
    assert res.exit_code == 2, res.output
    assert "of a class the model does not have" in " ".join(res.output.split()) and "Traceback" not in res.output
