"""runtime.detector, runtime.net and runtime.preprocess against values worked out by hand, on the
MemoryData stand-in of tests/contract_by_hand.py (real ncnn, no conversion: fast). Written for the
mutation score of #21 (docs/testing.md): each test kills mutants the slow runtime tests left alive.

voc300: 21 classes (VOC_CLASSES: 3 = bird, 7 = car, 20 = tvmonitor), input 300, mean 123.675 116.28 103.53,
std 1 (the seed's img_norm_cfg)."""

from __future__ import annotations

import math
from dataclasses import replace

import ncnn
import numpy as np
import pytest
from contract_by_hand import head_maps, tail_folder
from PIL import Image

from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import InputError, ToolError
from ssd2ncnn.modelfolder import read_info
from ssd2ncnn.runtime.detector import Detector, ImageSize, clamp_boxes, pixels_of
from ssd2ncnn.runtime.net import load_net, mat_to_numpy, run_net, time_forward
from ssd2ncnn.runtime.preprocess import ncnn_input

VOC_MEAN = np.array([123.675, 116.28, 103.53], np.float32)


def _flat(chw: np.ndarray) -> list[float]:
    """The one value of each channel of a flat input (asserting it is flat)."""
    per = chw.reshape(3, -1)
    np.testing.assert_allclose(per, per[:, :1].repeat(per.shape[1], axis=1), atol=1e-4)
    return [float(v) for v in per[:, 0]]


