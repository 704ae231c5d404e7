"""`detect` over files without a conversion: drawn-file naming and formats (runtime.drawn_files), the
drawing by pixel (runtime.draw), the batch records (runtime.batch, runtime.detect_files) on the MemoryData
stand-in of tests/contract_by_hand.py. Expected values by hand; written for the mutation score of #21."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from contract_by_hand import head_maps, tail_folder
from PIL import Image

from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.runtime.batch import (
    FileFailure,
    WriteBehind,
    available_cores,
    failure_of,
    pool_size,
    read_ahead,
)
from ssd2ncnn.runtime.detect_files import FileResult, detect_files, prepare_output
from ssd2ncnn.runtime.detector import Detection, Detector
from ssd2ncnn.runtime.draw import _text_colour, class_colour, draw_detections
from ssd2ncnn.runtime.drawn_files import drawn_format, drawn_path, output_paths, save_drawn

OUT = Path("out")
PATHS = [Path(f"im{k}.jpg") for k in range(8)]


# ----------------------------------------------------------------- drawn_files
@pytest.mark.parametrize(("name", "fmt", "want_format", "want_path"), [
    ("a.jpg", "auto", "jpeg", "a.jpg"),
    ("a.JPG", "auto", "jpeg", "a.JPG"),  # its own format: the suffix is kept as it was
    ("a.jpeg", "auto", "jpeg", "a.jpeg"),
    ("a.png", "auto", "png", "a.png"),
    ("a.webp", "auto", "webp", "a.webp"),
    ("a.bmp", "auto", "bmp", "a.bmp"),
    ("a.tif", "auto", "tiff", "a.tif"),
    ("a.tiff", "auto", "tiff", "a.tiff"),
    ("a.ppm", "auto", "ppm", "a.ppm"),
    ("a.gif", "auto", "png", "a.png"),  # a palette cannot hold the drawn colours
    ("a.pgm", "auto", "png", "a.png"),  # nor can grey
    ("a.xyz", "auto", "png", "a.png"),
    ("a.jpg", "png", "png", "a.png"),
    ("a.png", "jpeg", "jpeg", "a.jpg"),
    ("a.bmp", "webp", "webp", "a.webp"),
    ("a.png", "tiff", "tiff", "a.tif"),
    ("a.png", "bmp", "bmp", "a.bmp"),
    ("a.png", "ppm", "ppm", "a.ppm"),
    ("a.tiff", "tiff", "tiff", "a.tiff"),
])
def test_drawn_format_and_path(name, fmt, want_format, want_path):
    assert drawn_format(Path(name), fmt) == want_format
    assert drawn_path(Path("photos") / name, OUT, fmt) == OUT / want_path


def test_an_unknown_format_and_clashing_names_are_refused():
    with pytest.raises(InputError, match="unknown output format 'gif'; choose one of auto, jpeg, png, webp, bmp, tiff, ppm"):
        drawn_format(Path("a.jpg"), "gif")
    with pytest.raises(InputError, match="d1/a.jpg and d2/a.jpg would both be written to out/a.jpg; rename one"):
        output_paths([Path("d1/a.jpg"), Path("d2/a.jpg")], OUT)
    with pytest.raises(InputError, match="would both be written to out/a.png"):
        output_paths([Path("a.png"), Path("a.gif")], OUT)
    with pytest.raises(InputError, match="a.png and a.jpg would both be written to out/a.png"):
        output_paths([Path("a.png"), Path("a.jpg")], OUT, "png")  # --format png
    # the same file twice is one target; order kept
    assert output_paths([Path("b.png"), Path("a.jpg"), Path("b.png")], OUT) == {
        Path("b.png"): OUT / "b.png", Path("a.jpg"): OUT / "a.jpg"}
    assert list(output_paths([Path("b.png"), Path("a.jpg")], OUT)) == [Path("b.png"), Path("a.jpg")]


def test_save_drawn_writes_the_format_quality_and_mode(tmp_path):
    im = Image.new("RGB", (16, 8), (10, 200, 30))
    save_drawn(im, tmp_path / "a.jpg", "jpeg", 0o640)
    with Image.open(tmp_path / "a.jpg") as back:
        # libjpeg's quality scaling: 95 -> 200 - 2 * 95 = 10 %, luminance table's first entry 16 -> 2
        assert back.format == "JPEG" and back.quantization[0][0] == 2
    assert (tmp_path / "a.jpg").stat().st_mode & 0o777 == 0o640
    for fmt, pil in [("png", "PNG"), ("webp", "WEBP"), ("bmp", "BMP"), ("tiff", "TIFF"), ("ppm", "PPM")]:
        save_drawn(im, tmp_path / f"x.{fmt}", fmt)
        with Image.open(tmp_path / f"x.{fmt}") as back:
            assert back.format == pil and back.size == (16, 8)
            if fmt != "webp":  # lossless formats give the pixels back
                assert back.convert("RGB").getpixel((3, 3)) == (10, 200, 30)


# ----------------------------------------------------------------- draw
def test_class_colours_and_text_colour_by_hand():
    # hue 0.13 + 0.618034 k, s 0.85, v 0.95 (colorsys.hsv_to_rgb written out): v = 242, p = v (1 - s) = 36
    # k=0: h*6 = 0.78 -> (v, t, p), t = 0.95 (1 - 0.85 * 0.22) * 255 = 196.9
    # k=1: h = 0.748034, h*6 = 4.488 -> (t, p, v), t = 0.95 (1 - 0.85 * 0.5118) * 255 = 136.9
    # k=2: h = 0.366068, h*6 = 2.196 -> (p, v, t), t = 0.95 (1 - 0.85 * 0.8036) * 255 = 76.8
    assert [class_colour(k) for k in range(3)] == [(242, 196, 36), (136, 36, 242), (36, 242, 76)]
    # luma 0.299 r + 0.587 g + 0.114 b: above 140 black text, else white; (140, 140, 140) is exactly 140
    assert _text_colour((242, 196, 36)) == (0, 0, 0)  # luma 191.5
    assert _text_colour((136, 36, 242)) == (255, 255, 255)  # luma 89.4
    assert _text_colour((140, 140, 140)) == (255, 255, 255)
    assert _text_colour((141, 141, 141)) == (0, 0, 0)
    assert _text_colour((255, 100, 100)) == (0, 0, 0)  # luma 76.2 + 58.7 + 11.4 = 146.3: red counts


def _grey(w: int = 500, h: int = 500) -> Image.Image:
    return Image.new("RGB", (w, h), (128, 128, 128))


def test_a_box_is_the_class_colour_framed_in_black_2_px_at_500_px():
    """Box 100..300 on a 500 px image: width round(500 / 250) = 2 px inwards, a 1 px black frame outside."""
    src = _grey()
    out = np.asarray(draw_detections(src, [Detection(0, "cat", 0.9, (100.0, 100.0, 300.0, 300.0))]))
    c = list(class_colour(0))
    assert out[200, 100].tolist() == c and out[200, 101].tolist() == c and out[200, 102].tolist() == [128] * 3
    assert out[200, 99].tolist() == [0, 0, 0] and out[200, 98].tolist() == [128] * 3
    assert out[300, 250].tolist() == c and out[301, 250].tolist() == [0, 0, 0] and out[298, 250].tolist() == [128] * 3
    assert out[200, 300].tolist() == c and out[200, 301].tolist() == [0, 0, 0] and out[200, 302].tolist() == [128] * 3
    assert np.asarray(src).min() == 128  # the input is untouched
    # 1000 px: 4 px; 100 px: at least 1
    big = np.asarray(draw_detections(_grey(1000, 1000), [Detection(0, "cat", 0.9, (100.0, 500.0, 900.0, 900.0))]))
    assert [big[700, 100 + i].tolist() == c for i in range(5)] == [True] * 4 + [False]
    small = np.asarray(draw_detections(_grey(100, 100), [Detection(0, "cat", 0.9, (10.0, 50.0, 90.0, 90.0))]))
    assert small[70, 10].tolist() == c and small[70, 11].tolist() == [128] * 3
    # 375 px: 375 / 250 = 1.5, rounded half to even: 2 px
    mid = np.asarray(draw_detections(_grey(375, 375), [Detection(0, "cat", 0.9, (100.0, 100.0, 300.0, 300.0))]))
    assert mid[200, 101].tolist() == c and mid[200, 102].tolist() == [128] * 3


def _label_box(arr: np.ndarray, colour, y1: int) -> tuple[int, int, int]:
    """(left, top, right) of the filled label ending at row y1 (its last row, y1 - 1, is pure fill)."""
    cols = np.where((arr[y1 - 1] == colour).all(axis=1))[0]
    rows = np.where((arr[:y1, cols.min()] == colour).all(axis=1))[0]
    return int(cols.min()), int(rows.min()), int(cols.max())


@pytest.mark.parametrize(("size", "label", "pad", "ink"), [
    (500, 0, 2, 0),  # width 2 px, pad max(1, 2) = 2; black text on (242, 196, 36)
    (500, 1, 2, 255),  # white text on (136, 36, 242)
    (100, 0, 1, 0),  # width max(1, round(0.4)) = 1 px, pad 1
])
def test_the_label_is_the_text_padded_by_pad_on_every_side(size, label, pad, ink):
    """The text sits pad px inside its filled box: top and bottom exactly (the box is the text's bbox plus
    pad), left exactly for "cat"/"dog" (no left bearing), right pad to pad + 2 (the last glyph's bearing);
    nothing of the text spills onto the image around the box."""
    y1 = int(size * 0.4)
    det = Detection(label, ["cat", "dog"][label], 0.9, (size * 0.2, float(y1), size * 0.6, size * 0.8))
    arr = np.asarray(draw_detections(_grey(size, size), [det])).astype(int)
    colour = np.array(class_colour(label))
    left, top, right = _label_box(arr, colour, y1)
    rows, cols = np.where(~(arr[top:y1, left:right + 1] == colour).all(axis=2))
    assert (rows.min(), (y1 - 1 - top) - rows.max(), cols.min()) == (pad, pad, pad)
    assert pad <= (right - left) - cols.max() <= pad + 2
    text = arr[top:y1, left:right + 1][rows, cols]
    # the text colour picked by luma: at least one (anti-aliased) pixel half way from the fill to it, or beyond
    assert (np.abs(text - colour) >= np.abs(ink - colour) / 2).all(axis=1).any()
    grey = [128, 128, 128]
    assert (arr[top:y1 - 1, right + 1] == grey).all() and (arr[top:y1 - 1, left - 1] == grey).all()
    assert (arr[top - 1, left:right + 1] == grey).all()


def test_a_label_that_just_fits_goes_above_and_a_narrow_image_keeps_it_at_0():
    c = list(class_colour(0))
    det = Detection(0, "cat", 0.9, (100.0, 200.0, 300.0, 300.0))
    above = np.asarray(draw_detections(_grey(), [det])).astype(int)
    left, top, _ = _label_box(above, np.array(c), 200)
    th = 200 - top  # the label's height on this image
    fits = np.asarray(draw_detections(_grey(), [Detection(0, "cat", 0.9, (100.0, float(th), 300.0, 300.0))]))
    assert fits[0, left].tolist() == c and fits[th - 1, left].tolist() == c  # rows 0 .. th - 1: above
    # 30 px wide: the label is wider than the image, so it starts at 0 (and is cut at the right)
    narrow = np.asarray(draw_detections(_grey(30, 60), [Detection(0, "cat", 0.9, (5.0, 30.0, 25.0, 50.0))]))
    assert narrow[29, 0].tolist() == c and narrow[29, 29].tolist() == c


def test_the_label_sits_above_the_box_or_inside_it_and_inside_the_image():
    c = list(class_colour(0))
    above = np.asarray(draw_detections(_grey(), [Detection(0, "cat", 0.9, (100.0, 100.0, 300.0, 300.0))]))
    # the label's box ends at the box's top edge: its bottom rows (pad 2 px) are filled over the black frame
    assert above[99, 101].tolist() == c and above[98, 101].tolist() == c
    label_rows = above[:100, 100:300]
    assert (label_rows == 0).all(axis=2).any()  # black text on this light colour (luma 191.5)
    inside = np.asarray(draw_detections(_grey(), [Detection(0, "cat", 0.9, (100.0, 5.0, 300.0, 300.0))]))
    assert inside[4, 101].tolist() == [0, 0, 0]  # no room above: the frame stays, the label moves inside
    assert inside[6, 101].tolist() == c and inside[8, 101].tolist() == c
    # near the right edge the label is moved left to end at the image's edge
    right = np.asarray(draw_detections(_grey(), [Detection(0, "cat", 0.9, (490.0, 100.0, 499.0, 300.0))]))
    assert right[98, 499].tolist() == c and right[98, 480].tolist() == c
    # a box starting left of the image: the label starts at 0
    left = np.asarray(draw_detections(_grey(), [Detection(0, "cat", 0.9, (-20.0, 100.0, 300.0, 300.0))]))
    assert left[98, 0].tolist() == c
    white = np.asarray(draw_detections(_grey(), [Detection(1, "dog", 0.9, (100.0, 100.0, 300.0, 300.0))]))
    assert (white[:100, 100:300] == 255).all(axis=2).any()  # white text on (136, 36, 242), luma 89.4


def test_the_best_detection_is_drawn_last_and_swapped_corners_are_drawn():
    box = (100.0, 100.0, 300.0, 300.0)
    dets = [Detection(0, "cat", 0.9, box), Detection(1, "dog", 0.5, box)]
    for order in (dets, dets[::-1]):
        assert np.asarray(draw_detections(_grey(), order))[200, 100].tolist() == list(class_colour(0))
    swapped = draw_detections(_grey(), [Detection(0, "cat", 0.9, (300.0, 300.0, 100.0, 100.0))])
    assert np.array_equal(np.asarray(swapped), np.asarray(draw_detections(_grey(), [dets[0]])))
    grey_l = draw_detections(Image.new("L", (50, 40), 128), [])
    assert grey_l.mode == "RGB" and np.asarray(grey_l).tolist() == np.asarray(_grey(50, 40)).tolist()


# ----------------------------------------------------------------- batch
def test_failure_records_name_the_file_and_the_reason():
    p = Path("im.jpg")
    assert failure_of(p, InputError("cannot decode")) == FileFailure(p, "cannot decode")
    assert failure_of(p, OSError(13, "Permission denied")).message == "cannot access im.jpg: Permission denied"
    assert failure_of(p, OSError(13, "Permission denied", "/x/tmp")).message == "cannot access /x/tmp: Permission denied"
    assert failure_of(p, OSError("disk gone")).message == "cannot access im.jpg: disk gone"
    assert FileFailure(p, "why").to_dict() == {"image": "im.jpg", "error": "why"}


def test_the_pool_leaves_ncnns_threads_their_cores():
    cores = len(os.sched_getaffinity(0))
    assert available_cores() == cores
    assert pool_size(cores) == 0 and pool_size(0) == min(2, cores)


def test_write_behind_keeps_depth_jobs_queued_in_named_threads(tmp_path):
    names: list[str] = []
    gate = threading.Event()

    def job(k: int) -> None:
        gate.wait(10)
        names.append(threading.current_thread().name)

    writer = WriteBehind(workers=1, depth=2)
    for k in range(2):
        writer.submit(tmp_path / f"{k}", job, k)
        assert len(writer.pending) == k + 1  # none waited for: the jobs are blocked
    gate.set()
    writer.submit(tmp_path / "2", job, 2)  # the third: the caller waits for the oldest
    assert len(writer.pending) == 2
    assert writer.close() == [] and not writer.pending
    assert len(names) == 3 and len(set(names)) == 1 and names[0].startswith("ssd2ncnn-write")  # one worker
    seen: list[str] = []
    list(read_ahead(lambda p: seen.append(threading.current_thread().name), [Path("a")], workers=1))
    assert seen[0].startswith("ssd2ncnn-read")


def test_write_behind_without_workers_writes_in_submit(tmp_path):
    with WriteBehind(workers=0) as writer:
        writer.submit(tmp_path / "a", (tmp_path / "a").write_text, "x")
        assert (tmp_path / "a").read_text() == "x"
        assert writer.close() == []


# ----------------------------------------------------------------- detect_files
@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    """voc300 heads with one car (7) at 60 / (20 + 60) = 0.75, box 119.5..179.5 of 300 px."""
    cfg = get_preset("voc300")
    locs, confs = head_maps(cfg)
    conf0 = confs[0].reshape(4, 21)
    conf0[0] = -30.0
    conf0[0, 0], conf0[0, 7] = math.log(20.0), math.log(60.0)
    return Detector(tail_folder(tmp_path_factory.mktemp("car"), cfg, locs, confs), threads=1)


def test_prepare_output_checks_before_any_work(tmp_path):
    assert prepare_output([Path("a.jpg")], None) == {}
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="-o .*file exists and is not a folder"):
        prepare_output([Path("a.jpg")], tmp_path / "file")
    assert prepare_output([Path("a.jpg")], tmp_path / "x" / "y") == {Path("a.jpg"): tmp_path / "x" / "y" / "a.jpg"}
    assert (tmp_path / "x" / "y").is_dir()


@pytest.mark.parametrize("threads", [None, 0, 1])
def test_detect_files_one_record_per_file_in_order_write_failures_last(detector, tmp_path, threads):
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (600, 400), (90, 90, 90)).save(src / "a.png")
    Image.new("RGB", (300, 300), (90, 90, 90)).save(src / "b.jpg")
    (src / "broken.png").write_bytes(b"not a picture")
    Image.new("RGB", (30, 20)).save(src / "c.png")
    out = tmp_path / "drawn"
    (out / "c.png").mkdir(parents=True)  # c's drawn copy cannot replace a folder: a write failure
    paths = [src / "a.png", src / "missing.png", src / "b.jpg", src / "broken.png", src / "c.png"]
    records = list(detect_files(detector, paths, 0.5, out, workers=threads))
    assert [type(r).__name__ for r in records] == ["FileResult", "FileFailure", "FileResult", "FileFailure",
                                                   "FileResult", "FileFailure"]
    a, missing, b, broken, c, write = records
    assert isinstance(a, FileResult) and isinstance(b, FileResult) and isinstance(c, FileResult)
    assert (a.path, a.width, a.height, a.dropped, a.drawn) == (src / "a.png", 600, 400, 0, out / "a.png")
    [car] = a.detections
    # 119.5 and 179.5 px of 300 -> x 2 on the width, x 4 / 3 on the height
    assert car.label == 7 and car.box == pytest.approx((239.0, 159.3333, 359.0, 239.3333), abs=1e-3)
    assert a.to_dict() == {"image": str(src / "a.png"), "width": 600, "height": 400, "detections": [car.to_dict()]}
    assert missing.path == src / "missing.png" and "does not exist" in missing.message
    assert broken.path == src / "broken.png" and "not an image" in broken.message
    assert write.path == src / "c.png" and "cannot access" in write.message
    with Image.open(out / "a.png") as im:
        assert im.format == "PNG" and im.size == (600, 400)
        assert im.convert("RGB").getpixel((239, 200)) == class_colour(7)  # the car's left edge
    with Image.open(out / "b.jpg") as im:
        assert im.format == "JPEG" and im.size == (300, 300)
    assert (b.width, b.height, b.drawn) == (300, 300, out / "b.jpg")


def test_detect_files_without_output_draws_nothing(detector, tmp_path):
    Image.new("RGB", (300, 300)).save(tmp_path / "a.png")
    [rec] = list(detect_files(detector, [tmp_path / "a.png"], None))
    assert isinstance(rec, FileResult) and rec.drawn is None and [d.label for d in rec.detections] == [7]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_detect_files_keeps_the_format_and_threshold_it_was_given(detector, tmp_path):
    Image.new("RGB", (300, 300)).save(tmp_path / "a.jpg")
    [rec] = list(detect_files(detector, [tmp_path / "a.jpg"], 0.8, tmp_path / "drawn", "png", workers=0))
    assert isinstance(rec, FileResult) and rec.detections == []  # the car's 0.75 is not above 0.8
    assert rec.drawn == tmp_path / "drawn" / "a.png"
    with Image.open(tmp_path / "drawn" / "a.png") as im:
        assert im.format == "PNG"


def _ssd2ncnn_threads() -> set[str]:
    return {t.name.rsplit("_", 1)[0] for t in threading.enumerate() if t.name.startswith("ssd2ncnn-")}


@pytest.mark.parametrize("threads", [0, 1, None])
def test_detect_files_runs_in_the_threads_it_is_given(detector, tmp_path, threads):
    """workers=0: everything in the caller's thread; 1: one reader and one writer thread; None: the cores
    ncnn's 1 thread leaves free, at most 2 (batch.pool_size's rule, by hand)."""
    for k in range(6):
        Image.new("RGB", (300, 300)).save(tmp_path / f"{k}.png")
    paths = [tmp_path / f"{k}.png" for k in range(6)]
    seen: set[str] = set()
    counts = []
    for _ in detect_files(detector, paths, 0.5, tmp_path / "drawn", workers=threads):
        seen |= _ssd2ncnn_threads()
        counts.append(sum(t.name.startswith("ssd2ncnn-read") for t in threading.enumerate()))
    want = max(0, min(2, len(os.sched_getaffinity(0)) - 1)) if threads is None else threads
    assert (max(counts) >= 1 if want else max(counts) == 0) and max(counts) <= want  # threads start on demand
    assert seen == ({"ssd2ncnn-read", "ssd2ncnn-write"} if want else set())
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == [f"{k}.png" for k in range(6)]


def test_available_cores_is_the_affinity_mask():
    """This thread pinned to one core (Linux: sched_setaffinity(0) is the calling thread): 1 core, whatever
    os.cpu_count() says."""
    mask = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(mask)})
    try:
        assert available_cores() == 1 and pool_size(1) == 0 and pool_size(0) == 1
    finally:
        os.sched_setaffinity(0, mask)


def test_read_ahead_reads_ahead_files_in_workers_threads_and_stops_cleanly():
    """workers=4, ahead=3: four files are submitted before the first is handed over, so the first can wait
    for the fourth to start; one worker runs one thread; stopping early cancels what has not started and
    waits for what has."""
    started: list[Path] = []
    fourth = threading.Event()

    def first_waits_for_the_fourth(path: Path) -> bool:
        started.append(path)
        if path == PATHS[3]:
            fourth.set()
        return fourth.wait(5) if path == PATHS[0] else True

    reads = read_ahead(first_waits_for_the_fourth, PATHS[:8], workers=4, ahead=3)
    assert next(reads) == (PATHS[0], True)
    reads.close()
    names, finished = [], []

    def slow(path: Path) -> None:
        names.append(threading.current_thread().name)
        threading.Event().wait(0.05)
        finished.append(path)

    reads = read_ahead(slow, PATHS[:8], workers=1, ahead=4)
    next(reads)
    reads.close()  # 5 submitted: the first done, the second running, three queued
    assert len(set(names)) == 1 and len(finished) == len(names) <= 2  # nothing left running or queued


def test_leaving_write_behind_on_an_error_cancels_queued_jobs_and_waits_for_the_running_one(tmp_path):
    finished: list[int] = []

    def slow(k: int) -> None:
        threading.Event().wait(0.05)
        finished.append(k)

    with pytest.raises(KeyError), WriteBehind(workers=1, depth=4) as writer:
        for k in range(3):
            writer.submit(tmp_path / f"{k}", slow, k)
        raise KeyError("the consumer failed")
    assert finished == [0]
    threading.Event().wait(0.15)
    assert finished == [0]  # the queued jobs never run
