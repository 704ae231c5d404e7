"""ssd2ncnn.ncnn_format and `ssd2ncnn param`: real reference files, real ncnn, no mocks."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssd2ncnn.assets import reference_param
from ssd2ncnn.cli import cli
from ssd2ncnn.errors import InputError, ParamError
from ssd2ncnn.ncnn_format import (
    ARRAY_KEY_BASE,
    MAGIC,
    Graph,
    Layer,
    LintFinding,
    array_key,
    decode_key,
    format_param,
    format_value,
    lint_param,
    parse_param,
    read_param,
    write_param,
)

ncnn = pytest.importorskip("ncnn")

REPO = Path(__file__).resolve().parents[1]
REF_DIR = reference_param().parent
REF_NAMES = ["mobilenet_ssd_voc_ncnn.param", "mobilenetv2_ssdlite_voc.param", "mobilenetv3_ssdlite_voc.param"]
# mobilenetv2_ssdlite_voc.param really has ten layers named "slice" (lines 6, 7, 13, 14, 37, 38, 90, 91,
# 105, 106); ncnn loads it, but it breaks lookup by name. The other two files have no findings.
V2_DUPLICATE_LINES = [7, 13, 14, 37, 38, 90, 91, 105, 106]

needs_ref = pytest.mark.skipif(not REF_DIR.is_dir(), reason=f"reference params not found at {REF_DIR}")


def ref(name: str) -> Path:
    path = REF_DIR / name
    if not path.is_file():
        pytest.skip(f"reference file {path} not present")
    return path


def load_ref(name: str) -> Graph:
    return read_param(ref(name))


def ncnn_load(path: Path):
    net = ncnn.Net()
    assert net.load_param(str(path)) == 0, f"ncnn could not load {path}"
    return net


def net_summary(net) -> tuple:
    layers = [(layer.type, layer.name, list(layer.bottoms), list(layer.tops)) for layer in net.layers()]
    blobs = [b.name for b in net.blobs()]
    return layers, blobs, list(net.input_names()), list(net.output_names())


def floats_of(graph: Graph) -> list[float]:
    out: list[float] = []
    for layer in graph.layers:
        for v in layer.params.values():
            if isinstance(v, float):
                out.append(v)
            elif isinstance(v, list):
                out += [e for e in v if isinstance(e, float)]
    return out


# --------------------------------------------------------------------------------------- reference files


@needs_ref
@pytest.mark.parametrize("name", REF_NAMES)
def test_reference_fmt_is_stable_and_lossless(name: str, tmp_path: Path) -> None:
    original = load_ref(name)
    text = format_param(original)
    again = parse_param(text)
    assert format_param(again) == text  # idempotent, byte for byte
    assert text.endswith("\n") and "\r" not in text and " \n" not in text
    assert len(again.layers) == len(original.layers)
    assert again.blobs() == original.blobs()
    for a, b in zip(original.layers, again.layers, strict=True):
        assert (a.type, a.name, a.inputs, a.outputs) == (b.type, b.name, b.inputs, b.outputs)
        assert list(a.params) == list(b.params)  # same ids, same order
        for pid, va in a.params.items():
            vb = b.params[pid]
            assert type(va) is type(vb)
            if isinstance(va, list):
                assert [type(e) for e in va] == [type(e) for e in vb]
                assert np.array_equal(np.float32(va), np.float32(vb))
            else:
                assert np.float32(va) == np.float32(vb)
    header = text.splitlines()[1].split()
    raw_header = ref(name).read_text().splitlines()[1].split()
    assert header == raw_header


@needs_ref
@pytest.mark.parametrize("name", REF_NAMES)
def test_ncnn_loads_formatted_reference_like_original(name: str, tmp_path: Path) -> None:
    out = tmp_path / name
    write_param(load_ref(name), out)
    original = net_summary(ncnn_load(ref(name)))
    formatted = net_summary(ncnn_load(out))
    assert len(formatted[0]) == len(original[0]) == len(load_ref(name).layers)
    assert len(formatted[1]) == len(original[1]) == len(load_ref(name).blobs())
    assert formatted == original  # same layer types, names, wiring, blob names, inputs and outputs


@needs_ref
@pytest.mark.parametrize("name", REF_NAMES)
def test_reference_floats_round_trip_as_float32(name: str) -> None:
    original = load_ref(name)
    written = parse_param(format_param(original))
    before, after = floats_of(original), floats_of(written)
    assert len(before) == len(after) > 0
    for x, y in zip(before, after, strict=True):
        assert np.float32(x) == np.float32(y), (x, y)


@needs_ref
def test_reference_values_keep_their_types() -> None:
    v3 = load_ref("mobilenetv3_ssdlite_voc.param")
    pb2 = v3.layer("priorbox_2")
    assert pb2.params[0] == [105.0] and isinstance(pb2.params[0][0], float)
    assert pb2.params[2] == [2.0, 3.0]
    assert pb2.params[9] == -233 and isinstance(pb2.params[9], int)
    assert pb2.params[11] == -233.0 and isinstance(pb2.params[11], float)
    # priorbox_1 writes 11=-233 12=-233 as ints (float params): kept as ints, not "fixed" silently
    assert isinstance(v3.layer("priorbox_1").params[11], int)
    v2 = load_ref("mobilenetv2_ssdlite_voc.param")
    assert v2.layers[3].params[0] == [1, -233]  # -23300=2,1,-233: an int array
    line = [ln for ln in format_param(v3).splitlines() if " priorbox_2 " in ln][0]
    assert "-23300=1,105.0 -23301=1,150.0 -23302=2,2.0,3.0" in line and "9=-233 " in line
    assert "11=-233.0 12=-233.0 13=0.5" in line


@needs_ref
def test_lint_clean_references() -> None:
    for name in ("mobilenet_ssd_voc_ncnn.param", "mobilenetv3_ssdlite_voc.param"):
        assert lint_param(ref(name).read_text(), str(ref(name))) == []


@needs_ref
def test_lint_reports_real_duplicate_names_in_v2_reference() -> None:
    findings = lint_param(ref("mobilenetv2_ssdlite_voc.param").read_text())
    assert {f.code for f in findings} == {"duplicate-name"}
    assert [f.line for f in findings] == V2_DUPLICATE_LINES
    v2 = ref("mobilenetv2_ssdlite_voc.param")
    n_layers = int(v2.read_text().splitlines()[1].split()[0])
    assert len(read_param(v2).layers) == n_layers  # ncnn loads it, so do we
    with pytest.raises(ParamError) as exc:
        read_param(ref("mobilenetv2_ssdlite_voc.param"), unique_names=True)  # for callers that edit by name
    assert exc.value.line == 7 and "duplicate layer name 'slice'" in str(exc.value)


# --------------------------------------------------------------------------------------- values


def test_format_value_examples() -> None:
    assert format_value(0) == "0"
    assert format_value(-233) == "-233"
    assert format_value(0.1) == "0.1"
    assert format_value(60.0) == "60.0"
    assert format_value(-233.0) == "-233.0"
    assert format_value(0.45) == "0.45"
    assert format_value(1e-10) == "1e-10"
    assert format_value(1e20) == "1e+20"
    assert format_value(123456789.0) == "123456790.0"
    assert format_value(1e10) == "1e+10"
    assert format_value([60.0]) == "1,60.0"
    assert format_value([1, -233]) == "2,1,-233"
    assert format_value([]) == "0"
    for bad in (math.inf, math.nan, 1e39, 2**31, True, [1, 2.0]):
        with pytest.raises(ParamError):
            format_value(bad)  # type: ignore[arg-type]


def test_array_keys() -> None:
    assert ARRAY_KEY_BASE == -23300 and MAGIC == 7767517
    assert array_key(0) == -23300 and array_key(10) == -23310
    assert decode_key(-23310) == (10, True) and decode_key(5) == (5, False)


def ncnn_old_vstr_to_float(text: str) -> float:
    """ncnn's older text float reader (digits accumulated in 32-bit unsigned ints, then scaled in double)."""
    p = 0
    neg = text[p] == "-"
    if text[p] in "+-":
        p += 1
    v1 = 0
    while p < len(text) and text[p].isdigit():
        v1 = (v1 * 10 + int(text[p])) & 0xFFFFFFFF
        p += 1
    v = float(v1)
    if p < len(text) and text[p] == ".":
        p += 1
        pow10, v2 = 1, 0
        while p < len(text) and text[p].isdigit():
            v2 = (v2 * 10 + int(text[p])) & 0xFFFFFFFF
            pow10 = (pow10 * 10) & 0xFFFFFFFF
            p += 1
        v += v2 / float(pow10)
    if p < len(text) and text[p] in "eE":
        p += 1
        fact = text[p] != "-"
        if text[p] in "+-":
            p += 1
        expon = int(text[p:])
        scale = 1.0
        while expon >= 8:
            scale *= 1e8
            expon -= 8
        while expon > 0:
            scale *= 10.0
            expon -= 1
        v = v * scale if fact else v / scale
    return float(np.float32(-v if neg else v))