def _one_object(score_logits: tuple[float, float]):
    """voc300 heads with one object: level 0 prior 0 (centre 149.5 px, 60 px: 119.5..179.5 of 300) says
    car (7) with softmax exp(b) / (exp(a) + exp(b)) for (a, b) = score_logits; every other prior is
    background at 20 (contract_by_hand.head_maps)."""
    cfg = get_preset("voc300")
    locs, confs = head_maps(cfg)
    conf0 = confs[0].reshape(4, 21)
    conf0[0] = -30.0
    conf0[0, 0], conf0[0, 7] = score_logits
    return cfg, locs, confs


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One car at 0.75 = 60 / (20 + 60)."""
    cfg, locs, confs = _one_object((math.log(20.0), math.log(60.0)))
    return tail_folder(tmp_path_factory.mktemp("one-car"), cfg, locs, confs)


@pytest.fixture(scope="module")
def detector(folder):
    return Detector(folder, threads=1)


# ----------------------------------------------------------------- boxes: ncnn clients' clamp, by hand
def test_clamp_boxes_clamps_to_s_minus_1_then_scales_width_and_height():
    boxes = np.array([[0.5, -0.1, 1.2, 0.25], [0.0, 0.0, 299 / 300, 1.0]])
    got = clamp_boxes(boxes, 300, ImageSize(width=600, height=400))
    # 0.5 * 300 = 150 -> 150 / 300 * 600 = 300; -30 -> 0; 360 -> 299 -> 598; 75 -> 75 / 300 * 400 = 100
    np.testing.assert_allclose(got, [[300.0, 0.0, 598.0, 100.0], [0.0, 0.0, 598.0, 299 / 300 * 400]], atol=1e-9)


def test_to_detections_drops_bad_rows_keeps_score_above_threshold_best_first(detector):
    rows = np.array([
        [7, 0.5, 0.1, 0.2, 0.5, 1.0],
        [3, 0.9, 0.0, 0.0, 0.1, 0.1],
        [0, 0.99, 0, 0, 1, 1],  # background: not a class
        [21, 0.99, 0, 0, 1, 1],  # one past the last class (tvmonitor, 20)
        [2.5, 0.99, 0, 0, 1, 1],  # not an integer label
        [5, np.nan, 0, 0, 1, 1],
        [5, 0.3, 0, 0, np.inf, 1],
        [20, 0.3, 0, 0, 1, 1],  # the last class: kept
        [1, 0.5, 0, 0, 1, 1],  # the first class; ties car's 0.5 and stays after it (stable order)
    ])
    with pytest.warns(RuntimeWarning, match="dropped 5 detection rows"):
        dets = detector.to_detections(rows, ImageSize(300, 150))
    assert detector.last_dropped == 5
    assert [(d.label, d.name, d.score) for d in dets] == [
        (3, "bird", 0.9), (7, "car", 0.5), (1, "aeroplane", 0.5), (20, "tvmonitor", 0.3)]
    # car: 30, 60 -> 30 (of 150 px high), 150, 300 -> 299 -> 149.5
    assert dets[1].box == pytest.approx((30.0, 30.0, 150.0, 149.5))
    assert dets[1].to_dict() == {"label": 7, "name": "car", "score": 0.5, "box": list(dets[1].box)}
    assert isinstance(dets[1].to_dict()["box"], list)
    # ncnn's DetectionOutput keeps score > threshold: a score equal to it goes
    good = rows[[0, 1, 7, 8]]
    assert [d.label for d in detector.to_detections(good, ImageSize(300, 150), 0.3)] == [3, 7, 1]
    assert [d.label for d in detector.to_detections(good, ImageSize(300, 150), 0.5)] == [3]
    assert detector.to_detections(rows[:2], ImageSize(300, 150), 1.0) == []
    assert len(detector.to_detections(rows[:2], ImageSize(300, 150), 0.0)) == 2
    assert detector.last_dropped == 0  # counted per call


@pytest.mark.parametrize("threshold", [-0.01, 1.01, float("nan")])
def test_a_threshold_outside_0_1_is_refused(detector, threshold):
    with pytest.raises(InputError, match="threshold must be in \\[0, 1\\]"):
        detector.to_detections(np.zeros((0, 6)), ImageSize(10, 10), threshold)


def test_detect_default_threshold_is_0_3_and_none_keeps_all(tmp_path):
    # car at 0.25 = 20 / (60 + 20): under the 0.3 default, kept with threshold=None
    cfg, locs, confs = _one_object((math.log(60.0), math.log(20.0)))
    det = Detector(tail_folder(tmp_path, cfg, locs, confs))
    image = Image.new("RGB", (600, 300))
    assert det.detect(image) == []
    [car] = det.detect(image, threshold=None)
    assert car.label == 7 and car.score == pytest.approx(0.25, abs=1e-6)
    # 119.5 and 179.5 of 300 px -> x 2 on the width, x 1 on the height
    assert car.box == pytest.approx((239.0, 119.5, 359.0, 179.5), abs=1e-3)


# ----------------------------------------------------------------- the Detector's inputs
def test_pixels_of_takes_only_h_w_3_uint8_and_flips_bgr_as_a_view():
    a = np.array([[[1, 2, 3], [4, 5, 6]]], np.uint8)
    assert pixels_of(a) is a
    flipped = pixels_of(a, bgr=True)
    assert flipped.tolist() == [[[3, 2, 1], [6, 5, 4]]] and np.shares_memory(flipped, a)
    assert pixels_of(np.zeros((1, 1, 3), np.uint8)).shape == (1, 1, 3)
    bad = {
        "float32 array of shape \\(2, 2, 3\\)": np.zeros((2, 2, 3), np.float32),
        "uint8 array of shape \\(2, 2\\)": np.zeros((2, 2), np.uint8),
        "uint8 array of shape \\(2, 2, 4\\)": np.zeros((2, 2, 4), np.uint8),
        "got a list": [[[1, 2, 3]]],
        "\\(0, 5, 3\\) has no pixels": np.zeros((0, 5, 3), np.uint8),
        "\\(5, 0, 3\\) has no pixels": np.zeros((5, 0, 3), np.uint8),
    }
    for message, image in bad.items():
        with pytest.raises(InputError, match=message):
            pixels_of(image)  # type: ignore[arg-type]


def test_every_input_kind_reaches_ncnn_as_mean_subtracted_rgb(detector, tmp_path):
    """A flat (200, 100, 50) image: (pixel - mean) * 1 per channel, whatever form it comes in."""
    want = [200 - 123.675, 100 - 116.28, 50 - 103.53]
    Image.new("RGB", (40, 20), (200, 100, 50)).save(tmp_path / "flat.png")
    chw, size = detector.preprocess(tmp_path / "flat.png")
    assert size == ImageSize(40, 20) and chw.shape == (3, 300, 300)
    np.testing.assert_allclose(_flat(chw), want, atol=1e-4)
    np.testing.assert_allclose(_flat(detector.preprocess(str(tmp_path / "flat.png"))[0]), want, atol=1e-4)
    bgr = np.full((20, 40, 3), (50, 100, 200), np.uint8)
    np.testing.assert_allclose(_flat(detector.preprocess(bgr, bgr=True)[0]), want, atol=1e-4)
    grey = Image.new("L", (40, 20), 100)  # converted to RGB (100, 100, 100)
    np.testing.assert_allclose(_flat(detector.preprocess(grey)[0]), 100 - VOC_MEAN, atol=1e-4)
    prepared = detector.prepare(Image.new("RGB", (40, 20), (200, 100, 50)))
    assert prepared.size == ImageSize(40, 20)
    np.testing.assert_allclose(_flat(np.array(prepared.mat).reshape(3, 300, 300)), want, atol=1e-4)


def test_the_resize_stretches_width_and_height():
    """Left half red, right half blue, 40 x 20: after the stretch to 300 x 300 the left columns are red
    and the right ones blue on every row (a width/height mix-up reads the rows as columns)."""
    im = np.zeros((20, 40, 3), np.uint8)
    im[:, :20] = (255, 0, 0)
    im[:, 20:] = (0, 0, 255)
    norm = replace(get_preset("voc300"), mean=(0.0, 0.0, 0.0))
    chw = ncnn_input(im, 300, norm)
    np.testing.assert_allclose(chw[:, :, :100], np.broadcast_to([[[255.0]], [[0.0]], [[0.0]]], (3, 300, 100)))
    np.testing.assert_allclose(chw[:, :, 200:], np.broadcast_to([[[0.0]], [[0.0]], [[255.0]]], (3, 300, 100)))


def test_a_bgr_model_gets_blue_first_and_its_own_mean_and_norm():
    """rgb=False: ncnn converts inside the resize (PIXEL_RGB2BGR); mean 10 20 30, std 2 4 5 -> norm
    0.5 0.25 0.2: (50 - 10) * 0.5, (100 - 20) * 0.25, (200 - 30) * 0.2."""
    cfg = replace(get_preset("voc300"), rgb=False, mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 5.0))
    chw = ncnn_input(Image.new("RGB", (7, 5), (200, 100, 50)), 64, cfg)
    assert chw.shape == (3, 64, 64)
    np.testing.assert_allclose(_flat(chw), [20.0, 20.0, 34.0], atol=1e-4)
    for bad in (np.zeros((4, 4), np.uint8), np.zeros((4, 4, 4), np.uint8)):
        with pytest.raises(ValueError, match="expected \\(H, W, 3\\) pixels"):
            ncnn_input(bad, 64, cfg)


def test_detector_settings_sizes_threads_and_options(folder):
    info = read_info(folder)
    assert info.input_size == 300
    d = Detector(folder)
    assert (d.input_size, d.num_threads, d.net.opt.num_threads) == (300, 2, 2)
    assert d.class_names[20] == "tvmonitor" and (d.input_blob, d.output_blob) == ("input", "detection_out")
    assert Detector(folder, input_size=32).input_size == 32  # the smallest size convert exports
    with pytest.raises(InputError, match="input size 31 is too small; use at least 32"):
        Detector(folder, input_size=31)
    with pytest.raises(InputError, match="threads must be at least 1, got 0"):
        Detector(folder, threads=0)
    # the folder's options, then the caller's on top
    own = replace(info, ncnn_options={"use_sgemm_convolution": False, "lightmode": False})
    d = Detector(folder, info=own, options={"lightmode": True}, threads=1)
    assert (d.net.opt.use_sgemm_convolution, d.net.opt.lightmode, d.net.opt.num_threads) == (False, True, 1)
    assert d.net.opt.use_vulkan_compute is False
    with pytest.raises(InputError, match="unknown ncnn option 'turbo'; known: use_packing_layout, "):
        Detector(folder, options={"turbo": True})


def test_raw_checks_the_input_and_returns_the_named_blobs(detector):
    for shape in [(2, 300, 300), (300, 300)]:
        with pytest.raises(InputError, match="network input must be \\(3, H, W\\)"):
            detector.raw(np.zeros(shape, np.float32))
    rows = detector.raw(np.zeros((3, 300, 300), np.float32))
    assert list(rows) == ["detection_out"]
    np.testing.assert_allclose(rows["detection_out"], [[7, 0.75, 119.5 / 300, 119.5 / 300, 179.5 / 300, 179.5 / 300]],
                               atol=1e-5)
    # voc300 on 1 x 1 maps: 4 + 6 + 6 + 6 + 4 + 4 = 30 priors -> (2, 120) boxes and variances
    assert detector.raw(np.zeros((3, 300, 300), np.float32), ["mbox_priorbox"])["mbox_priorbox"].shape == (2, 120)


# ----------------------------------------------------------------- the ncnn binding's quirks (runtime.net)
def test_load_net_errors_name_the_file_and_the_fix(folder, tmp_path):
    with pytest.raises(InputError, match="nope.param does not exist"):
        load_net(tmp_path / "nope.param", folder / "model.bin")
    (tmp_path / "garbage.param").write_text("not a param\n")
    with pytest.raises(ToolError, match="ncnn could not load .*garbage.param; run `ssd2ncnn param lint"):
        load_net(tmp_path / "garbage.param", folder / "model.bin")
    (tmp_path / "short.bin").write_bytes(b"\0" * 8)
    with pytest.raises(ToolError, match="could not load weights .*short.bin; the .bin does not match"):
        load_net(folder / "model.param", tmp_path / "short.bin")
    # no weights: ncnn's empty reader gives zero maps, so every class of every prior scores 1 / 21 > 0.01:
    # DetectionOutput keeps its keep_top_k = 100
    empty = load_net(folder / "model.param", None)
    rows = run_net(empty, np.zeros((3, 300, 300), np.float32), ["detection_out"])["detection_out"]
    assert rows.shape == (100, 6)
    np.testing.assert_allclose(rows[:, 1], 1 / 21, rtol=1e-5)


def test_mat_to_numpy_copies_and_shapes_detection_out():
    assert mat_to_numpy(ncnn.Mat(), "detection_out").shape == (0, 6)
    assert mat_to_numpy(ncnn.Mat(), "mbox_loc").shape == (0,)
    src = np.arange(12, dtype=np.float32)
    mat = ncnn.Mat(src).clone()
    rows = mat_to_numpy(mat, "detection_out")
    assert rows.shape == (2, 6) and rows.dtype == np.float32 and rows[1, 0] == 6.0
    flat = mat_to_numpy(mat, "mbox_loc")
    assert flat.shape == (12,)
    flat[0] = 99.0
    assert np.array(mat)[0] == 0.0  # a copy: the Mat is untouched


def test_time_forward_times_each_run(detector):
    times = time_forward(detector.net, np.zeros((3, 300, 300), np.float32), "detection_out", runs=3)
    assert len(times) == 3 and all(0.0 < t < 10.0 for t in times)
    assert len(time_forward(detector.net, np.zeros((3, 300, 300), np.float32), "detection_out")) == 10


def test_a_blob_ncnn_cannot_compute_is_a_tool_error(detector):
    zeros = np.zeros((3, 300, 300), np.float32)
    with pytest.raises(ToolError, match="ncnn failed to compute blob 'nope' \\(code -1\\)"):
        run_net(detector.net, zeros, ["detection_out", "nope"])
    with pytest.raises(ToolError, match="ncnn failed to compute blob 'nope'"):
        time_forward(detector.net, zeros, "nope", runs=1)


def _mean_colour_folder(folder, cfg):
    """A folder whose "network" reports the input: out = [1, 0.9, 0, mean of channel 0, 1, 2] (ncnn's global
    average Pooling, 0=1 avg 4=1 global, after a MemoryData of 1, 0.9, 0), so a row's y1, x2, y2 are the
    normalized channel means. Blobs named `data` and `out` (model.json says so), not the zoo's names."""
    from ssd2ncnn.modelfolder import BIN, PARAM, ModelInfo, write_info

    folder.mkdir(parents=True, exist_ok=True)
    (folder / PARAM).write_text("7767517\n4 4\nInput data 0 1 data\nPooling gap 1 1 data pooled 0=1 4=1\n"
                                "MemoryData head 0 1 head 0=3\nConcat cat 2 1 head pooled out 0=0\n")
    (folder / BIN).write_bytes(np.array([1.0, 0.9, 0.0], np.float32).tobytes())
    write_info(folder, ModelInfo(config=cfg, input_size=32, input_blob="data", output_blob="out"))
    return folder


