"""ssd2ncnn.runtime: Detector, image loading, drawing. Real ncnn on a converted (perturbed) model; the
image-loading and drawing tests need no model, so they are in the fast suite (only the others are slow)."""

from __future__ import annotations

import json
import shutil
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from runtime_helpers import INPUT_SIZE, build_models, scene_image

from ssd2ncnn.errors import InputError
from ssd2ncnn.runtime.detector import Detection, Detector, ImageSize
from ssd2ncnn.runtime.draw import class_colour, draw_detections
from ssd2ncnn.runtime.images import MAX_PIXELS, load_image


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_models(tmp_path_factory.getbasetemp() / "runtime-models")


@pytest.fixture(scope="module")
def detector(models):
    return Detector(models["real"])


def _scaled_rows(rows: np.ndarray, w: int, h: int, s: int = INPUT_SIZE) -> np.ndarray:
    """detection_out rows with boxes in pixels, computed independently of Detector, as ncnn's
    examples/mobilenetv3ssdlite.cpp does it: clamp(v * S, 0, S - 1) / S * w."""
    out = rows.astype(np.float64).copy()
    out[:, 2:6] = np.clip(out[:, 2:6] * s, 0, s - 1) / s * [w, h, w, h]
    return out


def _ncnn_app(param, weights, pixels: np.ndarray, size: int, info) -> np.ndarray:
    """The pipeline of ncnn's python model_zoo MobileNetV3_SSDLite, written out here with ncnn's API:
    from_pixels_resize, substract_mean_normalize, extract detection_out, clamp and scale. Rows of label,
    score, x1, y1, x2, y2 in pixels of the original image."""
    import ncnn

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    assert net.load_param(str(param)) == 0 and net.load_model(str(weights)) == 0
    h, w = pixels.shape[:2]
    mat = ncnn.Mat.from_pixels_resize(pixels, ncnn.Mat.PixelType.PIXEL_RGB, w, h, size, size)
    mat.substract_mean_normalize(list(info.mean_vals), list(info.norm_vals))
    ex = net.create_extractor()
    ex.input("input", mat)
    ret, out = ex.extract("detection_out")
    assert ret == 0
    rows = []
    for i in range(out.h):
        v = [float(x) for x in out.row(i)]
        box = [min(max(v[2 + k] * size, 0.0), float(size - 1)) / size * (w, h)[k % 2] for k in range(4)]
        rows.append([v[0], v[1], *box])
    del ex, net
    return np.array(rows, dtype=np.float64).reshape(-1, 6)


def _as_rows(dets: list[Detection]) -> np.ndarray:
    return np.array([[d.label, d.score, *d.box] for d in dets], dtype=np.float64).reshape(-1, 6)