@pytest.mark.slow  # 3000 examples
@settings(max_examples=3000, deadline=None, derandomize=True)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float_text_round_trips_float32_and_fits_ncnn(x: float) -> None:
    text = format_value(x)
    assert len(text) <= 15
    assert "." in text or "e" in text
    assert np.float32(float(text)) == np.float32(x)
    assert format_value(float(text)) == text
    assert ncnn_old_vstr_to_float(text) == np.float32(x)


def _numpy_text(x: np.float32) -> str:
    """The canonical text as numpy's Dragon4 writes it (what format_value computes without numpy)."""
    pos = np.format_float_positional(x, unique=True, trim="0")
    int_part, _, frac_part = pos.lstrip("-").partition(".")
    if len(pos) <= 15 and len(int_part) <= 9 and len(frac_part) <= 9:
        return pos
    return np.format_float_scientific(x, unique=True, trim="-", exp_digits=2)


def test_float_text_equals_numpy_dragon4() -> None:
    bits = np.random.default_rng(7).integers(0, 2**32, size=5000, dtype=np.uint64).astype(np.uint32)
    powers = np.float32(2.0) ** np.arange(-149, 128, dtype=np.float32)  # lopsided rounding intervals
    near = powers.view(np.uint32)
    values = np.concatenate([bits, near, near + 1, near[near > 0] - 1, [0, 0x80000000]]).view(np.float32)
    values = values[np.isfinite(values)]
    for x in values:
        assert format_value(float(x)) == _numpy_text(x), float(x)


