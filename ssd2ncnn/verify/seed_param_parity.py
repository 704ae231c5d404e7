"""The seed's hand-edited ncnn graph (`ssd2ncnn/assets/reference/mobilenetv3_ssdlite_voc.param`) run with the
weights of a seed-architecture model, and compared with our conversion of the same model.

The seed shipped its `.param` without a `.bin` we can use; `seed_bin` writes one from a `SeedSSD`:
BatchNorm folded into the convolution before it (w' = w * g / sqrt(var + eps), b' = beta + (b - mean) *
g / sqrt(var + eps)), as the seed's converter did (every Convolution in its graph has `5=1`, a bias, and
there is no BatchNorm layer). The layout is ncnn's (`src/modelbin.cpp`, `src/layer/convolution.cpp` and
`convolutiondepthwise.cpp` `load_model`): per layer in `.param` order, the weights are read with
`mb.load(weight_data_size, 0)`, a 4-byte flag tag (all zero: raw float32) then the float32 data, and the
bias with `mb.load(num_output, 1)`, raw float32 with no tag. `MemoryData` (`src/layer/memorydata.cpp`,
load type 1 by default) reads its w*h*c floats raw: in the seed graph these are the constants of the
hard-swish and hard-sigmoid it spells out as x * clip(x + 3, 0, 6) / 6, recognised from the BinaryOp
that reads them (add: 3, divide: 6)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..model.seed_mobilenetv3 import SeedSSD
from ..modelfolder import (
    BIN,
    CONF_BLOB,
    CONTRACT_BLOBS,
    DETECTION_BLOB,
    LOC_BLOB,
    PARAM,
    PRIOR_BLOB,
    head_names,
    read_info,
)
from ..ncnn_format import Graph, Layer, format_param, read_param
from ..ncnn_format.ids import (
    BINARYOP_ADD,
    BINARYOP_DIV,
    BINARYOP_TYPE,
    CLIP_MAX,
    CONV_BIAS_TERM,
    CONV_GROUP,
    CONV_KERNEL_H,
    CONV_KERNEL_W,
    CONV_NUM_OUTPUT,
    CONV_STRIDE_H,
    CONV_STRIDE_W,
    CONV_TYPES,
    CONV_WEIGHT_DATA_SIZE,
    MEMORYDATA_C,
    MEMORYDATA_H,
    MEMORYDATA_W,
)
from ..patches.ssd_postprocess import detection_output_params
from ..runtime.net import load_net, run_net
from ..runtime.preprocess import ncnn_input
from .compare import TensorCheck, compare_tensor
from .detections import DetectionCheck, candidates_from_blobs, compare_detections
from .tolerances import FP32, Tolerances, logit_scale
from .verify_images import VerifyImage

HSWISH_OFFSET, HSWISH_SCALE = 3.0, 6.0  # x * relu6(x + 3) / 6 (the seed's hswish/hsigmoid)
RAW_FP32_TAG = b"\x00\x00\x00\x00"


@dataclass(frozen=True)
class ConvSignature:
    """What two graphs must agree on for a convolution to be the same layer."""

    depthwise: bool
    num_output: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    groups: int
    weight_size: int

    def __str__(self) -> str:
        kind = "dw" if self.depthwise else "conv"
        return f"{kind} {self.kernel[0]}x{self.kernel[1]}/s{self.stride[0]} -> {self.num_output} (groups {self.groups}, {self.weight_size} weights)"


def layer_signature(layer: Layer) -> ConvSignature:
    kw = layer.get_int(CONV_KERNEL_W, 0)
    sw = layer.get_int(CONV_STRIDE_W, 1)
    groups = layer.get_int(CONV_GROUP, 1) if layer.type == "ConvolutionDepthWise" else 1
    return ConvSignature(groups > 1, layer.get_int(CONV_NUM_OUTPUT), (kw, layer.get_int(CONV_KERNEL_H, kw)),
                         (sw, layer.get_int(CONV_STRIDE_H, sw)), groups, layer.get_int(CONV_WEIGHT_DATA_SIZE))


def module_signature(conv: torch.nn.Conv2d) -> ConvSignature:
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    return ConvSignature(conv.groups > 1, conv.out_channels, (kw, kh), (sw, sh), conv.groups, conv.weight.numel())


def conv_layers(graph: Graph) -> list[Layer]:
    return [layer for layer in graph.layers if layer.type in CONV_TYPES]


def compare_conv_layers(ours: Graph, seed: Graph) -> list[str]:
    """Differences between the two graphs' convolutions, matched one to one by signature (the graphs order
    the heads differently); an empty list means the same convolutions with the same shapes."""
    a, b = Counter(map(layer_signature, conv_layers(ours))), Counter(map(layer_signature, conv_layers(seed)))
    problems = []
    if sum(a.values()) != sum(b.values()):
        problems.append(f"{sum(a.values())} convolutions in ours, {sum(b.values())} in the seed graph")
    problems += [f"ours has {n} more {sig}" for sig, n in (a - b).items()]
    problems += [f"the seed graph has {n} more {sig}" for sig, n in (b - a).items()]
    return problems


def fold_bn(conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d | None) -> tuple[np.ndarray, np.ndarray]:
    """(weights, bias) of `conv` with `bn` folded in, computed in float64 and returned as float32."""
    w = conv.weight.detach().double()
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=torch.float64)
    if bn is not None:
        assert bn.running_mean is not None and bn.running_var is not None
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        w = w * scale.reshape(-1, 1, 1, 1)
        b = bn.bias.detach().double() + (b - bn.running_mean.double()) * scale
    return w.float().numpy(), b.float().numpy()


def _hswish_constant(graph: Graph, layer: Layer) -> float:
    """3 for the MemoryData added before the Clip(0, 6) of a hard-swish, 6 for the one it divides by."""
    users = graph.consumers(layer.outputs[0])
    if len(users) == 1 and users[0].type == "BinaryOp" and users[0].inputs[1] == layer.outputs[0]:
        op = users[0].get_int(BINARYOP_TYPE, 0)
        after = graph.consumers(users[0].outputs[0])
        if op == BINARYOP_ADD and len(after) == 1 and after[0].type == "Clip" and after[0].get_float(CLIP_MAX) == HSWISH_SCALE:
            return HSWISH_OFFSET
        if op == BINARYOP_DIV:
            return HSWISH_SCALE
    raise InputError(f"seed graph: MemoryData {layer.name!r} is not a hard-swish constant (an add before Clip(0, 6) or a divide)")


def seed_bin(model: SeedSSD, graph: Graph) -> bytes:
    """The `.bin` for the seed graph from `model`'s weights; refuses a graph whose convolutions differ from
    the model's (count, kernel, stride, groups, channels, in the seed's order)."""
    pairs = model.deploy_order()
    convs = conv_layers(graph)
    if len(convs) != len(pairs):
        raise InputError(f"seed graph has {len(convs)} convolutions, the model {len(pairs)}; not the seed architecture")
    for i, (layer, (conv, _)) in enumerate(zip(convs, pairs)):
        if layer_signature(layer) != module_signature(conv):
            raise InputError(f"seed graph convolution {i} ({layer.name!r}): {layer_signature(layer)}, the model's is {module_signature(conv)}")
    chunks: list[bytes] = []
    pending = iter(pairs)
    for layer in graph.layers:
        if layer.type == "MemoryData":
            count = max(1, layer.get_int(MEMORYDATA_W)) * max(1, layer.get_int(MEMORYDATA_H)) * max(1, layer.get_int(MEMORYDATA_C))
            chunks.append(np.full(count, _hswish_constant(graph, layer), dtype="<f4").tobytes())
        elif layer.type in CONV_TYPES:
            w, b = fold_bn(*next(pending))
            chunks += [RAW_FP32_TAG, w.astype("<f4").tobytes()]
            if layer.get_int(CONV_BIAS_TERM):
                chunks.append(b.astype("<f4").tobytes())
            elif np.any(b != 0):
                raise InputError(f"seed graph convolution {layer.name!r} has no bias term but the folded BatchNorm gives one")
    return b"".join(chunks)


def seed_graph_for(model: SeedSSD, graph: Graph) -> Graph:
    """The seed graph with its DetectionOutput set from the model's config (thresholds and top-k are a
    deployment choice, not the network: the seed's `.param` says 0.01 / 100, its mmdetection test_cfg
    0.02 / 200), so the two graphs' detections can be compared."""
    for layer in graph.layers:
        if layer.type == "DetectionOutput":
            layer.params.update(detection_output_params(model.cfg))
    return graph