def test_detect_feeds_the_net_what_it_was_given_rgb_or_bgr(tmp_path):
    """mean 0, std 255: channel means (255, 0, 128) / 255 -> y1 1.0 (clamped to 31 / 32 of 20 px = 19.375),
    x2 0, y2 128 / 255 of 20 px = 10.039; the BGR array of the same pixels gives the same box."""
    cfg = replace(get_preset("voc300"), mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0))
    det = Detector(_mean_colour_folder(tmp_path, cfg))
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:] = (255, 0, 128)
    want = (0.0, 19.375, 0.0, 128 / 255 * 20)
    [d] = det.detect(rgb)
    assert (d.label, d.name, d.score) == (1, "aeroplane", pytest.approx(0.9)) and d.box == pytest.approx(want, abs=1e-3)
    assert det.detect(rgb[..., ::-1].copy(), bgr=True)[0].box == pytest.approx(want, abs=1e-3)
    assert det.detect(rgb, bgr=True)[0].box == pytest.approx((0.0, 128 / 255 * 20, 0.0, 19.375), abs=1e-3)
    rows = det.raw(det.preprocess(rgb)[0])
    assert list(rows) == ["out"] and rows["out"].tolist() == pytest.approx([1.0, 0.9, 0.0, 1.0, 0.0, 128 / 255], abs=1e-3)