# --------------------------------------------------------------------------------------- parse errors

GOOD = "7767517\n2 2\nInput in 0 1 data 0=3\nReLU relu 1 1 data out\n"

MALFORMED = [
    ("", 1, "empty file"),
    ("   \n\n", 1, "empty file"),
    ("7767518\n2 2\n", 1, "magic number 7767517"),
    ("7767517 1\n", 1, "magic number"),
    ("7767517\n", 2, "found end of file"),
    ("7767517\n2\nInput in 0 1 data\n", 2, "two non-negative integers"),
    ("7767517\n2 x\n", 2, "two non-negative integers"),
    ("7767517\n-1 2\n", 2, "two non-negative integers"),
    ("7767517\n3 2\nInput in 0 1 data 0=3\nReLU relu 1 1 data out\n", 2, "header says 3 layers"),
    ("7767517\n2 1\nInput in 0 1 data 0=3\nReLU relu 1 1 data out\n", 2, "and 1 blobs"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1\n", 4, "at least 4 fields"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu x 1 data out\n", 4, "integer input count, found 'x'"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 -1 data out\n", 4, "integer output count"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1.0 1 data out\n", 4, "integer input count"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 2 data out\n", 4, "so 3 blob name(s), found 2"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out junk\n", 4, "'key=value', found 'junk'"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out a=1\n", 4, "integer key, found 'a'"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out 1.5=1\n", 4, "integer key"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out 32=1\n", 4, "out of range"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out -1=1\n", 4, "out of range"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out 0=+abc\n", 4, "found '+abc'"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out 0=\n", 4, "found ''"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out 0=1.2.3\n", 4, "found '1.2.3'"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out 0=1e40\n", 4, "float32 range"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out 0=2147483648\n", 4, "int32 range"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out 0=-nan\n", 4, "found '-nan'"),
    (
        "7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out -23300=2,1.0\n",
        4,
        "declares 2 values, found 1",
    ),
    (
        "7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out -23300=1,1,2\n",
        4,
        "declares 1 values, found 2",
    ),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out -23300=x,1\n", 4, "non-negative length"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out -23300=2,1,y\n", 4, "element 1"),
    ("7767517\n2 2\nInput in 0 1 data\nReLU relu 1 1 data out -23300=2,1,2.0\n", 4, "mixes int and float"),
]


