"""Named param ids, their ncnn defaults, and the enum values this project writes, per layer type.

Every id and default below is read from the layer's ``load_param`` in Tencent/ncnn (src/layer/<type>.cpp,
checked at a4d2ea1): ``pd.get(id, default)``. A param absent from a `.param` line takes that default, so a
check such as "is this a mean over h, w?" must compare against the default, not against 0
(``Reduction 1=`` reduce_all defaults to 1; ``Reshape 0=`` defaults to -233). `ncnn_default` is the one
table of those defaults; `Layer.get_int`/`get_float` use it when no default is passed.

Array params are stored under their id (``params[PRIORBOX_MIN_SIZES] = [60.0]``); `values.array_key` turns
that into the ``-23300 - id`` key when writing.
"""

from __future__ import annotations

from .values import ParamValue

# ------------------------------------------------------------------ Convolution / ConvolutionDepthWise
CONV_TYPES = ("Convolution", "ConvolutionDepthWise")
CONV_NUM_OUTPUT = 0
CONV_KERNEL_W = 1
CONV_DILATION_W = 2
CONV_STRIDE_W = 3
CONV_PAD_LEFT = 4
CONV_BIAS_TERM = 5
CONV_WEIGHT_DATA_SIZE = 6
CONV_GROUP = 7  # ConvolutionDepthWise only
CONV_INT8_SCALE_TERM = 8
CONV_ACTIVATION_TYPE = 9
CONV_ACTIVATION_PARAMS = 10  # array
CONV_KERNEL_H = 11
CONV_DILATION_H = 12
CONV_STRIDE_H = 13
CONV_PAD_TOP = 14
CONV_PAD_RIGHT = 15
CONV_PAD_BOTTOM = 16
CONV_PAD_VALUE = 18
CONV_DYNAMIC_WEIGHT = 19
# int8_scale_term values written by ncnn2int8 (tools/quantize/ncnn2int8.cpp): per output channel scales for
# Convolution, per group for ConvolutionDepthWise; +100 when the layer also requantizes its output to int8.
INT8_TERM_PER_CHANNEL = 2
INT8_TERM_PER_GROUP = 1
INT8_TERM_REQUANTIZE = 100
# activation_type values (src/layer/fused_activation.h): 6 is hardswish with params (alpha, beta)
ACTIVATION_NONE = 0
ACTIVATION_HARDSWISH = 6

# ------------------------------------------------------------------ HardSwish: y = x * clamp(a*x + b, 0, 1)
HARDSWISH_ALPHA = 0
HARDSWISH_BETA = 1

# ------------------------------------------------------------------ Pooling
POOLING_TYPE = 0
POOLING_KERNEL_W = 1
POOLING_STRIDE_W = 2
POOLING_PAD_LEFT = 3
POOLING_GLOBAL = 4
POOLING_PAD_MODE = 5
POOLING_COUNT_INCLUDE_PAD = 6
POOLING_ADAPTIVE = 7
POOLING_OUT_W = 8
POOLING_OUT_H = 18
POOL_MAX, POOL_AVE = 0, 1  # src/layer/pooling.h PoolMethod

# ------------------------------------------------------------------ Reduction
REDUCTION_OPERATION = 0
REDUCTION_REDUCE_ALL = 1
REDUCTION_COEFF = 2
REDUCTION_AXES = 3  # array
REDUCTION_KEEPDIMS = 4
REDUCTION_FIXBUG0 = 5  # axes without 5=1 is refused ("param is too old")
REDUCTION_MEAN = 3  # src/layer/reduction.h ReductionOp_MEAN

# ------------------------------------------------------------------ Reshape
RESHAPE_W = 0
RESHAPE_H = 1
RESHAPE_C = 2
RESHAPE_SHAPE_EXPR = 6  # a string, e.g. "1w,1h,128" (pnnx writes these for shape expressions)
RESHAPE_D = 11
RESHAPE_UNSET = -233

# ------------------------------------------------------------------ Permute, Concat
PERMUTE_ORDER_TYPE = 0
PERMUTE_CHW_TO_HWC = 3  # order_type 3: (c, h, w) -> (h, w, c)
CONCAT_AXIS = 0

# ------------------------------------------------------------------ Softmax
SOFTMAX_AXIS = 0
SOFTMAX_FIXBUG0 = 1  # axis != 0 without 1=1 is refused ("param is too old, please regenerate!")

# ------------------------------------------------------------------ PriorBox
PRIORBOX_MIN_SIZES = 0  # array
PRIORBOX_MAX_SIZES = 1  # array
PRIORBOX_ASPECT_RATIOS = 2  # array
PRIORBOX_VARIANCE = (3, 4, 5, 6)
PRIORBOX_FLIP = 7
PRIORBOX_CLIP = 8
PRIORBOX_IMAGE_W = 9
PRIORBOX_IMAGE_H = 10
PRIORBOX_STEP_W = 11
PRIORBOX_STEP_H = 12
PRIORBOX_OFFSET = 13
PRIORBOX_STEP_MMDET = 14
PRIORBOX_CENTER_MMDET = 15
FROM_INPUT = -233  # PriorBox image size / step: take it from the input blob(s)

# ------------------------------------------------------------------ DetectionOutput
DETOUT_NUM_CLASS = 0
DETOUT_NMS_THRESHOLD = 1
DETOUT_NMS_TOP_K = 2
DETOUT_KEEP_TOP_K = 3
DETOUT_CONF_THRESHOLD = 4
DETOUT_VARIANCE = (5, 6, 7, 8)