def test_ties_keep_ncnns_order_and_the_warning_points_at_the_caller(folder):
    """40 rows (DetectionOutput keeps up to keep_top_k = 100), every 7th at 0.9, the rest tied at 0.5: best
    first, and within a tie the order ncnn wrote (x1 = k / 100 numbers the rows). A fresh Detector has
    dropped nothing."""
    det = Detector(folder, threads=1)
    assert det.last_dropped == 0
    rows = np.array([[1 + k % 20, 0.9 if k % 7 == 0 else 0.5, k / 100, 0, 1, 1] for k in range(40)])
    order = [round(d.box[0] / 300 * 100) for d in det.to_detections(rows, ImageSize(300, 300))]
    assert order == [0, 7, 14, 21, 28, 35] + [k for k in range(40) if k % 7]


def test_ncnn_input_converts_pil_modes_and_integer_arrays_itself():
    """Called directly (verify, quantize do): a grey PIL image becomes RGB (100, 100, 100), an int64 array
    of 0..255 is read as those pixel values."""
    cfg = get_preset("voc300")
    np.testing.assert_allclose(_flat(ncnn_input(Image.new("L", (7, 5), 100), 64, cfg)), 100 - VOC_MEAN, atol=1e-4)
    wide = np.zeros((5, 7, 3), np.int64) + np.array([200, 100, 50])
    np.testing.assert_allclose(_flat(ncnn_input(wide, 64, cfg)), np.array([200, 100, 50]) - VOC_MEAN, atol=1e-4)


def test_run_net_takes_any_float_input_and_an_empty_detection_out_is_0_by_6(tmp_path):
    cfg = replace(get_preset("voc300"), mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0))
    det = Detector(_mean_colour_folder(tmp_path / "means", cfg))
    chw = np.stack([np.full((32, 32), v) for v in (0.25, 0.5, 0.75)])  # float64
    np.testing.assert_allclose(det.raw(chw)["out"], [1.0, 0.9, 0.0, 0.25, 0.5, 0.75], atol=1e-6)
    cfg = get_preset("voc300")
    nothing = Detector(tail_folder(tmp_path / "nothing", cfg, *head_maps(cfg)))  # every prior background
    rows = nothing.raw(np.zeros((3, 300, 300), np.float32))["detection_out"]
    assert rows.shape == (0, 6) and rows.dtype == np.float32
    assert mat_to_numpy(ncnn.Mat(), "mbox_loc").dtype == np.float32
