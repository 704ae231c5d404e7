"""Which convolutions to run in int8, measured layer by layer on the machine that quantizes.

ncnn's x86 int8 convolution quantizes its float input, runs an int8 GEMM and dequantizes the result
(`src/layer/x86/convolution_x86.cpp` `forward_int8_x86`). The GEMM gets faster, the two extra passes over
the blobs cost the same: int8 wins where the GEMM dominates (many input channels) and loses where the
layer is memory bound. In MobileNetV3 the 1x1 convolutions at 160x160 and 80x80 with 16-24 input channels
ran up to 1.8x slower in int8 here, those with 480-960 input channels up to 3x faster (docs/int8.md).
So each candidate runs alone, fp32 against int8, with its real weights and scales on a real activation,
and stays float unless int8 is faster by MIN_GAIN. The figures hold for this CPU: for another target (an ARM phone)
measure there, or quantize every candidate with `--select all`.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from ..ncnn_format import Graph, Layer, write_param
from ..runtime.net import load_net, time_forward
from .int8 import ConvWeights, write_int8

SELECT_MODES = ("speed", "all")
# int8 must beat fp32 by MIN_GAIN of the layer's time, and save at least MIN_SHARE of the time all the
# candidates take in fp32. Closer than that the timing cannot tell them apart from run to run (the choice
# would change between two quantize runs), the saving does not matter, and float is the more accurate.
MIN_GAIN = 0.03
MIN_SHARE = 0.0005
# rounds of `runs_per_round` alternating fp32/int8 runs; a close call gets more rounds, up to MAX_ROUNDS
ROUNDS, MAX_ROUNDS, CLOSE = 3, 9, 0.1


def int8_wins(fp32_ms: float, int8_ms: float, min_saving_ms: float) -> bool:
    return int8_ms < (1 - MIN_GAIN) * fp32_ms and fp32_ms - int8_ms >= min_saving_ms


def _close_call(fp32_ms: float, int8_ms: float, min_saving_ms: float) -> bool:
    """Near either threshold: worth more rounds before deciding."""
    near_ratio = abs(int8_ms / fp32_ms - (1 - MIN_GAIN)) < CLOSE
    near_saving = abs(fp32_ms - int8_ms - min_saving_ms) < min_saving_ms / 2
    return near_ratio or near_saving


def _single_layer(layer: Layer, cw: ConvWeights, shape: tuple[int, ...], scale: float | None, folder: Path) -> tuple[Path, Path]:
    """`layer` alone behind an Input of `shape` (C, H, W); int8 when `scale` is given, else fp32."""
    c, h, w = shape
    graph = Graph([Layer("Input", "input", [], [layer.inputs[0]], {0: w, 1: h, 2: c}),
                   Layer(layer.type, layer.name, list(layer.inputs), list(layer.outputs), dict(layer.params))])
    tag = "int8" if scale is not None else "fp32"
    param, weights = folder / f"{tag}.param", folder / f"{tag}.bin"
    scales = {layer.name: scale} if scale is not None else {}
    write_int8(graph, [dataclasses.replace(cw, index=1)], scales, weights, requantize=False)
    write_param(graph, param)
    return param, weights


def time_int8_vs_fp32(graph: Graph, convs: list[ConvWeights], scales: dict[str, float], activations: dict[str, np.ndarray],
                      options: dict | None = None, threads: int = 1, runs_per_round: int = 5) -> tuple[dict[str, dict], float]:
    """({layer: {"fp32_ms", "int8_ms", "rounds", "int8": `int8_wins`}}, the minimum saving in ms) for every
    conv in `scales`, each run alone on its input blob from `activations`. Every layer gets ROUNDS rounds
    (fp32 and int8 alternate, so drift hits both), then close calls get more; the saving threshold is
    MIN_SHARE of the summed fp32 medians."""
    by_name = {c.name: c for c in convs}
    layers = [ly for ly in graph.layers
              if ly.name in scales and ly.name in by_name
              and activations[ly.inputs[0]].ndim == 3]  # not a feature map: nothing to learn timing it alone
    nets: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="ssd2ncnn-select-") as tmp:  # ncnn has read the files once loaded
        for layer in layers:
            nets[layer.name] = {}
            for tag, scale in (("fp32", None), ("int8", scales[layer.name])):
                folder = Path(tmp) / layer.name / tag
                folder.mkdir(parents=True)
                param, weights = _single_layer(layer, by_name[layer.name], activations[layer.inputs[0]].shape, scale, folder)
                nets[layer.name][tag] = load_net(param, weights, options, threads)

    def one_round(layer: Layer, runs: int) -> dict[str, float]:
        x = activations[layer.inputs[0]]
        return {tag: float(np.median(time_forward(net, x, layer.outputs[0], layer.inputs[0], runs))) * 1e3
                for tag, net in nets[layer.name].items()}

    rounds: dict[str, list[dict[str, float]]] = {}
    for layer in layers:
        one_round(layer, 3)  # warm-up: first runs pack weights and fill the pools
        rounds[layer.name] = [one_round(layer, runs_per_round) for _ in range(ROUNDS)]

    def medians(name: str) -> tuple[float, float]:
        fp32, int8 = (float(np.median([r[tag] for r in rounds[name]])) for tag in ("fp32", "int8"))
        return fp32, int8

    min_saving = MIN_SHARE * sum(medians(ly.name)[0] for ly in layers)
    for layer in layers:
        while len(rounds[layer.name]) < MAX_ROUNDS and _close_call(*medians(layer.name), min_saving):
            rounds[layer.name].append(one_round(layer, runs_per_round))
    min_saving = MIN_SHARE * sum(medians(ly.name)[0] for ly in layers)  # from the final medians
    result = {}
    for layer in layers:
        fp32, int8 = medians(layer.name)
        result[layer.name] = {"fp32_ms": fp32, "int8_ms": int8, "rounds": len(rounds[layer.name]),
                              "int8": int8_wins(fp32, int8, min_saving)}
    return result, min_saving