# --- preprocessing ---------------------------------------------------------------------------------------


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_preprocess_uniform_image_by_hand(detector):
    im = Image.new("RGB", (3, 2), (10, 200, 30))
    chw, size = detector.preprocess(im)
    assert size == ImageSize(3, 2)
    assert chw.shape == (3, INPUT_SIZE, INPUT_SIZE) and chw.dtype == np.float32
    mean, norm = detector.info.mean_vals, detector.info.norm_vals
    for c, pixel in enumerate((10, 200, 30)):
        np.testing.assert_allclose(chw[c], (pixel - mean[c]) * norm[c], rtol=1e-6)


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_preprocess_bgr_and_norm_from_model_json(models, tmp_path):
    out = tmp_path / "bgr"
    shutil.copytree(models["real"], out)
    meta = json.loads((out / "model.json").read_text())
    # the config is the source, the top-level copies (what apps read) must agree with it
    meta.update(rgb=False, mean_vals=[1.0, 2.0, 3.0], norm_vals=[0.5, 0.25, 2.0])
    meta["config"].update(rgb=False, mean=[1.0, 2.0, 3.0], std=[2.0, 4.0, 0.5])
    (out / "model.json").write_text(json.dumps(meta))
    chw, _ = Detector(out, input_size=32).preprocess(Image.new("RGB", (1, 1), (10, 200, 30)))
    # BGR: channel 0 is blue.
    for c, expected in enumerate(((30 - 1) * 0.5, (200 - 2) * 0.25, (10 - 3) * 2.0)):
        np.testing.assert_allclose(chw[c], expected, rtol=1e-6)


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_preprocess_is_ncnn_bilinear_not_pillow(detector):
    # Downscaling 640 -> 160 columns of 4-pixel stripes in periods of 8: ncnn's bilinear samples the two
    # pixels around (dx + 0.5) * 4 - 0.5 = 4 dx + 1.5, both inside one stripe, so output columns alternate
    # 0 and 255 exactly; Pillow's filter widens with the scale and averages neighbouring stripes.
    row = np.tile(np.repeat(np.array([0, 255], np.uint8), 4), 80)
    pixels = np.repeat(np.repeat(row[None, :, None], 3, axis=2), 40, axis=0)
    chw, _ = detector.preprocess(Image.fromarray(pixels))
    got = chw[0] / detector.info.norm_vals[0] + detector.info.mean_vals[0]
    expected = np.tile([0.0, 255.0], INPUT_SIZE // 2)
    np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), atol=1e-3)
    pillow = np.asarray(Image.fromarray(pixels).resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR))
    assert np.abs(pillow[..., 0].astype(float) - expected).max() > 30  # the two resizes really differ here


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_preprocess_bilinear_by_hand(detector):
    # Upscaling 2 -> 160 columns: ncnn's bilinear is linear between pixel centres, flat outside them.
    im = Image.fromarray(np.array([[[0, 0, 0], [200, 200, 200]]], dtype=np.uint8))
    chw, _ = detector.preprocess(im)
    centres = (np.arange(INPUT_SIZE) + 0.5) * 2 / INPUT_SIZE - 0.5
    expected = np.clip(centres, 0, 1) * 200
    got = chw[0, 0] / detector.info.norm_vals[0] + detector.info.mean_vals[0]
    # ncnn's resize writes uint8: the exact value rounded (the values here end in .25 or .75, no ties), so
    # |error| <= 0.25; sampling a quarter of an output pixel off would be 0.625 off (2.5 per column)
    np.testing.assert_allclose(got, expected, atol=0.25 + 1e-4)
    np.testing.assert_allclose(got, np.round(expected), atol=1e-4)


