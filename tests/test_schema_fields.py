"""The typed contract, as a property over every field of model.json and of SSDConfig: each hand-written wrong
value (`bad_fields.py`) and each generated value of the wrong JSON kind is refused with one line naming the
field; through every command that reads a model folder (check, detect, verify, bench, quantize) or a
checkpoint (convert, verify, eval, bench --checkpoint) it is exit code 2, one `error:` line, no traceback and
nothing written. The commands run in-process (click's CliRunner) on one real converted folder."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from bad_fields import CONFIG_BAD, CONFIG_GOOD, CONFIG_KINDS, ENVELOPE_BAD, TOP_BAD, TOP_KINDS
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ssd2ncnn.checkpoint import FORMAT as CKPT_FORMAT
from ssd2ncnn.checkpoint import VERSION as CKPT_VERSION
from ssd2ncnn.cli import cli
from ssd2ncnn.config import SSDConfig, get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.modelfolder import FORMAT, MIRRORS, MODEL_JSON, ModelInfo
from ssd2ncnn.schema import specced

REPO_VOC = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "data" / "voc"


def _good_json() -> dict:
    """model.json of a voc300 folder converted at 300 px, written by hand from the README's contract."""
    cfg = get_preset("voc300", num_classes=3)
    return {"format": FORMAT, "version": 2, "input_size": 300, "class_names": list(cfg.class_names), "rgb": True,
            "mean_vals": [123.675, 116.28, 103.53], "norm_vals": [1.0, 1.0, 1.0], "config": cfg.to_dict()}


def test_the_tables_name_exactly_the_schema_fields():
    config_fields = {f.name for f in specced(SSDConfig)}
    assert set(CONFIG_BAD) == set(CONFIG_KINDS) == config_fields
    top = {f.name for f in specced(ModelInfo)} | set(MIRRORS) | {"config"}
    assert set(TOP_BAD) == set(TOP_KINDS) == top


def _refusal(data: dict, needle: str) -> str | None:
    """None when ModelInfo.from_dict refuses `data` with one line naming `needle`; else what went wrong."""
    try:
        ModelInfo.from_dict(data, "model.json")
    except InputError as exc:
        text = str(exc)
        ok = text.startswith("model.json") and needle in text and "\n" not in text
        return None if ok else f"message {text!r} does not name {needle}"
    except Exception as exc:  # noqa: BLE001 - the point: anything but InputError is a defect
        return f"{type(exc).__name__}: {exc}"
    return "accepted"


@pytest.mark.parametrize("name", sorted(CONFIG_BAD))
def test_every_bad_config_value_is_refused_naming_the_field(name):
    problems = []
    for value in CONFIG_BAD[name]:
        data = _good_json()
        data["config"][name] = value
        problem = _refusal(data, f'"config.{name}')
        if problem:
            problems.append(f"{value!r}: {problem}")
    assert not problems


@pytest.mark.parametrize("name", sorted(TOP_BAD))
def test_every_bad_model_json_value_is_refused_naming_the_field(name):
    problems = [f"{v!r}: {p}" for v in TOP_BAD[name] if (p := _refusal({**_good_json(), name: v}, f'"{name}'))]
    assert not problems


@pytest.mark.parametrize("name", sorted(ENVELOPE_BAD))
def test_a_bad_format_or_version_is_refused(name):
    problems = [f"{v!r}: {p}" for v in ENVELOPE_BAD[name] if (p := _refusal({**_good_json(), name: v}, f'"{name}"'))]
    assert not problems


@pytest.mark.parametrize("name", sorted(["input_size", "config", *MIRRORS]))
def test_a_missing_required_key_is_named(name):
    data = _good_json()
    del data[name]
    assert _refusal(data, f'"{name}"') is None


@pytest.mark.parametrize("name", sorted(CONFIG_GOOD))
def test_unusual_but_valid_config_values_are_accepted(name):
    for value in CONFIG_GOOD[name]:
        data = _good_json()
        data["config"][name] = value
        if name == "class_names":
            data["class_names"] = value
        if name == "std":
            data["norm_vals"] = [1 / s for s in value]
        if name == "mean":
            data["mean_vals"] = value
        info = ModelInfo.from_dict(data)
        assert getattr(info.config, name) == (tuple(value) if isinstance(value, list) else value)


def test_the_message_says_field_value_and_expectation():
    data = _good_json() | {"rgb": "false"}
    with pytest.raises(InputError) as exc:
        ModelInfo.from_dict(data, "model.json")
    assert str(exc.value) == 'model.json: "rgb" must be true or false, got "false" (a string)'
    data = _good_json()
    data["config"]["nms_threshold"] = "0.45"
    with pytest.raises(InputError) as exc:
        ModelInfo.from_dict(data, "model.json")
    assert str(exc.value) == 'model.json: "config.nms_threshold" must be a finite number in [0, 1], got "0.45" (a string)'


def test_top_level_values_that_disagree_with_the_config_name_both():
    data = _good_json() | {"rgb": False}
    with pytest.raises(InputError, match=r'"rgb" is false but config.rgb gives true'):
        ModelInfo.from_dict(data)


