"""Hand-written wrong values for every field of model.json and of SSDConfig, independent of the schema in
`ssd2ncnn/schema.py` (which values are wrong is decided here, by reading what each field means: ncnn's
layers, the README's contract), plus the JSON kind of each field. tests/test_schema_fields.py checks that
these tables name exactly the fields the schema declares, so a new field needs its row here."""

from __future__ import annotations

NAN, INF = float("nan"), float("inf")
VOC_MIN = [60, 105, 150, 195, 240, 285]
VOC_MAX = [105, 150, 195, 240, 285, 300]
VOC_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]


def _at(values: list, i: int, v) -> list:
    out = list(values)
    out[i] = v
    return out


# The JSON kind each field must have: "bool", "int", "number" (an int is fine), "string", "array", "object".
CONFIG_KINDS = {
    "preset": "string", "input_size": "int", "class_names": "array", "min_sizes": "array", "max_sizes": "array",
    "aspect_ratios": "array", "mean": "array", "std": "array", "rgb": "bool", "width_mult": "number",
    "arch": "string", "extras": "array", "step_rule": "string", "center_rule": "string", "offset": "number",
    "clip": "bool", "clip_rule": "string", "variances": "array", "score_activation": "string",
    "nms_threshold": "number", "conf_threshold": "number", "nms_top_k": "int", "keep_top_k": "int",
    "clip_boxes": "bool", "strides": "array",
    "bn_eps": "number", "source_class_order": "string",
}

# SSDConfig field -> values that are wrong for a voc300 config (a wrong type, out of range, or inconsistent).
CONFIG_BAD: dict[str, list] = {
    "preset": [5, None, "", ["voc300"]],
    "input_size": ["300", 300.0, 300.5, True, 0, 31, -300, 100000, None, 10**400],
    "class_names": ["background", [], ["background"], ["background", 3], ["background", ""], None],
    "min_sizes": ["60", [], _at(VOC_MIN, 1, "105"), _at(VOC_MIN, 0, 0), _at(VOC_MIN, 0, -60), _at(VOC_MIN, 2, NAN),
                  VOC_MIN[:5], _at(VOC_MIN, 0, True)],
    "max_sizes": [105, _at(VOC_MAX, 5, "300"), _at(VOC_MAX, 5, 0), _at(VOC_MAX, 0, INF), VOC_MAX[:5],
                  _at(VOC_MAX, 0, 50), None],
    "aspect_ratios": ["2", [2, 2, 2, 2, 2, 2], _at(VOC_RATIOS, 5, [0]), _at(VOC_RATIOS, 5, ["2"]), VOC_RATIOS[:5],
                      _at(VOC_RATIOS, 5, [-1]), _at(VOC_RATIOS, 1, [2, NAN]), []],
    "mean": [[1, 2], [1, 2, 3, 4], ["123", 1, 1], [NAN, 1, 1], "123", None, [True, 1, 1], [10**400, 1, 1]],
    "std": [[1, 1, 0], [1, 1, -1], [1, 1], [1, 1, "1"], [1, 1, INF], 1],
    "rgb": ["false", "true", 0, 1, None, [True]],
    "width_mult": ["1.0", 0, -1, 4.5, True, NAN, None, -10**400],
    "arch": ["resnet", 1, None, ""],
    "extras": [[[256, 512], [128, 256], [128, 256], [64]], [[256, 512.5]], [[0, 512]], [[True, 512]], "x", [256, 512]],
    "step_rule": ["floor", 1, None, "EXACT"],
    "center_rule": ["mmdet_v2", 0, None],
    "offset": ["0.5", -0.1, 1.5, NAN, True, None],
    "clip": ["false", 0, None],
    "clip_rule": ["center", 1, None],
    "variances": [[0.1, 0.1, 0.2], [0.1, 0.1, 0.2, 0], [0.1, 0.1, 0.2, -0.2], ["0.1", 0.1, 0.2, 0.2], 0.1],
    "score_activation": ["relu", None, 1],
    "nms_threshold": ["0.45", -0.1, 1.5, NAN, INF, True, None, 10**400],
    "conf_threshold": ["0.01", -0.01, 1, 1.0, NAN, True],
    "nms_top_k": ["300", 0, -1, 300.5, True, None, 2**31, 10**400],
    "keep_top_k": ["100", 0, 100.0, True],
    "clip_boxes": ["false", 1, None],
    "strides": [[16, 30, 60, 100, 150, "300"], [0, 30, 60, 100, 150, 300], 16, [16.5], [True], [2**40]],
    "bn_eps": ["1e-5", 0, 1, -1e-5, NAN, True, None],
    "source_class_order": ["background-last", "last", 1, None, True],
}

# Values a voc300 config must accept although they look unusual (so a schema that refuses too much fails).
CONFIG_GOOD: dict[str, list] = {
    "nms_threshold": [1, 0, 0.0], "conf_threshold": [0, 0.999], "offset": [0, 1, 0.0], "input_size": [32, 8192],
    "width_mult": [4, 0.01], "mean": [[0, 0, 0], [-1.5, 300, 1e3]], "max_sizes": [[], VOC_MIN],
    "strides": [[]], "extras": [[]], "class_names": [["bg", "x"]], "std": [[1e-3, 1, 255]],
    "bn_eps": [1e-3, 0.5],
}

TOP_KINDS = {
    "input_size": "int", "config": "object", "ncnn_options": "object", "resize": "object", "fp16_weights": "bool",
    "int8": "bool", "simplified": "bool", "input_blob": "string", "output_blob": "string", "tools": "object",
    "sha256": "object", "class_names": "array", "rgb": "bool", "mean_vals": "array", "norm_vals": "array",
}

# model.json key -> wrong values for a voc300 folder converted at 300 px (rgb, mean (123.675, 116.28, 103.53),
# std 1). The top-level copies must also agree with the config (the last values of each).
TOP_BAD: dict[str, list] = {
    "input_size": ["300", 0, True, 300.5, None, 31],
    "config": [5, "config", [], None],
    "ncnn_options": [{"use_fp16_storage": "false"}, {"use_fp16_storage": 0}, {"use_turbo": True}, [], 5, None],
    "resize": ["bilinear", {"function": "cv::resize"}, {"function": 5}, None],
    "fp16_weights": ["false", 0, None],
    "int8": ["true", 1, None],
    "simplified": ["true", 0, None],
    "input_blob": ["", 5, None],
    "output_blob": ["", 5, None],
    "tools": ["torch 2.13", {"torch": 2.13}, [], None],
    "sha256": [{"model.param": "abc"}, {"model.param": 5}, {"other.file": "0" * 64}, "x", None],
    "class_names": ["background", ["background", 3], [], ["background", "cat"]],
    "rgb": ["false", 0, None, False],
    "mean_vals": [[1, 2], ["1", 2, 3], [NAN, 0, 0], [0, 0, 0]],
    "norm_vals": [[1, 1, 0], [1, 1], [1, 1, "1"], [2, 2, 2]],
}
# The envelope: not fields of ModelInfo, checked before them.
ENVELOPE_BAD: dict[str, list] = {"format": [5, "ncnn", None], "version": ["2", True, 2.0, 3, 0, None]}
