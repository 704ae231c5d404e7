"""The model folder contract: model.json reads back what was written, old files read with defaults, and
every malformed file is one InputError naming it."""

from __future__ import annotations

import json

import pytest

from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.modelfolder import (
    BIN,
    FORMAT,
    MODEL_JSON,
    NCNN_RESIZE,
    PARAM,
    PARITY_OPTIONS,
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