def _kind(value) -> str:
    """The JSON kind of a value, decided here (bool before int: Python's bool is an int)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return {str: "string", list: "array", dict: "object", type(None): "null"}[type(value)]


def _fits(kind: str, value) -> bool:
    return _kind(value) == kind or (kind == "number" and _kind(value) in ("int", "float"))


SCALARS = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=5)
# scalars on their own as often as nested values: a wrong scalar (a string for a number) is the common mistake
JSON_VALUES = SCALARS | st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.parametrize("where, name", [("config", n) for n in sorted(CONFIG_KINDS)] + [("top", n) for n in sorted(TOP_KINDS)])
@settings(derandomize=True, max_examples=10, deadline=None)
@given(data=st.data())
def test_any_value_of_the_wrong_json_kind_is_refused(where, name, data):
    kind = (CONFIG_KINDS if where == "config" else TOP_KINDS)[name]
    value = data.draw(JSON_VALUES.filter(lambda v: not _fits(kind, v)))
    doc = _good_json()
    (doc["config"] if where == "config" else doc)[name] = value
    assert _refusal(doc, f'"config.{name}' if where == "config" else f'"{name}') is None


# ---- through the commands ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(converted, tmp_path_factory):
    """A copy of a real converted voc300 folder, its checkpoint, an image and a calibration folder."""
    ckpt, out = converted("voc300")
    root = tmp_path_factory.mktemp("schema")
    folder = root / "out"
    shutil.copytree(out, folder)
    (root / "calib").mkdir()
    Image.new("RGB", (64, 48), (90, 120, 30)).save(root / "calib" / "a.png")
    return {"root": root, "folder": folder, "ckpt": ckpt, "image": root / "calib" / "a.png",
            "json": json.loads((folder / MODEL_JSON).read_text())}


def _folder_commands(e: dict) -> dict[str, list]:
    f, t = e["folder"], e["root"] / "written"
    quick_bench = ["--runs", "1", "--threads", "1", "--warmup", "0", "--block", "1", "--no-memory", "--no-structure"]
    return {
        "check": ["check", f],
        "detect": ["detect", f, e["image"], "-o", t],
        "verify": ["verify", e["ckpt"], f, "--num-images", "1", "--report", t / "r.json"],
        "bench": ["bench", f, *quick_bench, "--json", t / "b.json"],
        "quantize": ["quantize", f, "--calib", e["image"].parent, "-o", t],
    }


def _checkpoint_commands(e: dict, ckpt) -> dict[str, list]:
    f, t = e["folder"], e["root"] / "written"
    quick_bench = ["--runs", "1", "--threads", "1", "--warmup", "0", "--block", "1", "--no-memory", "--no-structure"]
    return {
        "convert": ["convert", ckpt, "-o", t],
        "verify": ["verify", ckpt, f, "--num-images", "1", "--report", t / "r.json"],
        "eval": ["eval", ckpt, "--data", REPO_VOC, "--workers", "0", "--device", "cpu", "--json", t / "e.json"],
        "bench": ["bench", f, "--checkpoint", ckpt, *quick_bench, "--json", t / "b.json"],
    }


def _run(argv: list, needle: str, written) -> str | None:
    """None when the command exits 2 with one `error:` line naming `needle`, no traceback, nothing written."""
    res = CliRunner().invoke(cli, [str(a) for a in argv])
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return f"traceback: {type(res.exception).__name__}: {res.exception}"
    if res.exit_code != 2 or len(lines) != 1 or not lines[0].startswith("error: ") or needle not in lines[0]:
        return f"exit {res.exit_code}, stderr {lines[:3]}"
    left = [p.name for p in written.parent.iterdir() if written.name in p.name]  # atomic temp folders too
    return f"wrote {left}" if left else None


def _tally(problems: list[str], tried: int) -> None:
    assert tried > 0
    assert not problems, f"{len(problems)} of {tried} bad inputs not refused cleanly: {problems[:5]}"


TABLES = {"config": CONFIG_BAD, "top": TOP_BAD, "envelope": ENVELOPE_BAD}


@pytest.mark.parametrize("where, name", [(w, n) for w, table in TABLES.items() for n in sorted(table)])
def test_a_bad_model_json_field_stops_every_folder_command(env, where, name):
    values = TABLES[where][name]
    needle = f'"config.{name}' if where == "config" else f'"{name}'
    problems, tried = [], 0
    try:
        for value in values:
            doc = json.loads(json.dumps(env["json"]))
            (doc["config"] if where == "config" else doc)[name] = value
            (env["folder"] / MODEL_JSON).write_text(json.dumps(doc))
            for cmd, argv in _folder_commands(env).items():
                tried += 1
                if problem := _run(argv, needle, env["root"] / "written"):
                    problems.append(f"{cmd} {name}={value!r}: {problem}")
    finally:
        (env["folder"] / MODEL_JSON).write_text(json.dumps(env["json"], indent=2) + "\n")
    _tally(problems, tried)


@pytest.mark.parametrize("name", sorted(CONFIG_BAD))
def test_a_bad_checkpoint_config_field_stops_every_checkpoint_command(env, name):
    ckpt = env["root"] / f"bad-{name}.pth"
    problems, tried = [], 0
    for value in CONFIG_BAD[name]:
        config = dict(env["json"]["config"], **{name: value})
        torch.save({"format": CKPT_FORMAT, "version": CKPT_VERSION, "config": config, "state_dict": {}, "meta": {}}, ckpt)
        for cmd, argv in _checkpoint_commands(env, ckpt).items():
            tried += 1
            if problem := _run(argv, f'"config.{name}', env["root"] / "written"):
                problems.append(f"{cmd} {name}={value!r}: {problem}")
    _tally(problems, tried)


def test_the_unedited_folder_and_checkpoint_pass_the_same_commands(env):
    """The control: the fixture itself is good, so every refusal above is the edited field's."""
    res = CliRunner().invoke(cli, ["check", str(env["folder"])])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["detect", str(env["folder"]), str(env["image"])])
    assert res.exit_code == 0, res.output
    assert math.isfinite(ModelInfo.from_dict(env["json"]).config.nms_threshold)