@pytest.mark.parametrize(
    ("text", "line", "fragment"), MALFORMED, ids=[f"case{i}" for i in range(len(MALFORMED))]
)
def test_malformed_lines_raise_param_error_with_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ParamError) as exc:
        parse_param(text, path="m.param")
    assert exc.value.line == line
    assert exc.value.path == "m.param"
    assert fragment in str(exc.value)
    assert str(exc.value).startswith(f"m.param:{line}: ")


def test_good_text_parses_with_tolerant_whitespace() -> None:
    g = parse_param(GOOD)
    assert [la.name for la in g.layers] == ["in", "relu"] and g.layers[1].line == 4
    messy = "7767517\r\n2 2  \r\n\tInput   in 0 1 data 0=3   \r\n\nReLU\trelu 1 1 data out \r\n\n"
    assert parse_param(messy) == g


def test_read_param_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_param(tmp_path / "nope.param")


# --------------------------------------------------------------------------------------- graph edits


def small_graph() -> Graph:
    return parse_param(
        "7767517\n4 4\nInput in 0 1 data 0=4 1=4 2=1\nReLU relu 1 1 data a\nSigmoid sig 1 1 a b\nTanH tanh 1 1 b c\n"
    )


def test_queries_and_edits() -> None:
    g = small_graph()
    assert g.producer("a") is g.layer("relu") and g.producer("zz") is None
    assert g.consumers("a") == [g.layer("sig")]
    assert g.blobs() == ["data", "a", "b", "c"] and g.index("tanh") == 3
    g.rename_blob("b", "bb")
    assert g.layer("sig").outputs == ["bb"] and g.layer("tanh").inputs == ["bb"]
    removed = g.remove("tanh")
    assert removed.name == "tanh" and len(g.layers) == 3
    g.append(Layer("TanH", "tanh", ["bb"], ["c"]))
    for bad in (
        lambda: g.layer("nope"),
        lambda: g.append(Layer("ReLU", "relu", ["c"], ["d"])),
        lambda: g.rename_blob("a", "bb"),
        lambda: g.rename_blob("zz", "y"),
    ):
        with pytest.raises(ParamError):
            bad()


def run_net(param_text: str, outputs: list[str], x: np.ndarray) -> dict[str, np.ndarray]:
    net = ncnn.Net()
    assert net.load_param_mem(param_text) == 0
    net.load_model_mem(b"")
    ex = net.create_extractor()
    mat = ncnn.Mat(x).clone()  # own the data; a Mat that only wraps the numpy buffer crashed ncnn here
    ex.input("data", mat)
    result = {}
    for name in outputs:
        rc, out = ex.extract(name)
        assert rc == 0
        result[name] = np.array(out).copy()
    return result


def test_insert_splits_new_split_and_ncnn_runs_it() -> None:
    g = small_graph()
    # blob "a" gains two more consumers: a TanH and a BinaryOp add that reads it twice more via two slots
    g.append(Layer("TanH", "t2", ["a"], ["t2out"]), Layer("BinaryOp", "add", ["a", "b"], ["sum"], {0: 0}))
    assert len(lint_param(format_param(g))) > 0
    g.insert_splits()
    split = g.layer("splitncnn_0")
    assert split.type == "Split" and split.inputs == ["a"]
    assert split.outputs == ["a_splitncnn_0", "a_splitncnn_1", "a_splitncnn_2"]
    assert g.index("splitncnn_0") == g.index("relu") + 1
    assert g.layer("sig").inputs == ["a_splitncnn_0"]
    assert g.layer("t2").inputs == ["a_splitncnn_1"]
    assert g.layer("add").inputs == ["a_splitncnn_2", "b_splitncnn_1"]
    b_split = g.layer("splitncnn_1")
    assert b_split.inputs == ["b"] and g.layer("tanh").inputs == ["b_splitncnn_0"]
    text = format_param(g)
    assert lint_param(text) == []
    x = np.linspace(-2, 2, 16, dtype=np.float32).reshape(1, 4, 4)
    out = run_net(text, ["c", "t2out", "sum"], x)
    a = np.maximum(x, 0)
    b = 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(out["c"], np.tanh(b), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["t2out"], np.tanh(a), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["sum"], a + b, rtol=1e-4, atol=1e-5)


