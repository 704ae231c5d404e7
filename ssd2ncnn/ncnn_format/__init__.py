"""The ncnn `.param` format, below everything that reads or writes it (converter, patches, quantize,
verify, the `param` commands): values and array keys (`values`), the `Layer`/`Graph` model and its
edits (`graph`), the parser and writer (`text`), the linter (`lint`)."""

from .graph import Finding, Graph, Layer
from .lint import LINT_CODES, lint_param
from .text import format_layer, format_param, parse_param, read_param, read_param_text, write_param
from .values import ARRAY_KEY_BASE, MAGIC, ParamValue, array_key, decode_key, format_value

__all__ = [
    "ARRAY_KEY_BASE", "LINT_CODES", "MAGIC", "Finding", "Graph", "Layer", "ParamValue", "array_key", "decode_key",
    "format_layer", "format_param", "format_value", "lint_param", "parse_param", "read_param", "read_param_text",
    "write_param",
]
