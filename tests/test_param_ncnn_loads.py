"""Files that real ncnn loads must parse and round-trip through `param fmt`; files it refuses (or would load
differently from what they say) are refused with the reason. Every case is loaded by the installed ncnn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import cli
from ssd2ncnn.errors import ParamError
from ssd2ncnn.ncnn_format import format_param, format_value, lint_param, ncnn_blob_count, parse_param

ncnn = pytest.importorskip("ncnn")

# what current pnnx writes for a Reshape whose shape is an expression: blob 1's w and h, then 128
RESHAPE_EXPR = (
    "7767517\n3 3\nInput in 0 1 data\nInput in2 0 1 ref\n"
    'Reshape r 2 1 data ref out 6="1w,1h,128"\n'
)
CHAIN = "7767517\n3 3\nInput in 0 1 data\nReLU relu 1 1 data a\nSigmoid sig 1 1 a b\n"


def _net(text: str):
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    return net, net.load_param_mem(text)


def _summary(net) -> tuple:
    return [(la.type, la.name, list(la.bottoms), list(la.tops)) for la in net.layers()], [
        b.name for b in net.blobs() if b.name
    ]


def _reshape(text: str) -> np.ndarray:
    net, rc = _net(text)
    assert rc == 0
    net.load_model_mem(b"")
    x = np.arange(2 * 3 * 128, dtype=np.float32).reshape(128, 3, 2)
    ref = np.zeros((1, 1, 6), np.float32)
    ex = net.create_extractor()
    mx, mref = ncnn.Mat(x).clone(), ncnn.Mat(ref).clone()  # own the data: a Mat only wraps the array
    ex.input("data", mx)
    ex.input("ref", mref)
    rc, out = ex.extract("out")
    assert rc == 0
    return np.array(out).copy()


def test_quoted_string_value_round_trips_and_ncnn_runs_both(tmp_path: Path) -> None:
    graph = parse_param(RESHAPE_EXPR)
    assert graph.layer("r").params[6] == "1w,1h,128"
    text = format_param(graph)
    assert '6="1w,1h,128"' in text and parse_param(text) == graph
    out = _reshape(text)
    assert out.shape == (128, 1, 6)
    np.testing.assert_array_equal(out, _reshape(RESHAPE_EXPR))
    src = tmp_path / "r.param"
    src.write_text(RESHAPE_EXPR)
    assert CliRunner().invoke(cli, ["param", "fmt", str(src), "-o", str(tmp_path / "o.param")]).exit_code == 0
    assert lint_param(RESHAPE_EXPR) == []


def test_string_forms_ncnn_reads() -> None:
    line = "7767517\n1 1\nInput in 0 1 data {}\n"
    for written, value in (('6="a b,c"', "a b,c"), ("6=abc,def", "abc,def"), ('6=""', ""),
                           ('6="0123456789abcdefghij"', "0123456789abcdefghij")):
        assert _net(line.format(written))[1] == 0, written
        graph = parse_param(line.format(written))
        assert graph.layers[0].params[6] == value
        assert parse_param(format_param(graph)) == graph
    # ncnn's first chunk of `" a"` is the lone quote: it reads an empty string and then fails on the rest
    with pytest.raises(ParamError, match="starts with a space or a comma"):
        parse_param(line.format('6=" a"'))
    with pytest.raises(ParamError, match="starts with a space or a comma"):
        format_value(",x")
    with pytest.raises(ParamError, match="quote"):
        format_value('a"b')


def test_plain_key_array_is_the_same_array() -> None:
    old = "7767517\n2 2\nInput in 0 1 data\nReduction m 1 1 data out 0=3 1=0 -23303=2,1,2 4=1 5=1\n"
    new = old.replace("-23303=2,1,2", "3=1,2")
    assert _net(new)[1] == 0
    assert parse_param(new) == parse_param(old)
    assert format_param(parse_param(new)) == format_param(parse_param(old))


def test_header_with_spare_blobs_loads_and_fmt_writes_the_true_count() -> None:
    spare = CHAIN.replace("3 3", "3 7")
    net, rc = _net(spare)
    assert rc == 0
    assert _summary(net) == _summary(_net(CHAIN)[0])
    graph = parse_param(spare)
    assert format_param(graph).splitlines()[1] == "3 3"
    assert [f.code for f in lint_param(spare)] == ["header"]
    assert "ncnn loads it with 4 unused blob slot(s)" in lint_param(spare)[0].message


def test_header_with_fewer_layers_is_refused_because_ncnn_drops_the_rest() -> None:
    short = CHAIN.replace("3 3", "2 2")
    net, rc = _net(short)
    assert rc == 0 and [la.name for la in net.layers()] == ["in", "relu"]  # sig silently ignored
    with pytest.raises(ParamError, match="load only the first 2 layers and silently ignore the other 1") as exc:
        parse_param(short)
    assert exc.value.line == 2 and "--drop-unloaded" in str(exc.value)
    kept = format_param(parse_param(short, drop_unloaded=True))  # just what ncnn loads
    assert _summary(_net(kept)[0]) == _summary(net) and kept.splitlines()[1] == "2 2"


def test_header_ncnn_cannot_load_is_refused() -> None:
    too_many = CHAIN.replace("3 3", "4 3")
    assert _net(too_many)[1] != 0
    with pytest.raises(ParamError, match="ncnn fails to load it"):
        parse_param(too_many)
    # too few blob slots: ncnn would write past its blob table, so it is not loaded here either
    with pytest.raises(ParamError, match="past the end of its blob table"):
        parse_param(CHAIN.replace("3 3", "3 2"))


def test_blob_produced_twice_takes_two_slots() -> None:
    text = "7767517\n3 3\nInput in 0 1 data\nReLU relu 1 1 data a\nSigmoid sig 1 1 data a\n"
    graph = parse_param(text)  # header says 3 blobs; ncnn needs data + a + a
    assert ncnn_blob_count(graph.layers) == 3 and len(graph.blobs()) == 2
    assert _net(format_param(graph))[1] == 0
    assert "produced-twice" in [f.code for f in lint_param(text)]


def test_cli_lint_takes_several_files(tmp_path: Path) -> None:
    clean, dirty = tmp_path / "clean.param", tmp_path / "dirty.param"
    clean.write_text(CHAIN)
    dirty.write_text(CHAIN.replace("3 3", "3 2"))  # too few blob slots: ncnn would write past its table
    result = CliRunner().invoke(cli, ["param", "lint", str(clean), str(dirty)])
    assert result.exit_code == 1
    assert f"{clean}: no findings" in result.output and f"{dirty}:2: error: header: " in result.output
    assert "(1 of 2 files)" in result.output
    assert CliRunner().invoke(cli, ["param", "lint", str(clean), str(clean)]).exit_code == 0


def test_param_set_twice_keeps_the_last_as_ncnn_does() -> None:
    text = "7767517\n2 2\nInput in 0 1 data\nClip clip 1 1 data out 0=-1.0 1=1.0 1=0.5\n"
    net, rc = _net(text)
    assert rc == 0
    net.load_model_mem(b"")
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(1, 1, 8)
    ex = net.create_extractor()
    mat = ncnn.Mat(x).clone()  # own the data (a Mat that only wraps the numpy buffer can crash here)
    ex.input("data", mat)
    _, out = ex.extract("out")
    assert float(np.array(out).max()) == pytest.approx(0.5)  # ncnn clipped at the second 1=
    graph = parse_param(text)
    assert graph.layer("clip").params == {0: -1.0, 1: 0.5}
    assert [(f.line, f.code) for f in lint_param(text)] == [(4, "duplicate-param")]