# --- detection ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wh", [(300, 170), (97, 61)])  # downscaled and upscaled
@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_detections_are_what_ncnns_own_client_gets(models, detector, wh):
    im = scene_image(*wh, seed=4)
    meta = detector.info
    rows = _ncnn_app(models["real"] / "model.param", models["real"] / "model.bin", np.asarray(im), INPUT_SIZE, meta)
    rows = rows[rows[:, 1] > 0.3]
    rows = rows[np.argsort(-rows[:, 1], kind="stable")]
    assert len(rows) >= 3, "the perturbed model should give real detections"
    dets = detector.detect(im, threshold=0.3)
    assert detector.last_dropped == 0
    np.testing.assert_allclose(_as_rows(dets), rows, rtol=0, atol=1e-9)  # the same numbers, not merely close
    for d in dets:
        x1, y1, x2, y2 = d.box
        assert 0 <= x1 <= x2 < wh[0] and 0 <= y1 <= y2 < wh[1]
        assert d.name == meta.class_names[d.label] and d.label >= 1
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_raw_and_detect_agree_without_threshold(detector):
    im = scene_image(120, 333, seed=5)
    chw, size = detector.preprocess(im)
    rows = detector.raw(chw)["detection_out"]
    assert rows.ndim == 2 and rows.shape[1] == 6
    np.testing.assert_allclose(_as_rows(detector.detect(im, threshold=None)), _scaled_rows(rows, *size), rtol=1e-5, atol=1e-3)


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_input_size_override_and_options(models):
    det = Detector(models["real"], input_size=96, threads=1, options={"use_packing_layout": False})
    chw, _ = det.preprocess(scene_image(64, 48))
    assert chw.shape == (3, 96, 96)
    assert isinstance(det.detect(scene_image(64, 48)), list)
    with pytest.raises(InputError, match="at least 32"):
        Detector(models["real"], input_size=8)
    with pytest.raises(InputError, match="unknown ncnn option"):
        Detector(models["real"], options={"use_magic": True})
    with pytest.raises(InputError, match="threshold"):
        det.detect(scene_image(8, 8), threshold=1.5)


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_zero_detections(models, detector):
    im = scene_image(64, 48, seed=1)
    assert detector.detect(im, threshold=1.0) == []
    empty = Detector(models["empty"])  # ncnn returns an empty Mat
    assert empty.raw(empty.preprocess(im)[0])["detection_out"].shape == (0, 6)
    assert empty.detect(im) == [] and empty.last_dropped == 0


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_non_finite_and_unknown_rows_are_dropped_and_counted(detector):
    good = [2, 0.9, 0.1, 0.2, 0.5, 0.6]
    rows = np.array(
        [
            good,
            [1, np.nan, 0, 0, 1, 1],
            [1, 0.8, 0, np.inf, 1, 1],
            [0, 0.7, 0, 0, 1, 1],
            [99, 0.7, 0, 0, 1, 1],
        ],
        dtype=np.float32,
    )
    with pytest.warns(RuntimeWarning, match="dropped 4"):
        dets = detector.to_detections(rows, ImageSize(200, 100))
    assert detector.last_dropped == 4
    assert dets == [
        Detection(2, detector.class_names[2], pytest.approx(0.9), pytest.approx((20, 20, 100, 60)))
    ]


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_boxes_outside_the_input_are_clipped(detector):
    rows = np.array([[1, 0.5, -0.2, -0.1, 1.3, 0.5]], dtype=np.float32)
    (d,) = detector.to_detections(rows, ImageSize(50, 40))
    s = INPUT_SIZE  # clamped to [0, S-1] on the network input, as ncnn's clients do
    assert d.box == pytest.approx((0, 0, (s - 1) / s * 50, 20))


# --- images ------------------------------------------------------------------------------------------------


def _png_with_size(path, width: int, height: int) -> None:
    """A valid 1x1 PNG whose header claims width x height: only the header is read before refusing."""
    buf = path.with_suffix(".tmp.png")
    Image.new("L", (1, 1)).save(buf)
    data = bytearray(buf.read_bytes())
    buf.unlink()
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def _odd_images(tmp_path):
    """name -> (path, expected size after loading)."""
    gradient16 = (np.arange(64 * 8, dtype=np.uint32).reshape(8, 64) * 128).astype(np.uint16)
    files = {}

    def save(name, im, size=None, **kw):
        path = tmp_path / name
        im.save(path, **kw)
        files[name] = (path, size or im.size)

    save("grey.png", scene_image(40, 30).convert("L"))
    save("palette.png", scene_image(40, 30).convert("P"))
    p = scene_image(40, 30).convert("P")
    p.info["transparency"] = 0
    save("palette_transparent.png", p, transparency=0)
    rgba = scene_image(40, 30).convert("RGBA")
    rgba.putalpha(128)
    save("rgba.png", rgba)
    save("la.png", scene_image(40, 30).convert("LA"))
    save("grey16.png", Image.fromarray(gradient16))
    save("int32.tif", Image.fromarray(gradient16.astype(np.int32)))
    save("float.tif", Image.fromarray(np.linspace(0, 300, 40 * 30, dtype=np.float32).reshape(30, 40)))
    save("cmyk.jpg", scene_image(40, 30).convert("CMYK"))
    save("bilevel.png", scene_image(40, 30).convert("1"))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    save("exif_rotated.jpg", scene_image(40, 30), size=(30, 40), exif=exif)
    save("one_pixel.png", Image.new("RGB", (1, 1), (255, 0, 0)))
    save("two_by_three.png", Image.new("RGB", (2, 3), (0, 255, 0)))
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    files["animated.gif"] = (tmp_path / "animated.gif", (20, 10))
    frames[0].save(tmp_path / "animated.gif", save_all=True, append_images=frames[1:])
    return files


