"""Reading an fp32/fp16 ncnn `.bin` layer by layer and writing ncnn int8 Convolution /
ConvolutionDepthWise layers.

Facts from ncnn's sources this module relies on (Tencent/ncnn, read at a4d2ea1):

* `src/modelbin.cpp` `ModelBinFromDataReader::load(w, type)`: type 0 reads a 4-byte tag then the data:
  tag 0 (or flag bytes summing to 0) raw float32; 0x01306B47 float16, `w` halves padded to 4 bytes;
  0x000D4B38 int8, `w` bytes padded to 4 bytes; 0x0002C056 raw float32. Type 1 reads `w` raw float32 with
  no tag. A `.bin` is these blobs, layer after layer, in `.param` order.
* `src/layer/convolution.cpp` `load_model`: weight (type 0, `6=` elements), bias (type 1, `0=` num_output
  floats) when `5=1`, then when `8=` int8_scale_term != 0: `weight_data_int8_scales` (type 1, num_output
  floats) and `bottom_blob_int8_scales` (type 1, 1 float); `top_blob_int8_scales` (1 float) only when the
  term is > 100 (requantize: the layer writes int8 for an int8 consumer, which then skips its own
  quantize pass; `src/layer/x86/convolution_x86.cpp` `forward_int8_x86`).
* `src/layer/convolutiondepthwise.cpp` `load_model`: same weight and bias; term 1 (or 101): `group`
  weight scales + 1 bottom scale; term 2 (or 102): 1 weight scale + 1 bottom scale.
* `tools/quantize/ncnn2int8.cpp` writes `8=2` for Convolution and `8=1` for ConvolutionDepthWise (per-group
  scales) and stores the weights int8 with the 0x000D4B38 tag; scales are multipliers: q = round(x * s)
  clamped to [-127, 127] (`quantize_to_int8`, round half away from zero); a zero channel gets scale 1
  (`ncnn2table.cpp`).
* `tools/quantize/ncnn2int8.cpp` `fuse_requantize`: a conv feeding an int8 conv, directly or through a
  Split all of whose outputs feed int8 convs, takes the consumer's bottom scale as its top scale.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, ToolError
from ..ncnn_format import Graph
from ..ncnn_format.ids import (
    CONV_BIAS_TERM,
    CONV_DYNAMIC_WEIGHT,
    CONV_GROUP,
    CONV_INT8_SCALE_TERM,
    CONV_NUM_OUTPUT,
    CONV_TYPES,
    CONV_WEIGHT_DATA_SIZE,
    INT8_TERM_PER_CHANNEL,
    INT8_TERM_PER_GROUP,
    INT8_TERM_REQUANTIZE,
)

TAG_FP32 = 0
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38
TAG_FP32_RAW = 0x0002C056
# layer types that load nothing from the .bin (as they appear in pnnx output and the SSD patch)
WEIGHTLESS = frozenset({
    "Input", "Split", "BinaryOp", "UnaryOp", "HardSwish", "HardSigmoid", "Sigmoid", "Swish", "ReLU", "Clip",
    "Reduction", "Pooling", "Permute", "Flatten", "PriorBox", "Concat", "Reshape", "Softmax",
    "DetectionOutput", "Interp", "Padding", "Crop", "Eltwise", "Dropout", "Noop", "Slice", "Mish", "TanH",
})


def _align4(n: int) -> int:
    return (n + 3) // 4 * 4


@dataclass
class ConvWeights:
    index: int  # layer index in the graph
    name: str
    type: str
    weight: np.ndarray  # float32, flat, weight_data_size
    bias: np.ndarray | None  # float32 (num_output,)
    extra: list[np.ndarray] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise InputError(f"{self.path} ends at byte {len(self.data)}, a weight blob needs {self.pos + n}; the .bin does not match the .param")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def load0(self, w: int) -> np.ndarray:
        (tag,) = struct.unpack("<I", self.take(4))
        if tag == TAG_FP16:
            return np.frombuffer(self.take(_align4(2 * w)), dtype="<f2")[:w].astype(np.float32)
        if tag == TAG_INT8:
            raise InputError(f"{self.path} is already int8-quantized; quantize the fp32 model folder")
        if tag in (TAG_FP32, TAG_FP32_RAW) or sum(struct.pack("<I", tag)) == 0:
            return np.frombuffer(self.take(4 * w), dtype="<f4").astype(np.float32)
        raise InputError(f"{self.path}: weight tag 0x{tag:08X} at byte {self.pos - 4} (lookup-table quantized) is not supported")

    def load1(self, w: int) -> np.ndarray:
        return np.frombuffer(self.take(4 * w), dtype="<f4").astype(np.float32)


def read_conv_weights(graph: Graph, bin_path: Path) -> list[ConvWeights]:
    """Walk the `.bin` in layer order; returns the convolution weights. Any layer type whose weight layout
    is unknown here stops the walk with an error rather than mis-reading what follows."""
    rd = _Reader(Path(bin_path).read_bytes(), Path(bin_path))
    out: list[ConvWeights] = []
    for i, layer in enumerate(graph.layers):
        if layer.type in CONV_TYPES:
            if term := layer.get_int(CONV_INT8_SCALE_TERM):
                raise InputError(f"layer {layer.name} is already int8 ({CONV_INT8_SCALE_TERM}={term}); "
                                 f"quantize the fp32 model folder")
            if layer.get_int(CONV_DYNAMIC_WEIGHT):
                raise InputError(f"layer {layer.name} has dynamic weights ({CONV_DYNAMIC_WEIGHT}=1); not supported")
            n_out, wsize = layer.get_int(CONV_NUM_OUTPUT), layer.get_int(CONV_WEIGHT_DATA_SIZE)
            weight = rd.load0(wsize)
            bias = rd.load1(n_out) if layer.get_int(CONV_BIAS_TERM) else None
            out.append(ConvWeights(i, layer.name, layer.type, weight, bias))
        elif layer.type not in WEIGHTLESS:
            raise InputError(f"layer {layer.name} of type {layer.type} may carry weights; quantize only knows "
                             f"Convolution/ConvolutionDepthWise weights and the weightless types")
    if rd.pos != len(rd.data):
        raise InputError(f"{bin_path} has {len(rd.data) - rd.pos} bytes after the last weight; it does not match the .param")
    return out


def round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def weight_scales(cw: ConvWeights, num_output: int) -> np.ndarray:
    """Per output channel (per group for depthwise): 127 / max|w|, 1 for an all-zero channel."""
    w = cw.weight.reshape(num_output, -1)
    amax = np.abs(w).max(axis=1)
    return np.where(amax > 0, 127.0 / np.where(amax > 0, amax, 1.0), 1.0).astype(np.float32)


def quantize_weight(cw: ConvWeights, scales: np.ndarray) -> np.ndarray:
    w = cw.weight.reshape(scales.size, -1) * scales[:, None]
    return np.clip(round_half_away(w), -127, 127).astype(np.int8).reshape(-1)


def requantize_scales(graph: Graph, quantized: set[str], bottom_scales: dict[str, float]) -> dict[str, float]:
    """{int8 conv: top scale} for every int8 conv whose output reaches only int8 convs (directly or through
    one Split) that all quantize it with the same scale. Anything else (a residual Add, SE pooling, a float
    layer, a graph output) needs float, so that conv keeps dequantizing."""
    top: dict[str, float] = {}
    for layer in graph.layers:
        if layer.name not in quantized or len(layer.outputs) != 1:
            continue
        users = graph.consumers(layer.outputs[0])
        if len(users) == 1 and users[0].type == "Split":
            users = [u for b in users[0].outputs for u in graph.consumers(b)]
        ok = bool(users) and all(u.type in CONV_TYPES and u.name in quantized and len(u.inputs) == 1 for u in users)
        if not ok:
            continue
        scales = {bottom_scales[u.name] for u in users}
        if len(scales) == 1:  # one blob, one calibration: the consumers' scales agree
            top[layer.name] = scales.pop()
    return top


def write_int8(graph: Graph, convs: list[ConvWeights], bottom_scales: dict[str, float], out_bin: Path,
               skip: set[str] | frozenset[str] = frozenset(), requantize: bool = True) -> dict:
    """Rewrite `graph` in place (adds `8=` to quantized layers) and write the new `.bin`. Layers listed in
    `skip` or missing from `bottom_scales` stay float32; with `requantize`, int8 convs feeding only int8
    convs write int8 (`8=10x` + top scale). Returns {layer name: weight scales} for the table."""
    quantized = {c.name for c in convs if c.name not in skip and c.name in bottom_scales}
    top = requantize_scales(graph, quantized, bottom_scales) if requantize else {}
    by_index = {c.index: c for c in convs}
    tables: dict[str, np.ndarray] = {}
    with open(out_bin, "wb") as f:
        for i, layer in enumerate(graph.layers):
            cw = by_index.get(i)
            if cw is None:
                continue
            n_out = layer.get_int(CONV_NUM_OUTPUT)
            if layer.name not in quantized:
                f.write(struct.pack("<I", TAG_FP32))
                f.write(cw.weight.astype("<f4").tobytes())
                if cw.bias is not None:
                    f.write(cw.bias.astype("<f4").tobytes())
                continue
            depthwise = layer.type == "ConvolutionDepthWise"
            n_scales = layer.get_int(CONV_GROUP) if depthwise else n_out
            ws = weight_scales(cw, n_scales)
            q = quantize_weight(cw, ws)
            f.write(struct.pack("<I", TAG_INT8))
            f.write(q.tobytes())
            f.write(b"\0" * (_align4(q.size) - q.size))
            if cw.bias is not None:
                f.write(cw.bias.astype("<f4").tobytes())
            f.write(ws.astype("<f4").tobytes())
            f.write(np.asarray([bottom_scales[layer.name]], dtype="<f4").tobytes())
            term = INT8_TERM_PER_GROUP if depthwise else INT8_TERM_PER_CHANNEL
            if layer.name in top:
                f.write(np.asarray([top[layer.name]], dtype="<f4").tobytes())
                term += INT8_TERM_REQUANTIZE
            layer.params[CONV_INT8_SCALE_TERM] = term
            tables[layer.name] = ws
    return tables


def write_table(path: Path, weight_tables: dict[str, np.ndarray], bottom_scales: dict[str, float]) -> None:
    """The scales in ncnn2table's text format (`<layer>_param_0 w-scales...` then `<layer> bottom-scale`),
    so `ncnn2int8` can reproduce the model from the fp32 one."""
    lines = [f"{name}_param_0 " + " ".join(f"{v:f}" for v in ws) for name, ws in weight_tables.items()]
    lines += [f"{name} {bottom_scales[name]:f}" for name in weight_tables]
    Path(path).write_text("\n".join(lines) + "\n")


def check_roundtrip(graph: Graph, bin_path: Path) -> None:
    """Raise ToolError if ncnn cannot load the written model (used right after writing)."""
    import ncnn

    from ..ncnn_format import format_param

    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    if net.load_param_mem(format_param(graph)) != 0 or net.load_model(str(bin_path)) != 0:
        raise ToolError("ncnn could not load the int8 model just written (a bug in ssd2ncnn quantize)")
