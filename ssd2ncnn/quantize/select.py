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

from ..converter.param import Graph, Layer, write_param
from .int8 import ConvWeights, write_int8

SELECT_MODES = ("speed", "all")
# int8 must beat fp32 by this fraction and by this much time per run. Closer than that the timing cannot
# tell them apart from run to run (the choice would change between two quantize runs), the saving does
# not matter (the SE blocks' 1x1 convs take 10-40 us either way), and float is the more accurate of the two.
MIN_GAIN = 0.03
MIN_SAVING_MS = 0.01
# rounds of `runs_per_round` alternating fp32/int8 runs; a close call gets more rounds, up to MAX_ROUNDS
ROUNDS, MAX_ROUNDS, CLOSE = 3, 9, 0.1


def int8_wins(fp32_ms: float, int8_ms: float) -> bool:
    return int8_ms < (1 - MIN_GAIN) * fp32_ms and fp32_ms - int8_ms >= MIN_SAVING_MS


def _close_call(fp32_ms: float, int8_ms: float) -> bool:
    """Near either threshold: worth more rounds before deciding."""
    near_ratio = abs(int8_ms / fp32_ms - (1 - MIN_GAIN)) < CLOSE
    near_saving = abs(fp32_ms - int8_ms - MIN_SAVING_MS) < MIN_SAVING_MS / 2
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


def _median_ms(net, blob_in: str, blob_out: str, x: np.ndarray, runs: int) -> float:
    from ..runtime.net import time_forward

    return float(np.median(time_forward(net, x, blob_out, blob_in, runs))) * 1e3


def time_int8_vs_fp32(graph: Graph, convs: list[ConvWeights], scales: dict[str, float], activations: dict[str, np.ndarray],
                      options: dict | None = None, threads: int = 1, runs_per_round: int = 5) -> dict[str, dict]:
    """{layer: {"fp32_ms", "int8_ms", "rounds", "int8": `int8_wins`}} for every conv in `scales`, each run
    alone on its input blob from `activations` (rounds alternate fp32 and int8 so drift hits both)."""
    from ..runtime.net import load_net

    by_name = {c.name: c for c in convs}
    result: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="ssd2ncnn-select-") as tmp:
        for layer in graph.layers:
            if layer.name not in scales or layer.name not in by_name:
                continue
            x = activations[layer.inputs[0]]
            if x.ndim != 3:  # not a feature map: nothing to learn from timing it alone
                continue
            nets = {}
            for tag, scale in (("fp32", None), ("int8", scales[layer.name])):
                folder = Path(tmp) / layer.name / tag
                folder.mkdir(parents=True)
                param, weights = _single_layer(layer, by_name[layer.name], x.shape, scale, folder)
                nets[tag] = load_net(param, weights, options, threads)
            ms: dict[str, list[float]] = {"fp32": [], "int8": []}
            for tag in ("fp32", "int8"):  # warm-up
                _median_ms(nets[tag], layer.inputs[0], layer.outputs[0], x, 3)
            while True:
                for tag in ("fp32", "int8"):
                    ms[tag].append(_median_ms(nets[tag], layer.inputs[0], layer.outputs[0], x, runs_per_round))
                fp32, int8 = float(np.median(ms["fp32"])), float(np.median(ms["int8"]))
                rounds = len(ms["fp32"])
                if rounds >= MAX_ROUNDS or (rounds >= ROUNDS and not _close_call(fp32, int8)):
                    break
            result[layer.name] = {"fp32_ms": fp32, "int8_ms": int8, "rounds": rounds, "int8": int8_wins(fp32, int8)}
    return result