@pytest.mark.slow  # converts a model (runtime_helpers.build_models)
def test_odd_images_load_as_rgb_and_run(tmp_path, detector):
    for name, (path, size) in _odd_images(tmp_path).items():
        im = load_image(path)
        assert im.mode == "RGB" and im.size == size, name
        dets = detector.detect(im, threshold=0.3)
        assert all(
            0 <= d.box[0] <= d.box[2] <= size[0] and 0 <= d.box[1] <= d.box[3] <= size[1] for d in dets
        ), name
        assert draw_detections(im, dets).size == size


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 32768, 65535]], dtype=np.uint16)
    for name, im in (("a.png", Image.fromarray(values)), ("b.tif", Image.fromarray(values.astype(np.int32)))):
        im.save(tmp_path / name)
        got = np.asarray(load_image(tmp_path / name))[0, :, 0]
        assert got.tolist() == [0, 100, 128, 255], name


def test_alpha_is_composited_on_black(tmp_path):
    im = Image.new("RGBA", (2, 1), (200, 100, 50, 255))
    im.putpixel((1, 0), (200, 100, 50, 0))
    im.save(tmp_path / "a.png")
    assert np.asarray(load_image(tmp_path / "a.png")).tolist() == [[[200, 100, 50], [0, 0, 0]]]


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (4, 2), (0, 0, 0))
    im.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(tmp_path / "r.png", exif=exif)
    loaded = np.asarray(load_image(tmp_path / "r.png"))
    assert loaded.shape == (4, 2, 3)
    assert loaded[0, 1].tolist() == [255, 255, 255]  # top-left moved to top-right by a clockwise turn


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("missing.png", None, "does not exist"),
        ("empty.png", b"", "empty file"),
        ("notes.jpg", b"hello, this is not a picture\n", "text starting 'hello"),
        ("blob.png", bytes(range(200, 256)) * 2, "binary data starting c8 c9"),
    ],
)
def test_unreadable_files(tmp_path, name, content, pattern):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=pattern) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_folder_and_truncated_image(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)
    scene_image(64, 64).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.png"):
        load_image(tmp_path / "cut.png")


@pytest.mark.parametrize(("width", "height"), [(12000, 10000), (20000, 20000)])
def test_huge_images_are_refused_from_the_header(tmp_path, width, height):
    # 120 MP: over our limit but under PIL's bomb error; 400 MP: PIL's own DecompressionBombError.
    path = tmp_path / "huge.png"
    _png_with_size(path, width, height)
    with pytest.raises(InputError, match="downscale") as info:
        load_image(path)
    assert "huge.png" in str(info.value)
    assert width * height > MAX_PIXELS


# --- drawing -----------------------------------------------------------------------------------------------


def test_draw_marks_the_box_and_keeps_the_input():
    im = Image.new("RGB", (200, 100), (255, 255, 255))
    det = Detection(1, "cat", 0.87, (50.0, 40.0, 150.0, 90.0))
    out = draw_detections(im, [det])
    assert out.size == im.size and out.mode == "RGB"
    assert np.asarray(im).min() == 255  # the input is not drawn on
    arr = np.asarray(out)
    assert arr[65, 50].tolist() == list(class_colour(1))  # left edge, mid-height
    assert arr[65, 100].tolist() == [255, 255, 255]  # the inside stays clear
    assert (arr[:40] != 255).any()  # the label above the box


def test_draw_tiny_and_dark_images_and_distinct_colours():
    dets = [Detection(2, "dog", 0.5, (0.0, 0.0, 1.0, 1.0)), Detection(3, "x", 0.4, (1.0, 1.0, 1.0, 1.0))]
    assert draw_detections(Image.new("RGB", (1, 1)), dets).size == (1, 1)
    assert draw_detections(Image.new("L", (3, 2)), dets).mode == "RGB"
    assert len({class_colour(k) for k in range(1, 21)}) == 20