def test_insert_splits_slot_used_twice_by_one_layer() -> None:
    g = small_graph()
    g.append(Layer("BinaryOp", "sq", ["c", "c"], ["d"], {0: 2}))
    g.insert_splits()
    assert g.layer("sq").inputs == ["c_splitncnn_0", "c_splitncnn_1"]
    assert lint_param(format_param(g)) == []


@needs_ref
def test_insert_splits_extends_existing_split(tmp_path: Path) -> None:
    g = load_ref("mobilenet_ssd_voc_ncnn.param")
    before = list(g.layer("splitncnn_0").outputs)
    assert len(before) == 7
    g.append(Layer("Noop", "extra_consumer", ["data"], ["extra_out"]))
    n_layers = len(g.layers)
    g.insert_splits()
    assert len(g.layers) == n_layers  # no second Split
    assert g.layer("splitncnn_0").outputs == [*before, "data_splitncnn_7"]
    assert g.layer("extra_consumer").inputs == ["data_splitncnn_7"]
    out = tmp_path / "ext.param"
    write_param(g, out)
    assert lint_param(out.read_text()) == []
    net = ncnn_load(out)
    assert len(net.layers()) == n_layers and len(net.blobs()) == len(g.blobs())


@needs_ref
def test_insert_splits_is_noop_on_references() -> None:
    for name in REF_NAMES:
        g = load_ref(name)
        text = format_param(g)
        g.insert_splits()
        assert format_param(g) == text


def test_write_param_is_atomic_and_canonical(tmp_path: Path) -> None:
    g = small_graph()
    out = tmp_path / "g.param"
    out.write_text("old")
    write_param(g, out)
    assert out.read_text() == format_param(g)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.param"]  # no temp file left behind
    lines = format_param(g).splitlines()
    assert lines[2] == "Input                    in                       0 1 data 0=4 1=4 2=1"
    with pytest.raises(ParamError):
        write_param(Graph([Layer("ReLU", "bad name", [], [])]), out)
    assert out.read_text() == format_param(g)  # failed write leaves the old file


# --------------------------------------------------------------------------------------- lint

BASE = "7767517\n3 3\nInput in 0 1 data\nReLU relu 1 1 data a\nSigmoid sig 1 1 a b\n"


def codes(text: str) -> list[tuple[int | None, str]]:
    return [(f.line, f.code) for f in lint_param(text)]


def test_lint_clean_base() -> None:
    assert lint_param(BASE) == []


def test_lint_wrong_counts() -> None:
    assert codes(BASE.replace("3 3", "4 3")) == [(2, "header")]
    assert codes(BASE.replace("3 3", "3 9")) == [(2, "header")]
    # ncnn fails on more layers than lines, loads spare blob slots or fewer layers (the first ones)
    assert [f.severity for f in lint_param(BASE.replace("3 3", "4 3"))] == ["error"]
    assert [f.severity for f in lint_param(BASE.replace("3 3", "3 9"))] == ["warning"]
    assert [f.severity for f in lint_param(BASE.replace("3 3", "2 2"))] == ["warning"]
    assert [f.severity for f in lint_param(BASE.replace("3 3", "2 1"))] == ["error"]  # too few slots for 2


def test_lint_bad_magic() -> None:
    assert codes(BASE.replace("7767517", "1234")) == [(1, "header")]


def test_lint_produced_twice() -> None:
    text = BASE.replace("3 3", "4 3") + "TanH tanh 1 1 a b\n"
    assert (6, "produced-twice") in codes(text)


def test_lint_consumed_twice() -> None:
    text = BASE.replace("3 3", "4 4") + "TanH tanh 1 1 a c\n"
    assert codes(text) == [(6, "consumed-twice")]


