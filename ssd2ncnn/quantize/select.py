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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..converter.param import Graph, Layer, write_param
from .int8 import ConvWeights, write_int8

SELECT_MODES = ("speed", "all")
# int8 must beat fp32 by MIN_GAIN of the layer's time, and save at least MIN_SHARE of the time all the
# candidates take in fp32. Closer than that the timing cannot tell them apart from run to run (the choice
# would change between two quantize runs), the saving does not matter, and float is the more accurate.
MIN_GAIN = 0.03
MIN_SHARE = 0.0005
# rounds of `runs_per_round` alternating fp32/int8 runs; a close call gets more rounds, up to MAX_ROUNDS
ROUNDS, MAX_ROUNDS, CLOSE = 3, 9, 0.1


@dataclass
class Timing:
    fp32: list[float] = field(default_factory=list)  # per-round medians, ms
    int8: list[float] = field(default_factory=list)

    @property
    def ms(self) -> tuple[float, float]:
        return float(np.median(self.fp32)), float(np.median(self.int8))


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


def _median_ms(net, blob_in: str, blob_out: str, x: np.ndarray, runs: int) -> float:
    from ..runtime.net import time_forward

    return float(np.median(time_forward(net, x, blob_out, blob_in, runs))) * 1e3


def time_int8_vs_fp32(graph: Graph, convs: list[ConvWeights], scales: dict[str, float], activations: dict[str, np.ndarray],
                      options: dict | None = None, threads: int = 1, runs_per_round: int = 5) -> tuple[dict[str, dict], float]:
    """({layer: {"fp32_ms", "int8_ms", "rounds", "int8": `int8_wins`}}, the minimum saving in ms) for every
    conv in `scales`, each run alone on its input blob from `activations`. Every layer gets ROUNDS rounds
    (fp32 and int8 alternate, so drift hits both); the saving threshold is MIN_SHARE of the summed fp32
    times; then close calls get more rounds."""
    from ..runtime.net import load_net

    by_name = {c.name: c for c in convs}
    nets: dict[str, dict] = {}
    timings: dict[str, Timing] = {}
    with tempfile.TemporaryDirectory(prefix="ssd2ncnn-select-") as tmp:
        for layer in graph.layers:
            if layer.name not in scales or layer.name not in by_name:
                continue
            if activations[layer.inputs[0]].ndim != 3:  # not a feature map: nothing to learn timing it alone
                continue
            nets[layer.name] = {}
            for tag, scale in (("fp32", None), ("int8", scales[layer.name])):
                folder = Path(tmp) / layer.name / tag
                folder.mkdir(parents=True)
                param, weights = _single_layer(layer, by_name[layer.name], activations[layer.inputs[0]].shape, scale, folder)
                nets[layer.name][tag] = load_net(param, weights, options, threads)

        def one_round(name: str) -> None:
            layer = graph.layer(name)
            x = activations[layer.inputs[0]]
            for tag in ("fp32", "int8"):
                getattr(timings[name], tag).append(_median_ms(nets[name][tag], layer.inputs[0], layer.outputs[0], x, runs_per_round))

        for name in nets:
            timings[name] = Timing()
            one_round(name)  # warm-up, discarded
            timings[name] = Timing()
            for _ in range(ROUNDS):
                one_round(name)
        min_saving = MIN_SHARE * sum(t.ms[0] for t in timings.values())
        for name, t in timings.items():
            while len(t.fp32) < MAX_ROUNDS and _close_call(*t.ms, min_saving):
                one_round(name)
    min_saving = MIN_SHARE * sum(t.ms[0] for t in timings.values())  # from the final medians
    result = {}
    for name, t in timings.items():
        fp32, int8 = t.ms
        result[name] = {"fp32_ms": fp32, "int8_ms": int8, "rounds": len(t.fp32), "int8": int8_wins(fp32, int8, min_saving)}
    return result, min_saving