# ------------------------------------------------------------------ MemoryData, BinaryOp, Clip
MEMORYDATA_W = 0  # src/layer/memorydata.cpp
MEMORYDATA_H = 1
MEMORYDATA_C = 2
MEMORYDATA_D = 11
BINARYOP_TYPE = 0  # src/layer/binaryop.cpp
BINARYOP_WITH_SCALAR = 1
BINARYOP_B = 2
BINARYOP_ADD = 0  # src/layer/binaryop.h Operation_ADD
BINARYOP_SUB = 1  # Operation_SUB
BINARYOP_MUL = 2  # Operation_MUL
BINARYOP_DIV = 3  # Operation_DIV
CLIP_MIN = 0  # src/layer/clip.cpp
CLIP_MAX = 1
_FLT_MAX = 3.4028234663852886e38

# ------------------------------------------------------------------ UnaryOp, Slice
UNARYOP_TYPE = 0  # src/layer/unaryop.cpp
UNARYOP_EXP = 7  # src/layer/unaryop.h Operation_EXP
SLICE_SLICES = 0  # array, src/layer/slice.cpp
SLICE_AXIS = 1
SLICE_REST = -233  # a slice of -233 takes an equal share of what is left (slice.cpp forward)

_CONV_DEFAULTS: dict[int, ParamValue] = {
    CONV_NUM_OUTPUT: 0, CONV_KERNEL_W: 0, CONV_DILATION_W: 1, CONV_STRIDE_W: 1, CONV_PAD_LEFT: 0,
    CONV_BIAS_TERM: 0, CONV_WEIGHT_DATA_SIZE: 0, CONV_INT8_SCALE_TERM: 0, CONV_ACTIVATION_TYPE: 0,
    CONV_ACTIVATION_PARAMS: [], CONV_PAD_VALUE: 0.0, CONV_DYNAMIC_WEIGHT: 0,
}

# ncnn's defaults; ids whose default is another id's value (kernel_h = kernel_w, ...) are left out:
# `ncnn_default` refuses them so that a caller reads the id they follow instead.
_DEFAULTS: dict[str, dict[int, ParamValue]] = {
    "Convolution": _CONV_DEFAULTS,
    "ConvolutionDepthWise": {**_CONV_DEFAULTS, CONV_GROUP: 1},
    "HardSwish": {HARDSWISH_ALPHA: 0.2, HARDSWISH_BETA: 0.5},
    "Pooling": {
        POOLING_TYPE: POOL_MAX, POOLING_KERNEL_W: 0, POOLING_STRIDE_W: 1, POOLING_PAD_LEFT: 0, POOLING_GLOBAL: 0,
        POOLING_PAD_MODE: 0, POOLING_COUNT_INCLUDE_PAD: 0, POOLING_ADAPTIVE: 0, POOLING_OUT_W: 0,
    },
    "Reduction": {
        REDUCTION_OPERATION: 0, REDUCTION_REDUCE_ALL: 1, REDUCTION_COEFF: 1.0, REDUCTION_AXES: [],
        REDUCTION_KEEPDIMS: 0, REDUCTION_FIXBUG0: 0,
    },
    "Reshape": {RESHAPE_W: RESHAPE_UNSET, RESHAPE_H: RESHAPE_UNSET, RESHAPE_C: RESHAPE_UNSET,
                RESHAPE_D: RESHAPE_UNSET, RESHAPE_SHAPE_EXPR: ""},
    "Permute": {PERMUTE_ORDER_TYPE: 0},
    "MemoryData": {MEMORYDATA_W: 0, MEMORYDATA_H: 0, MEMORYDATA_C: 0, MEMORYDATA_D: 0},
    "BinaryOp": {BINARYOP_TYPE: BINARYOP_ADD, BINARYOP_WITH_SCALAR: 0, BINARYOP_B: 0.0},
    "Clip": {CLIP_MIN: -_FLT_MAX, CLIP_MAX: _FLT_MAX},
    "UnaryOp": {UNARYOP_TYPE: 0},
    "Slice": {SLICE_SLICES: [], SLICE_AXIS: 0},
    "Concat": {CONCAT_AXIS: 0},
    "Softmax": {SOFTMAX_AXIS: 0, SOFTMAX_FIXBUG0: 0},
    "PriorBox": {
        PRIORBOX_MIN_SIZES: [], PRIORBOX_MAX_SIZES: [], PRIORBOX_ASPECT_RATIOS: [],
        **dict(zip(PRIORBOX_VARIANCE, (0.1, 0.1, 0.2, 0.2))),
        PRIORBOX_FLIP: 1, PRIORBOX_CLIP: 0, PRIORBOX_IMAGE_W: 0, PRIORBOX_IMAGE_H: 0,
        PRIORBOX_STEP_W: -233.0, PRIORBOX_STEP_H: -233.0, PRIORBOX_OFFSET: 0.0,
        PRIORBOX_STEP_MMDET: 0, PRIORBOX_CENTER_MMDET: 0,
    },
    "DetectionOutput": {
        DETOUT_NUM_CLASS: 0, DETOUT_NMS_THRESHOLD: 0.05, DETOUT_NMS_TOP_K: 300, DETOUT_KEEP_TOP_K: 100,
        DETOUT_CONF_THRESHOLD: 0.5, **dict(zip(DETOUT_VARIANCE, (0.1, 0.1, 0.2, 0.2))),
    },
}


def ncnn_default(layer_type: str, param_id: int) -> ParamValue:
    """The value ncnn's ``load_param`` uses for `param_id` of `layer_type` when the line does not set it.
    A KeyError means the table does not know it: pass the default explicitly (a bug, not bad input)."""
    try:
        value = _DEFAULTS[layer_type][param_id]
    except KeyError:
        raise KeyError(f"no ncnn default recorded for {layer_type} param {param_id}") from None
    return list(value) if isinstance(value, list) else value
