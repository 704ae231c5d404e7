"""The main job: convert, verify and detect leave everything in one folder."""

import json
from pathlib import Path

from PIL import Image

from ssd2ncnn.demo import DEFAULT_CHECKPOINT, DEFAULT_IMAGES, run_demo

GOLDEN_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "voc300-tiny" / "model.pth"


def test_demo_writes_model_report_and_drawings(tmp_path):
    checkpoint = DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT.exists() else GOLDEN_MODEL
    lines: list[str] = []
    result = run_demo(tmp_path / "demo", checkpoint, DEFAULT_IMAGES, say=lines.append)
    out = tmp_path / "demo"
    assert {p.name for p in (out / "model").iterdir()} == {"model.param", "model.bin", "model.onnx", "model.json"}
    report = json.loads((out / "verify.json").read_text())
    assert report["passed"] is True and result.report.passed
    images = sorted(p for p in DEFAULT_IMAGES.iterdir() if p.suffix.lower() in {".jpg", ".png"})
    for img in images:
        drawn = Image.open(out / "detections" / f"{img.stem}.png")
        assert drawn.size == Image.open(img).size
    dets = json.loads((out / "detections.json").read_text())
    assert set(dets) == {p.name for p in images}
    assert any("results in" in line for line in lines)