def test_lint_use_before_produce() -> None:
    text = "7767517\n3 3\nInput in 0 1 data\nSigmoid sig 1 1 a b\nReLU relu 1 1 data a\n"
    # ncnn gives the early input `a` a blob slot and ReLU's output `a` another: 4 slots, the header says 3
    assert codes(text) == [(2, "header"), (4, "use-before-produce")]
    assert codes(text.replace("3 3", "3 4")) == [(4, "use-before-produce")]
    never = "7767517\n2 3\nInput in 0 1 data\nSigmoid sig 1 1 ghost b\n"
    assert codes(never) == [(4, "use-before-produce")]


def test_lint_softmax_axis() -> None:
    text = BASE.replace("3 3", "4 4") + "Softmax sm 1 1 b c 0=1\n"
    assert codes(text) == [(6, "softmax-axis")]
    assert lint_param(text.replace("0=1", "0=1 1=1")) == []
    assert lint_param(text.replace("0=1", "0=0")) == []
    assert lint_param(text.replace(" 0=1", "")) == []


PB = "7767517\n3 3\nInput in 0 1 data\nReLU feat 1 1 data f\nPriorBox pb 1 1 f p -23300=1,60.0 -23301=1,105.0 {}\n"


def test_lint_priorbox_without_image_size() -> None:
    assert codes(PB.format("")) == [(5, "priorbox-image-size")]  # 9/10 unset = 0
    assert codes(PB.format("9=0 10=300")) == [(5, "priorbox-image-size")]
    assert codes(PB.format("9=-233 10=-233")) == [(5, "priorbox-image-size")]  # -233 but one input
    assert lint_param(PB.format("9=300 10=300")) == []
    two_inputs = PB.replace("3 3", "3 4").replace(
        "ReLU feat 1 1 data f", "Input img 0 1 img\nReLU feat 1 1 data f"
    )
    two_inputs = two_inputs.replace("3 4", "4 4").replace("PriorBox pb 1 1 f p", "PriorBox pb 2 1 f img p")
    assert lint_param(two_inputs.format("9=-233 10=-233")) == []
    # ncnn's mxnet-style branch (one input, -233/-233, no max sizes) needs no image size
    mx = PB.replace(" -23301=1,105.0", "")
    assert lint_param(mx.format("9=-233 10=-233")) == []


def test_lint_duplicate_name() -> None:
    text = BASE.replace("3 3", "4 4") + "TanH sig 1 1 b c\n"
    assert codes(text) == [(6, "duplicate-name")]


def test_lint_parse_findings_do_not_stop_other_checks() -> None:
    text = BASE.replace("3 3", "4 4") + "TanH tanh 1 1 b c 0=+zz\nSoftmax sm 1 1 a d 0=1\n"
    assert codes(text) == [(2, "header"), (6, "parse"), (7, "consumed-twice"), (7, "softmax-axis")]
    finding = lint_param(text, "x.param")[1]
    assert finding == LintFinding(6, "parse", finding.message) and not finding.message.startswith("x.param")
    assert codes("") == [(1, "header")]
    assert codes("7767517\n") == [(2, "header")]


# --------------------------------------------------------------------------------------- hypothesis graphs

_ident = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/.:-", min_size=1, max_size=12
)
_int32 = st.integers(-(2**31), 2**31 - 1)
_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False).map(lambda x: float(format_value(x)))
# strings as ncnn reads them back: no quote or control character, not starting with a space or a comma
_string = st.text(alphabet="abcxyzABC019_/.:-+*()w, ", max_size=30).filter(lambda t: t[:1] not in (" ", ","))
_value = st.one_of(_int32, _f32, _string, st.lists(_int32, max_size=5), st.lists(_f32, max_size=5))


