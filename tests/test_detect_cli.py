"""`ssd2ncnn detect` end to end through click: real model folder, real image files."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from runtime_helpers import build_models, scene_image

from ssd2ncnn.cli import cli
from ssd2ncnn.runtime.detector import Detector

pytestmark = pytest.mark.slow  # converts, trains or runs processes: `pytest -m "not slow"` skips it


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_models(tmp_path_factory.getbasetemp() / "runtime-models")


@pytest.fixture()
def images(tmp_path):
    paths = []
    for name, size, seed in (("wide.png", (300, 170), 4), ("tall.jpg", (120, 333), 5)):
        scene_image(*size, seed=seed).save(tmp_path / name)
        paths.append(tmp_path / name)
    return paths


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])  # click 8.2+: stdout and stderr kept apart


def test_text_output_and_pngs(models, images, tmp_path):
    out = tmp_path / "drawn" / "nested"
    res = invoke("detect", models["real"], *images, "-o", out)
    assert res.exit_code == 0, res.output
    expected = Detector(models["real"]).detect(images[0], threshold=0.3)
    assert len(expected) > 0
    assert f"{images[0]}: {len(expected)} detections" in res.stdout
    assert f"{expected[0].name:<16} {expected[0].score:.3f}" in res.stdout
    for path, fmt in zip(images, ("PNG", "JPEG"), strict=True):  # each input's own format by default
        with Image.open(out / path.name) as drawn:
            assert drawn.format == fmt and drawn.size == Image.open(path).size
    assert sorted(p.name for p in out.iterdir()) == ["tall.jpg", "wide.png"]
    res = invoke("detect", models["real"], *images, "-o", tmp_path / "as-png", "--format", "png")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "as-png").iterdir()) == ["tall.png", "wide.png"]


def test_json_is_the_only_stdout(models, images, tmp_path):
    res = invoke("detect", models["real"], *images, "--json", "--threshold", "0.2", "-o", tmp_path / "o")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [d["image"] for d in doc] == [str(p) for p in images]
    assert (doc[0]["width"], doc[0]["height"]) == (300, 170)
    dets = Detector(models["real"]).detect(images[0], threshold=0.2)
    assert doc[0]["detections"] == [d.to_dict() for d in dets]
    assert all(set(d) == {"label", "name", "score", "box"} for d in doc[1]["detections"])


def test_zero_detections_are_reported(models, images):
    res = invoke("detect", models["real"], images[0], "--threshold", "1.0")
    assert res.exit_code == 0
    assert res.stdout.strip() == f"{images[0]}: 0 detections"
    res = invoke("detect", models["empty"], images[0], "--json")
    assert json.loads(res.stdout)[0]["detections"] == []


def test_input_size_and_threads(models, images):
    res = invoke("detect", models["real"], images[0], "--input-size", "96", "--threads", "1", "--json")
    assert res.exit_code == 0, res.output
    expected = Detector(models["real"], threads=1, input_size=96).detect(images[0], threshold=0.3)
    assert json.loads(res.stdout)[0]["detections"] == [d.to_dict() for d in expected]
    default = Detector(models["real"]).detect(images[0], threshold=0.3)
    assert [d.to_dict() for d in expected] != [d.to_dict() for d in default]  # --input-size was used


def _bad_cases(models, images, tmp_path):
    (tmp_path / "empty_dir").mkdir()
    twin = tmp_path / "sub" / "wide.png"
    twin.parent.mkdir()
    scene_image(10, 10).save(twin)
    return {
        "missing folder": ([tmp_path / "nope", images[0]], "does not exist|not a folder"),
        "not from convert": ([tmp_path / "empty_dir", images[0]], "no model.json"),
        "threshold above 1": ([models["real"], images[0], "--threshold", "1.5"], r"\[0, 1\]"),
        "threshold below 0": ([models["real"], images[0], "--threshold", "-0.1"], r"\[0, 1\]"),
        "same output name": ([models["real"], images[0], twin], "rename one"),
        "input size": ([models["real"], images[0], "--input-size", "4"], "at least 32"),
        "threads": ([models["real"], images[0], "--threads", "0"], "at least 1"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing folder",
        "not from convert",
        "threshold above 1",
        "threshold below 0",
        "same output name",
        "input size",
        "threads",
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(models, images, tmp_path, case):
    args, pattern = _bad_cases(models, images, tmp_path)[case]
    out = tmp_path / "drawn"
    res = invoke("detect", *args, "-o", out)
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert not out.exists() or list(out.iterdir()) == []


def test_a_bad_file_is_reported_and_the_others_processed(models, tmp_path):
    """#17.5: a.jpg, a truncated b.jpg, a missing file and c.jpg: a and c are detected and drawn, each bad
    one is one stderr line and an error record in --json, exit 1 at the end, nothing of b written."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, seed in (("a.jpg", 1), ("b.jpg", 2), ("c.jpg", 3)):
        scene_image(200, 150, seed=seed).save(folder / name, quality=95)
    data = (folder / "b.jpg").read_bytes()
    (folder / "b.jpg").write_bytes(data[: len(data) // 3])  # the header reads, the pixels do not
    drawn = tmp_path / "drawn"
    res = invoke("detect", models["real"], folder, tmp_path / "gone.jpg", "-o", drawn, "--json")
    assert res.exit_code == 1, res.output
    errors = res.stderr.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: ") for line in errors), res.stderr
    assert "b.jpg" in errors[0] and "cannot decode" in errors[0]
    assert "gone.jpg does not exist" in errors[1]
    assert errors[2] == "error: 2 of 4 image(s) failed (each named above); the others were processed"
    doc = json.loads(res.stdout)
    assert [d["image"] for d in doc] == [str(folder / n) for n in ("a.jpg", "b.jpg", "c.jpg")] + [str(tmp_path / "gone.jpg")]
    assert set(doc[1]) == {"image", "error"} and "cannot decode" in doc[1]["error"] and "error" in doc[3]
    expected = Detector(models["real"]).detect(folder / "c.jpg", threshold=0.3)
    assert doc[2]["detections"] == [d.to_dict() for d in expected] and "error" not in doc[0]
    assert sorted(p.name for p in drawn.iterdir()) == ["a.jpg", "c.jpg"]  # no b, no temporary left
    res = invoke("detect", models["real"], folder / "a.jpg", folder / "b.jpg")
    assert res.exit_code == 1 and res.stdout.startswith(f"{folder / 'a.jpg'}: "), res.output


def test_folders_expand_to_their_images(models, images, tmp_path):
    res = invoke("detect", models["real"], tmp_path, "--json")  # tmp_path holds exactly the two images
    assert res.exit_code == 0, res.output
    by_file = json.loads(invoke("detect", models["real"], *sorted(images), "--json").stdout)
    assert json.loads(res.stdout) == by_file and len(by_file) == 2
    (tmp_path / "none").mkdir()
    res = invoke("detect", models["real"], tmp_path / "none")
    assert res.exit_code == 2 and "holds no images" in res.stderr


def test_pngs_follow_the_umask(models, images, tmp_path):
    old = os.umask(0o027)
    try:
        res = invoke("detect", models["real"], images[0], "-o", tmp_path / "drawn")
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.output
    assert stat.S_IMODE((tmp_path / "drawn" / "wide.png").stat().st_mode) == 0o640


def test_a_reader_that_stops_early_is_not_an_error(models, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(6):
        scene_image(200, 150, seed=10 + k).save(folder / f"im{k}.png")
    drawn = tmp_path / "drawn"
    cmd = f"set -o pipefail; {shlex.quote(sys.executable)} -m ssd2ncnn detect {models['real']} {folder} -o {drawn} | head -2"
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 2 and "error" not in proc.stderr.lower(), proc.stderr
    assert sorted(p.name for p in drawn.iterdir()) == [f"im{k}.png" for k in range(6)]  # the work was finished


def test_threaded_and_in_thread_batches_give_the_same_records_and_files(models, images, tmp_path):
    """detect_files picks its reader/writer threads from the free cores (0 on a 2-core CI machine): both
    ways must give byte-identical results, in input order, and the Detector's own answer."""
    from ssd2ncnn.runtime.detect_files import detect_files

    detector = Detector(models["real"])
    paths = [*images, tmp_path / "missing.jpg", *images[::-1]]
    runs = {}
    for threads in (0, 2):
        out = tmp_path / f"drawn-{threads}"
        recs = list(detect_files(detector, paths[:3], 0.3, out, workers=threads))
        recs += list(detect_files(detector, paths[3:], 0.3, None, workers=threads))
        runs[threads] = ([r.to_dict() for r in recs], {p.name: p.read_bytes() for p in out.iterdir()})
    assert runs[0] == runs[2]
    records, drawn = runs[0]
    assert [r["image"] for r in records] == [str(p) for p in paths]
    assert records[2]["error"].startswith(f"image {paths[2]} does not exist")
    expected = [d.to_dict() for d in Detector(models["real"]).detect(images[1], threshold=0.3)]
    assert records[1]["detections"] == records[3]["detections"] == expected and expected
    assert sorted(drawn) == ["tall.jpg", "wide.png"]