def write_seed_model(model: SeedSSD, seed_param: Path, out_dir: Path) -> tuple[Path, Path]:
    """OUT_DIR/seed.param (the seed graph, DetectionOutput from the config) and OUT_DIR/seed.bin."""
    graph = seed_graph_for(model, read_param(seed_param))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    param, weights = out_dir / "seed.param", out_dir / "seed.bin"
    weights.write_bytes(seed_bin(model, graph))
    param.write_text(format_param(graph))
    return param, weights


BLOBS = CONTRACT_BLOBS


@dataclass
class SeedCase:
    image: str
    size: int
    tensors: list[TensorCheck]
    detections: DetectionCheck
    priors_identical: bool

    @property
    def passed(self) -> bool:
        return self.detections.passed and all(t.passed for t in self.tensors)


def seed_parity(model: SeedSSD, out_dir: Path, seed_param: Path, seed_weights: Path, images: list[VerifyImage],
                sizes: tuple[int, ...] = (300,), tol: Tolerances = FP32, threads: int = 2) -> list[SeedCase]:
    """Our conversion (OUT_DIR) against the seed graph with the same weights, both in ncnn, on the same
    pre-processed inputs: mbox_loc and mbox_conf_flatten within the verify tolerances, detection_out
    matched by label and IoU (tie-aware, as `verify`), and whether the priors are bit for bit equal."""
    meta = read_info(Path(out_dir))
    ours = load_net(Path(out_dir) / PARAM, Path(out_dir) / BIN, meta.ncnn_options, threads)
    seed = load_net(Path(seed_param), Path(seed_weights), meta.ncnn_options, threads)
    cfg = model.cfg
    cases = []
    for size in sizes:
        for image in images:
            chw = ncnn_input(image.load(), size, meta)
            confs = head_names(cfg.num_levels)[cfg.num_levels:]
            a, b = run_net(ours, chw, tuple(confs) + BLOBS), run_net(seed, chw, BLOBS)
            case_tol = tol.for_case(cfg.score_activation, logit_scale(a[c] for c in confs))
            checks = [
                compare_tensor(LOC_BLOB, "seed", a[LOC_BLOB], b[LOC_BLOB], tol.head_atol, tol.head_rtol),
                compare_tensor(CONF_BLOB, "seed", a[CONF_BLOB], b[CONF_BLOB], case_tol.conf_limit()),
                compare_tensor(PRIOR_BLOB, "seed", a[PRIOR_BLOB], b[PRIOR_BLOB], tol.prior_atol),
            ]
            # the seed graph's own candidates judge any difference (tie-aware replay, as `verify`)
            cand = candidates_from_blobs(b[LOC_BLOB], b[CONF_BLOB], b[PRIOR_BLOB], cfg)
            det = compare_detections(a[DETECTION_BLOB], b[DETECTION_BLOB], cfg, case_tol, cand, checks[1].max_abs)
            same_priors = a[PRIOR_BLOB].shape == b[PRIOR_BLOB].shape and bool(np.array_equal(a[PRIOR_BLOB], b[PRIOR_BLOB]))
            cases.append(SeedCase(image.name, size, checks, det, same_priors))
    del ours, seed
    return cases
