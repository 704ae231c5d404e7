"""The ncnn `.param` format, below everything that reads or writes it (converter, patches, quantize,
verify, the `param` commands): values and array keys (`values`), the `Layer`/`Graph` model and its
edits (`graph`), the parser and writer (`text`), the linter (`lint`), named param ids and ncnn's
defaults per layer type (`ids`). It imports nothing of the project but `errors`."""

from .graph import Graph, Layer, ncnn_blob_count
from .lint import LINT_CODES, LintFinding, lint_param
from .text import (
    HeaderProblem,
    format_layer,
    format_param,
    header_problem,
    parse_param,
    read_param,
    read_param_text,
    write_param,
)
from .values import ARRAY_KEY_BASE, MAGIC, ParamValue, array_key, decode_key, format_value

__all__ = [
    "ARRAY_KEY_BASE", "LINT_CODES", "MAGIC", "LintFinding", "Graph", "HeaderProblem", "Layer", "ParamValue", "array_key",
    "decode_key", "format_layer", "format_param", "format_value", "header_problem", "lint_param", "ncnn_blob_count",
    "parse_param", "read_param", "read_param_text", "write_param",
]
