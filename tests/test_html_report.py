"""verify --html: the page is self-contained, says the verdict, and draws each compared row with its
verdict's look; a real browser (Debian's chromium, headless) renders its picture and boxes.

The report here is written by hand (one case: a matched pair, an excused and an unexplained row), so what
the page must show is known without the code under test."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssd2ncnn.verify.html_report import render_html

BLUE = (20, 40, 230)
COLOURS = {"matched": (0x1A, 0x98, 0x50), "excused": (0xF3, 0x9C, 0x12), "unexplained": (0xD7, 0x19, 0x1C)}
NAME = "scene <1>.png"  # needs escaping


def _pair(box, score=0.9):
    return {"status": "matched", "label": 1, "ncnn_score": score, "torch_score": score, "ncnn_box": box,
            "torch_box": box}


def _row(side, status, box, score, reason=""):
    return {"side": side, "label": 1, "score": score, "box": box, "status": status, "reason": reason}


def hand_report(passed: bool = False) -> dict:
    """In `DetectionCheck.rows`' form: one record per matched pair, one per unmatched row."""
    rows = [
        _pair([0.05, 0.1, 0.3, 0.9]),
        _row("ncnn", "excused", [0.4, 0.1, 0.6, 0.9], 0.5, "nms tie"),
        _row("PyTorch", "unexplained", [0.7, 0.1, 0.95, 0.9], 0.6),
        _pair([0.0, 0.0, 0.1, 0.1], 0.05),  # matched below 0.3: not drawn
    ]
    tensor = {"name": "mbox_loc", "stage": "end-to-end", "max_abs": 2e-6, "max_rel": 1e-5, "limit": 1e-4,
              "passed": True, "shape_ok": True}
    detections = {"matched": 2, "unmatched_ncnn": 1, "unmatched_ref": 1, "excused": {"nms tie": 1},
                  "unexplained": ["only PyTorch has label 1 score 0.6"], "tie_tol": 1e-5, "max_score_err": 1e-7,
                  "max_box_err": 1e-7, "passed": passed, "note": "", "threshold": 0.01, "rows": rows, "compared": 4,
                  "score_limit": 1e-4, "inconclusive": ""}
    return {
        "passed": passed, "sizes": [160], "failures": [] if passed else ["scene@160: detection_out <unexplained>"],
        "tolerances": {"score_atol": None, "box_atol": 1e-4}, "pipeline": {},
        "inconclusive": [], "bad_files": [{"file": "broken.jpg", "error": "cannot decode image broken.jpg"}],
        "cases": [{"image": NAME, "size": 160, "passed": passed, "tensors": [tensor], "detections": detections}],
        "settings": {"folder": "out", "class_names": ["background", "thing"], "versions": {"ncnn": "1.2.3"}},
    }


def picture() -> Image.Image:
    return Image.new("RGB", (200, 100), BLUE)


def test_the_page_is_self_contained_and_escaped():
    page = render_html(hand_report(), {NAME: picture()})
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # nothing fetched: data: URIs only
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert page.count('src="data:image/jpeg;base64,') == 1
    figure = page[page.index('<figure'):page.index('</figure>')]
    assert len(re.findall(r'<rect class="box ', figure)) == 4
    for side, status in (("ncnn", "matched"), ("pytorch", "matched"), ("ncnn", "excused"), ("pytorch", "unexplained")):
        assert f'class="box {side} {status}"' in figure
    assert "thing 0.5000, excused (nms tie)" in figure  # the tooltip names class, score, verdict, reason
    assert "scene &lt;1&gt;.png" in page and NAME not in page
    assert "<h1>FAILED</h1>" in page and "&lt;unexplained&gt;" in page
    assert "could not read broken.jpg: cannot decode image broken.jpg" in page
    assert "2 matched pairs, 1 excused (nms tie), 1 unexplained" in page
    assert "<h1>PASSED</h1>" in render_html(hand_report(passed=True), {NAME: picture()})


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no browser: Debian package chromium is not installed (apt-get install chromium); "
                    "the HTML report's rendering is checked in headless chromium")
    return found


# Run by the test only, appended to a copy of the page: after load, write what rendered into the DOM.
PROBE = """<script>window.addEventListener('load', () => {
  const img = document.querySelector('figure img'), r = img.getBoundingClientRect();
  document.body.setAttribute('data-probe', JSON.stringify({natural: img.naturalWidth, complete: img.complete,
    verdict: document.querySelector('#verdict h1').textContent, rect: [r.left, r.top, r.width, r.height],
    boxes: [...document.querySelectorAll('figure rect.box')].filter(b => b.getBoundingClientRect().width > 0).length}));
});</script>"""


def _chromium(browser: str, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
             "--force-device-scale-factor=1", "--hide-scrollbars", "--window-size=1200,900"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


def _share(pixels: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> float:
    return float((np.abs(pixels.astype(int) - colour).max(axis=2) <= tol).mean())


@pytest.mark.slow
def test_a_browser_renders_the_picture_the_boxes_and_the_verdict(tmp_path):
    browser = _browser()
    page = tmp_path / "report.html"
    page.write_text(render_html(hand_report(), {NAME: picture()}).replace("</body>", PROBE + "</body>"))
    dom = _chromium(browser, tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    found = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    probe = json.loads(found.group(1).replace("&quot;", '"'))
    assert probe["natural"] == 200 and probe["complete"] and probe["verdict"] == "FAILED"
    assert probe["boxes"] == 4
    shot = tmp_path / "shot.png"
    _chromium(browser, tmp_path, f"--screenshot={shot}", page.as_uri())
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert _share(pixels[40:60, 40:400], (0xFB, 0xE3, 0xE3), 8) > 0.5  # the red verdict box at the top
    left, top, width, height = (round(v) for v in probe["rect"])
    assert (width, height) == (360, 180)  # shown at 360 px on its longest side
    inside = pixels[top:top + height, left:left + width]
    assert _share(inside, BLUE) > 0.5  # the picture was painted
    for status, colour in COLOURS.items():  # and each verdict's box over it, in its own colour
        assert _share(inside, colour) > 0.002, status


@pytest.mark.slow
def test_verify_html_writes_the_page_of_a_real_run(converted, tmp_path):
    from click.testing import CliRunner

    from ssd2ncnn.cli import cli

    ckpt, out = converted("voc300")
    page = tmp_path / "sub" / "report.html"
    res = CliRunner().invoke(cli, ["verify", str(ckpt), str(out), "--num-images", "2", "--sizes", "160,192",
                                   "--html", str(page)])
    assert res.exit_code == 0, res.output
    text = page.read_text()
    assert "<h1>PASSED</h1>" in text and text.count("<figure") == 4  # 2 images x 2 sizes
    assert text.count('src="data:image/jpeg;base64,') == 4 and "<script" not in text
    assert "synthetic-0-1 @ 192 px" in text and "matched pairs" in text
    res = CliRunner().invoke(cli, ["verify", "--golden", str(tmp_path), "--html", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "drop --html" in res.stderr and not (tmp_path / "x.html").exists()
