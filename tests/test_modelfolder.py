"""The model folder contract: model.json reads back what was written, old files read with defaults, and
every malformed file is one InputError naming it."""

from __future__ import annotations

import json
import re

import pytest

from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.modelfolder import (
    BIN,
    CALIBRATION_OPTIONS,
    CONTRACT_BLOBS,
    FORMAT,
    INPUT_BLOB,
    MODEL_JSON,
    NCNN_RESIZE,
    ONNX,
    OPTION_NAMES,
    PARAM,
    PARITY_OPTIONS,
    TABLE,
    ModelInfo,
    file_hashes,
    head_names,
    read_info,
    write_info,
)


def _info(**kw) -> ModelInfo:
    cfg = get_preset("voc300", num_classes=3, width_mult=0.25)
    return ModelInfo(**{**dict(input_size=300, config=cfg), **kw})


def _folder(tmp_path, info=None):
    (tmp_path / PARAM).write_text("7767517\n0 0\n")
    (tmp_path / BIN).write_bytes(b"\0" * 8)
    write_info(tmp_path, info or _info())
    return tmp_path


def test_round_trip_keeps_every_field_and_unknown_keys(tmp_path):
    info = _info(int8=True, extra={"int8_calibration": {"method": "maxabs"}})
    written = write_info(_folder(tmp_path), info)
    back = read_info(tmp_path)
    assert back == written
    assert back.extra == {"int8_calibration": {"method": "maxabs"}}
    assert back.sha256 == file_hashes(tmp_path) and set(back.sha256) == {PARAM, BIN}
    data = json.loads((tmp_path / MODEL_JSON).read_text())
    assert data["format"] == FORMAT and data["resize"] == NCNN_RESIZE and data["ncnn_options"] == PARITY_OPTIONS
    assert data["input_blob"] == "input" and data["output_blob"] == "detection_out"


def test_version_1_reads_with_the_ncnn_resize(tmp_path):
    _folder(tmp_path)
    data = json.loads((tmp_path / MODEL_JSON).read_text())
    del data["resize"]
    data["version"] = 1
    (tmp_path / MODEL_JSON).write_text(json.dumps(data))
    assert read_info(tmp_path).resize == NCNN_RESIZE


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(format="other"), "not an ssd2ncnn model description"),
        (lambda d: d.update(version=99), "format \"version\" 99"),
        (lambda d: d.pop("class_names"), 'lacks "class_names"'),
        (lambda d: d.update(mean_vals=[1.0]), '"mean_vals" must be an array of 3 values'),
        (lambda d: d.update(input_size="big"), '"input_size" must be an integer in \\[32, 8192\\], got "big" \\(a string\\)'),
        (lambda d: d.update(ncnn_options={"use_turbo": True}), '"ncnn_options" must be an object with keys among'),
        (lambda d: d.update(resize={"function": "cv::resize", "interpolation": "area"}), '"resize" asks for'),
        (lambda d: d.update(ncnn_options=5), '"ncnn_options" must be an object'),
        (lambda d: d.update(sha256=5), '"sha256" must be an object'),
        (lambda d: d.update(config=5), '"config" must be a JSON object, got 5'),
        (lambda d: d.update(class_names="abc"), '"class_names" must be an array'),
    ],
)
def test_malformed_model_json_is_one_input_error(tmp_path, change, message):
    _folder(tmp_path)
    data = json.loads((tmp_path / MODEL_JSON).read_text())
    change(data)
    (tmp_path / MODEL_JSON).write_text(json.dumps(data))
    with pytest.raises(InputError, match=message):
        read_info(tmp_path)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_info(tmp_path / "nope")
    with pytest.raises(InputError, match="has no model.json"):
        read_info(tmp_path)
    _folder(tmp_path)
    (tmp_path / BIN).unlink()
    with pytest.raises(InputError, match="lacks model.bin"):
        read_info(tmp_path)
    (tmp_path / MODEL_JSON).write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        read_info(tmp_path, need=())


def test_head_names_order():
    assert head_names(2) == ["loc0", "loc1", "conf0", "conf1"]


# ----------------------------------------------------------------- by hand, for the mutation score (#21)
def test_the_contract_names_are_the_ncnn_zoo_models():
    """The blob names every app uses: those of the ncnn model zoo's mobilenetv3_ssdlite_voc.param."""
    from ssd2ncnn.assets import asset_path
    from ssd2ncnn.ncnn_format import read_param

    graph = read_param(asset_path("reference", "mobilenetv3_ssdlite_voc.param"))
    blobs = {b for layer in graph.layers for b in (*layer.inputs, *layer.outputs)}
    assert (INPUT_BLOB, *CONTRACT_BLOBS) == ("input", "mbox_loc", "mbox_conf_flatten", "mbox_priorbox", "detection_out")
    assert {INPUT_BLOB, *CONTRACT_BLOBS} <= blobs
    assert (PARAM, BIN, ONNX, TABLE, MODEL_JSON) == ("model.param", "model.bin", "model.onnx", "model.table", "model.json")
    assert head_names(0) == [] and head_names(3) == ["loc0", "loc1", "loc2", "conf0", "conf1", "conf2"]


def test_every_option_name_is_an_ncnn_option_and_the_sets_are_fp32():
    import ncnn

    opt = ncnn.Option()
    assert all(hasattr(opt, name) for name in OPTION_NAMES)
    assert set(PARITY_OPTIONS) <= set(OPTION_NAMES)
    # parity: fp32 storage and arithmetic (the tolerances assume it), light mode on
    assert PARITY_OPTIONS == {"use_packing_layout": True, "use_fp16_storage": False, "use_fp16_arithmetic": False,
                              "use_bf16_storage": False, "use_winograd_convolution": True,
                              "use_sgemm_convolution": True, "lightmode": True}
    assert CALIBRATION_OPTIONS == {**PARITY_OPTIONS, "lightmode": False}
    assert NCNN_RESIZE == {"function": "ncnn::Mat::from_pixels_resize", "interpolation": "bilinear", "aspect": "stretch"}


