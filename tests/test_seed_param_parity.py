"""Parity with the model the seed's users deployed: the seed's hand-edited `.param` given a `.bin` written
from the same mmdetection checkpoint (BatchNorm folded) runs in ncnn and gives our conversion's outputs."""

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import REFERENCE
from seed_helpers import seed_model, write_mmdet_checkpoint

from ssd2ncnn.checkpoint import load_model
from ssd2ncnn.cli import cli
from ssd2ncnn.errors import InputError
from ssd2ncnn.ncnn_format import read_param
from ssd2ncnn.runtime.net import load_net, run_net
from ssd2ncnn.verify.seed_param_parity import (
    compare_conv_layers,
    fold_bn,
    layer_signature,
    module_signature,
    seed_bin,
    seed_graph_for,
    seed_parity,
    write_seed_model,
)
from ssd2ncnn.verify.verify_images import synthetic_images

SEED_PARAM = REFERENCE / "mobilenetv3_ssdlite_voc.param"


@pytest.fixture(scope="module")
def seed_conversion(tmp_path_factory):
    root = tmp_path_factory.mktemp("seedgraph")
    ckpt = write_mmdet_checkpoint(seed_model(seed=7), root / "epoch_25.pth")
    res = CliRunner().invoke(cli, ["convert", str(ckpt), "-o", str(root / "out")])
    assert res.exit_code == 0, res.output
    return load_model(ckpt), root


def test_model_convolutions_match_the_seed_graph_in_order():
    model = seed_model(spread=False)
    graph = read_param(SEED_PARAM)
    convs = [layer for layer in graph.layers if layer.type in ("Convolution", "ConvolutionDepthWise")]
    pairs = model.deploy_order()
    assert len(convs) == len(pairs) == 101
    assert [layer_signature(c) for c in convs] == [module_signature(conv) for conv, _ in pairs]
    # every convolution but the 12 head outputs has a BatchNorm folded into it; no Pooling anywhere (no squeeze)
    assert sum(bn is None for _, bn in pairs) == 12
    assert not any(layer.type == "Pooling" for layer in graph.layers)


def test_seed_bin_layout():
    """ncnn's layout: MemoryData raw floats; per convolution a zero flag, float32 weights, raw bias."""
    graph = read_param(SEED_PARAM)
    model = seed_model(spread=False)
    data = seed_bin(model, graph)
    convs = [layer for layer in graph.layers if layer.type in ("Convolution", "ConvolutionDepthWise")]
    memory = [layer for layer in graph.layers if layer.type == "MemoryData"]
    assert len(memory) == 56 and graph.layers.index(memory[-1]) < graph.layers.index(convs[0])
    expected = 4 * len(memory) + sum(4 + 4 * c.get_int(6) + 4 * c.get_int(0) * c.get_int(5) for c in convs)
    assert len(data) == expected
    consts = np.frombuffer(data[:4 * len(memory)], "<f4")
    assert consts[:2].tolist() == [3.0, 6.0] and sorted(set(consts.tolist())) == [3.0, 6.0] and (consts == 3).sum() == 28
    start = 4 * len(memory)
    assert data[start:start + 4] == b"\0\0\0\0"
    w, b = fold_bn(model.backbone.conv1, model.backbone.bn1)
    stem = np.frombuffer(data[start + 4:start + 4 + 4 * w.size + 4 * b.size], "<f4")
    assert np.array_equal(stem[:w.size], w.reshape(-1)) and np.array_equal(stem[w.size:], b)


def test_a_graph_of_another_network_is_refused():
    graph = read_param(SEED_PARAM)
    with pytest.raises(InputError, match="convolution 0"):
        seed_bin(seed_model(width=0.5, spread=False), graph)


@pytest.mark.slow
def test_our_conversion_equals_the_seed_graph_at_300(seed_conversion):
    model, root = seed_conversion
    ours = read_param(root / "out" / "model.param")
    assert compare_conv_layers(ours, read_param(SEED_PARAM)) == []
    assert not any(layer.type in ("Pooling", "Reduction") for layer in ours.layers)
    param, weights = write_seed_model(model, SEED_PARAM, root / "seed")
    cases = seed_parity(model, root / "out", param, weights, synthetic_images(2, seed=11), sizes=(300,))
    for case in cases:
        assert case.passed, (case.tensors, case.detections)
        assert case.priors_identical
        assert case.detections.matched > 20 and case.detections.excused["nms tie"] == 0


@pytest.mark.slow
def test_seed_graph_with_other_weights_is_caught(seed_conversion, tmp_path):
    model, root = seed_conversion
    other = seed_model(seed=8)
    graph = seed_graph_for(model, read_param(SEED_PARAM))
    write_seed_model(model, SEED_PARAM, tmp_path)
    (tmp_path / "seed.bin").write_bytes(seed_bin(other, graph))
    (case,) = seed_parity(model, root / "out", tmp_path / "seed.param", tmp_path / "seed.bin", synthetic_images(1, seed=11))
    assert not case.passed and case.priors_identical
    # the hand-edited graph also runs at another size (its PriorBox reads the input blob)
    net = load_net(tmp_path / "seed.param", tmp_path / "seed.bin")
    got = run_net(net, np.zeros((3, 320, 320), np.float32), ["mbox_priorbox"])
    assert got["mbox_priorbox"].shape == (2, 2424 * 4)


@pytest.mark.slow
def test_bench_times_the_seed_graph_with_the_same_weights(seed_conversion):
    from ssd2ncnn.bench.suite import run_bench

    _, root = seed_conversion
    res = run_bench(root / "out", [1], [300], runs=2, block=1, warmup=0, pause_s=0.0, checkpoint=root / "epoch_25.pth",
                    seed_param=SEED_PARAM, memory=False, net_only=False)
    st = res["configs"][0]["structure"]
    ours = len(read_param(root / "out" / "model.param").layers)
    assert st["weights"] == "same" and st["layers"] == {"ours": ours, "seed": 408}
    assert st["ours-same-weights"]["runs"] == 2 and st["seed-same-weights"]["runs"] == 2 and st["seed_over_ours"] > 0


@pytest.mark.slow
def test_bench_keeps_empty_weights_for_a_seed_model_the_graph_cannot_hold(tmp_path):
    from ssd2ncnn.bench.suite import run_bench

    ckpt, out = tmp_path / "m.pth", tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(cli, ["init", "--preset", "voc300", "--arch", "seed", "--width-mult", "0.25", "--input-size", "128", "-o", str(ckpt)])
    assert res.exit_code == 0, res.output
    assert runner.invoke(cli, ["convert", str(ckpt), "-o", str(out)]).exit_code == 0
    res = run_bench(out, [1], [128], runs=1, block=1, warmup=0, pause_s=0.0, checkpoint=ckpt, seed_param=SEED_PARAM,
                    memory=False, net_only=False)
    st = res["configs"][0]["structure"]
    assert st["weights"] == "empty" and "cannot hold this model's weights" in st["weights_note"]
    assert st["ours-empty"]["runs"] == 1 and st["seed-empty"]["runs"] == 1