@st.composite
def graphs(draw) -> Graph:
    n = draw(st.integers(0, 12))
    names = draw(st.lists(_ident, min_size=n, max_size=n, unique=True))
    types = st.sampled_from(
        ["Input", "Convolution", "ReLU", "Split", "Concat", "PriorBox", "Softmax", "Custom_X"]
    )
    produced: list[str] = []
    layers = []
    counter = 0
    for name in names:
        inputs = draw(st.lists(st.sampled_from(produced), max_size=3)) if produced else []
        n_out = draw(st.integers(0, 3))
        outputs = []
        for _ in range(n_out):
            outputs.append(draw(_ident) + f"#{counter}")
            counter += 1
        params = draw(st.dictionaries(st.integers(0, 31), _value, max_size=6))
        layers.append(Layer(draw(types), name, inputs, outputs, params))
        produced += outputs
    return Graph(layers)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_generated_graphs_round_trip(g: Graph) -> None:
    text = format_param(g)
    back = parse_param(text)
    assert back == g
    assert format_param(back) == text
    for layer in back.layers:
        for pid, v in layer.params.items():
            assert type(v) is type(g.layer(layer.name).params[pid])


# --------------------------------------------------------------------------------------- CLI


def test_cli_lint_clean_and_dirty(tmp_path: Path) -> None:
    runner = CliRunner()
    clean = tmp_path / "clean.param"
    clean.write_text(BASE)
    result = runner.invoke(cli, ["param", "lint", str(clean)])
    assert result.exit_code == 0, result.output
    dirty = tmp_path / "dirty.param"
    dirty.write_text(BASE.replace("3 3", "4 4") + "Softmax sm 1 1 b c 0=2\n")
    result = runner.invoke(cli, ["param", "lint", str(dirty)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert f"{dirty}:6: error: softmax-axis: " in result.output
    assert "1 error(s)" in result.output


def test_cli_missing_file_is_exit_2_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["param", "lint", str(tmp_path / "nope.param")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and result.output.startswith("error: ")
    result = CliRunner().invoke(
        cli, ["param", "fmt", str(tmp_path / "nope.param"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2


def test_cli_fmt_writes_canonical_and_in_place(tmp_path: Path) -> None:
    src = tmp_path / "in.param"
    src.write_text(
        "7767517\n4 4\nInput in 0 1 data 0=4 1=4 2=1\nReLU  relu 1 1 data a \nSigmoid sig 1 1 a b 0=1.000000e+00\nTanH tanh 1 1 b c\n"
    )
    out = tmp_path / "out.param"
    result = CliRunner().invoke(cli, ["param", "fmt", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == format_param(read_param(src))
    assert "0=1.0\n" in out.read_text()
    result = CliRunner().invoke(cli, ["param", "fmt", str(src), "-o", str(src)])
    assert result.exit_code == 0 and src.read_text() == out.read_text()
    bad = tmp_path / "bad.param"
    bad.write_text("7767517\n1 1\nInput in 0 1 data 0=+x\n")
    result = CliRunner().invoke(cli, ["param", "fmt", str(bad), "-o", str(out)])
    assert result.exit_code == 2 and f"{bad}:3: " in result.output
    assert out.read_text() == src.read_text()


@needs_ref
def test_cli_fmt_keeps_duplicate_names_as_ncnn_loads_them(tmp_path: Path) -> None:
    out = tmp_path / "v2.param"
    src = ref("mobilenetv2_ssdlite_voc.param")
    result = CliRunner().invoke(cli, ["param", "fmt", str(src), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert net_summary(ncnn_load(out)) == net_summary(ncnn_load(src))
    assert [f.code for f in lint_param(out.read_text())].count("duplicate-name") == len(V2_DUPLICATE_LINES)


@needs_ref
def test_cli_subprocess_lint() -> None:
    python = Path("/work/venv/bin/python")
    exe = str(python) if python.exists() else sys.executable
    clean = subprocess.run(
        [exe, "-m", "ssd2ncnn", "param", "lint", str(ref("mobilenetv3_ssdlite_voc.param"))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert clean.returncode == 0, clean.stderr
    dirty = subprocess.run(
        [exe, "-m", "ssd2ncnn", "param", "lint", str(ref("mobilenetv2_ssdlite_voc.param"))],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dirty.returncode == 0, dirty.stderr  # duplicate names are warnings: ncnn loads and runs the file
    assert dirty.stdout.count(": warning: duplicate-name: ") == len(V2_DUPLICATE_LINES)
    assert "9 warning(s), no errors" in dirty.stdout