def test_model_json_as_written_by_hand(tmp_path):
    """voc300 (3 classes): the top-level copies apps read are the config's values, norm = 1 / std."""
    _folder(tmp_path)
    text = (tmp_path / MODEL_JSON).read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "format": "ssd2ncnn-model",\n  "version": 2,')
    data = json.loads(text)
    assert data["input_size"] == 300 and data["rgb"] is True
    assert data["class_names"] == list(get_preset("voc300", num_classes=3).class_names) and len(data["class_names"]) == 3
    assert data["mean_vals"] == [123.675, 116.28, 103.53] and data["norm_vals"] == [1.0, 1.0, 1.0]
    assert (data["fp16_weights"], data["int8"], data["simplified"], data["tools"]) == (False, False, True, {})
    assert data["config"]["mean"] == [123.675, 116.28, 103.53]
    assert set(data) == {"format", "version", "input_size", "class_names", "rgb", "mean_vals", "norm_vals", "config",
                         "ncnn_options", "resize", "fp16_weights", "int8", "simplified", "input_blob",
                         "output_blob", "tools", "sha256"}


def test_file_hashes_cover_the_contract_files_present(tmp_path):
    (tmp_path / PARAM).write_bytes(b"abc")
    (tmp_path / TABLE).write_bytes(b"")
    (tmp_path / "other.txt").write_bytes(b"abc")
    (tmp_path / ONNX).mkdir()  # not a file
    # sha256("abc") and sha256(""), FIPS 180-2's examples
    assert file_hashes(tmp_path) == {
        PARAM: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        TABLE: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }
    info = write_info(tmp_path, _info())
    assert info.sha256 == file_hashes(tmp_path) and read_info(tmp_path, need=(PARAM,)).sha256 == info.sha256


@pytest.mark.parametrize("change, message", [
    (lambda d: d.clear() or d.update(a=1), "not an ssd2ncnn model description"),
    (lambda d: d.update(version=True), 'format "version" true; this ssd2ncnn reads \\(1, 2\\)'),
    (lambda d: d.update(version="2"), 'format "version" "2"'),
    (lambda d: d.update(version=0), 'format "version" 0'),
    (lambda d: d.update(version=3), 'format "version" 3'),
    (lambda d: [d.pop(k) for k in ("input_size", "rgb", "config")], 'lacks "input_size", "rgb", "config"; re-run'),
    (lambda d: d.pop("mean_vals"), 'lacks "mean_vals"'),
    (lambda d: d.pop("norm_vals"), 'lacks "norm_vals"'),
    (lambda d: d.update(norm_vals=[0.5, 1.0, 1.0]),
     'model.json: "norm_vals" is \\[0.5, 1.0, 1.0\\] but 1 / config.std gives \\[1.0, 1.0, 1.0\\]; they must agree'),
    (lambda d: d.update(mean_vals=[1.0, 2.0, 3.0]), '"mean_vals" is \\[1.0, 2.0, 3.0\\] but config.mean gives'),
    (lambda d: d.update(rgb=False), '"rgb" is false but config.rgb gives true'),
    (lambda d: d.update(class_names=["a", "b", "c"]), '"class_names" is .* but config.class_names gives'),
    (lambda d: d.update(rgb="yes"), 'model.json: "rgb" must be'),
])
def test_each_broken_envelope_or_copy_is_named(tmp_path, change, message):
    _folder(tmp_path)
    data = json.loads((tmp_path / MODEL_JSON).read_text())
    change(data)
    with pytest.raises(InputError, match=message):
        ModelInfo.from_dict(data)


def test_version_1_and_an_unchanged_resize_read_and_no_envelope_key_is_extra():
    data = _info().to_dict()
    back = ModelInfo.from_dict({**data, "version": 1})
    assert back.extra == {} and back == _info()
    assert ModelInfo.from_dict({**data, "resize": dict(NCNN_RESIZE)}).resize == NCNN_RESIZE
    with pytest.raises(InputError, match='"resize" asks for .*"aspect": "keep"}; this ssd2ncnn runs {"function": "ncnn'):
        ModelInfo.from_dict({**data, "resize": {**NCNN_RESIZE, "aspect": "keep"}})
    with pytest.raises(InputError, match="^x.json is not an ssd2ncnn model description"):
        ModelInfo.from_dict([], where="x.json")
    info = _info()
    assert (info.class_names, info.rgb, info.mean_vals, info.num_classes) == (info.config.class_names, True,
                                                                              (123.675, 116.28, 103.53), 3)


def test_read_info_names_what_is_wrong_with_the_folder(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match="model folder .*f is not a folder; pass the -o folder"):
        read_info(tmp_path / "f")
    with pytest.raises(InputError, match="model folder .*nope does not exist"):
        read_info(tmp_path / "nope")
    (tmp_path / MODEL_JSON).write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match=f"^{re.escape(str(tmp_path / MODEL_JSON))} is not an ssd2ncnn model"):
        read_info(tmp_path)
    (tmp_path / MODEL_JSON).write_bytes(b"\xff\xfe{")
    with pytest.raises(InputError, match="model.json is not valid JSON"):
        read_info(tmp_path)
    (tmp_path / MODEL_JSON).unlink()
    _folder(tmp_path)
    (tmp_path / PARAM).unlink()
    with pytest.raises(InputError, match="lacks model.param"):
        read_info(tmp_path)
    assert read_info(tmp_path, need=(BIN,)).input_size == 300
