"""ncnn ``.param`` files: a typed data model, a strict parser, a canonical writer, graph-editing helpers
and a linter.

The text format (what ncnn's ``Net::load_param`` and ``ParamDict::load_param`` read)::

    7767517
    layer_count blob_count
    Type Name n_in n_out in_blob... out_blob... id=value id=value ...

Facts taken from ncnn's ``src/paramdict.cpp`` that this module relies on:

* A value is a float when its text contains ``.``, ``e`` or ``E``, otherwise an int. So ``60`` is an int and
  ``60.0`` a float; the type of every value is kept as read (Python ``int`` / ``float``) and written back the
  same way. An int written where a layer reads a float is not the same thing: older ncnn stores ints and
  floats in one union and reads the int's bits as a float, newer ncnn converts or falls back to the default.
* A key ``<= -23300`` is an array for param id ``-23300 - key`` with value ``n,v1,...,vn``. Arrays are kept as
  Python lists under their *param id* (``params[0] = [60.0]`` for ``-23300=1,60.0``); the writer turns a list
  back into the array key. All elements of one array have one type (ncnn stores them in one Mat).
* Param ids are ``0 .. NCNN_MAX_PARAM_COUNT-1`` (32): ncnn refuses larger ids.
* A value whose text starts with a letter or ``"`` is a string (``vstr_is_string``), read on to the closing
  quote (quoted: spaces and commas allowed) or to the next space (unquoted): ``6="1w,1h,128"``, the shape
  expression current pnnx writes for Reshape, is the string ``1w,1h,128``. The rest of a string after its
  first 15 characters may be at most 241 characters ("string too long"). A quoted string whose text starts
  with a space or a comma, or that contains a quote or a newline, is not read back correctly by ncnn (its
  first 15-character chunk would be the lone quote), so it is refused here. Strings are kept as Python
  ``str`` and always written quoted.
* ``id=v1,v2,...`` with a plain key is also an array (the newer form); it is read into the same list and
  written back in the ``-23300 - id`` form, which ncnn loads into the same Mat.
* Older ncnn reads each value with ``%15s`` (and array elements with ``%15[^,\\n ]``): a value longer than
  15 characters is split. It also accumulates the digits before and after the decimal point in 32-bit
  unsigned integers. The writer therefore never emits a float longer than 15 characters or with more than
  9 digits on either side of the point.

Canonical float text (``format_value``): the shortest decimal that rounds back to the same float32, the
closest such (what numpy's Dragon4 ``unique=True`` prints; computed here without numpy). It is written positionally (``0.1``, ``60.0``, ``-233.0``) when that fits ncnn's
limits above, otherwise in scientific notation (``1e-10``, ``1.2345679e+08``). Both forms always contain
``.`` or ``e``, so ncnn reads them as floats. Floats are rounded to float32 on writing (ncnn has no doubles).
"""

from __future__ import annotations

import functools
import math
import re
import struct
from decimal import Decimal

from ..errors import ParamError

MAGIC = 7767517
ARRAY_KEY_BASE = -23300
MAX_PARAM_COUNT = 32  # NCNN_MAX_PARAM_COUNT: param ids are 0..31
MAX_VALUE_CHARS = 15  # older ncnn reads a value with %15s
INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# float32 rounds to infinity at and above 2**128 - 2**103 (half an ulp past FLT_MAX)
_F32_OVERFLOW = 2.0**128 - 2.0**103

ParamValue = int | float | str | list[int] | list[float]

_WS_CHARS = " \t\r\f\v"
_WS = re.compile(r"[ \t\r\f\v]+")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_COUNT_RE = re.compile(r"[0-9]+")


def array_key(param_id: int) -> int:
    """The key an array param with id ``param_id`` is written under: ``-23300 - id``."""
    return ARRAY_KEY_BASE - param_id


def decode_key(key: int) -> tuple[int, bool]:
    """``(param_id, is_array)`` for a written key: ``-23302`` -> ``(2, True)``, ``5`` -> ``(5, False)``."""
    if key <= ARRAY_KEY_BASE:
        return ARRAY_KEY_BASE - key, True
    return key, False



# --------------------------------------------------------------------------------------------- values


def _is_f32_finite(x: float) -> bool:
    return x == x and abs(x) < _F32_OVERFLOW


def _format_float(x: float) -> str:
    if not isinstance(x, float) or not _is_f32_finite(x):
        raise ParamError(f"cannot write float {x!r}: ncnn params must be finite float32 values")
    return _format_f32_bits(struct.pack("<f", x))


def _f32(x: float) -> float:
    """`x` rounded to float32 (inf past the float32 range)."""
    if abs(x) >= _F32_OVERFLOW:
        return math.copysign(math.inf, x)
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _shortest_digits(ax: float) -> tuple[str, int]:
    """``(digits, exp)`` with ``ax == float32(d.ddd x 10**exp)``: the fewest digits that round back to the
    float32 `ax` (> 0), and among those the decimal closest to it, as numpy's Dragon4 ``unique=True`` picks
    (tests/test_param.py compares the two). Pure Python, so `param fmt` need not import numpy."""
    exact = Decimal(ax)
    for p in range(1, 10):  # 9 significant digits always identify a float32
        mant, _, exp_text = f"{ax:.{p - 1}e}".partition("e")
        nearest, scale = int(mant.replace(".", "")), int(exp_text) - p + 1
        # the correctly rounded p-digit decimal can miss the rounding interval where it is lopsided (at a
        # power of two) while its neighbour on the wide side is inside it: try both neighbours too
        fits = [Decimal(n).scaleb(scale) for n in (nearest, nearest - 1, nearest + 1) if n > 0]
        fits = [d for d in fits if _f32(float(d)) == ax]
        if fits:
            best = min(fits, key=lambda d: abs(d - exact)).normalize()
            sign, digits, exponent = best.as_tuple()
            text = "".join(map(str, digits))
            return text, int(exponent) + len(text) - 1
    raise AssertionError(f"no 9-digit decimal rounds back to {ax!r}")  # unreachable for a float32


def _positional(digits: str, exp: int) -> str:
    """``digits`` (d.ddd x 10**exp) without an exponent, trailing zeros trimmed but one kept: 60.0, 0.001."""
    if exp >= len(digits) - 1:
        return digits + "0" * (exp - len(digits) + 1) + ".0"
    if exp >= 0:
        return f"{digits[: exp + 1]}.{digits[exp + 1 :]}"
    return "0." + "0" * (-exp - 1) + digits


def _scientific(digits: str, exp: int) -> str:
    """1e-10, 1.2345679e+08: at least two exponent digits, no trailing point."""
    mant = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


@functools.lru_cache(maxsize=4096)
def _format_f32_bits(bits: bytes) -> str:
    (x,) = struct.unpack("<f", bits)
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0.0"
    digits, exp = _shortest_digits(abs(x))
    pos = _positional(digits, exp)
    int_part, _, frac_part = pos.partition(".")
    if len(sign + pos) <= MAX_VALUE_CHARS and len(int_part) <= 9 and len(frac_part) <= 9:
        return sign + pos
    return sign + _scientific(digits, exp)


def _format_int(v: int) -> str:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ParamError(f"cannot write {v!r} as an ncnn int param")
    if not INT32_MIN <= v <= INT32_MAX:
        raise ParamError(f"cannot write int {v}: outside the int32 range")
    return str(v)


MAX_STRING_CHARS = 240  # ncnn reads a string's first chunk (up to 15) then at most 241 more; 240 always fits
_STRING_FORBIDDEN = re.compile(r'["\x00-\x1f\x7f]')


def _format_string(v: str) -> str:
    problem = None
    if len(v) > MAX_STRING_CHARS:
        problem = f"it is {len(v)} characters long, ncnn reads at most {MAX_STRING_CHARS} safely"
    elif _STRING_FORBIDDEN.search(v):
        problem = "it contains a quote or a control character, which ncnn cannot read back"
    elif v[:1] in (" ", ","):
        problem = "it starts with a space or a comma, which ncnn reads as an empty string"
    if problem:
        raise ParamError(f"cannot write string param {v!r}: {problem}")
    return f'"{v}"'


def format_value(v: ParamValue) -> str:
    """Canonical text of one param value. Lists give ``n,v1,...,vn`` (the array key is the caller's);
    strings are quoted."""
    if isinstance(v, str):
        return _format_string(v)
    if isinstance(v, list):
        if not v:
            return "0"
        if all(isinstance(e, float) for e in v):
            items = [_format_float(e) for e in v]
        elif all(isinstance(e, int) and not isinstance(e, bool) for e in v):
            items = [_format_int(int(e)) for e in v]
        else:
            raise ParamError(f"cannot write array {v!r}: elements must be all int or all float")
        return ",".join([str(len(v)), *items])
    if isinstance(v, float):
        return _format_float(v)
    return _format_int(v)


@functools.lru_cache(maxsize=4096)
def _scalar(text: str) -> tuple[int | float | None, str | None]:
    """``(value, None)`` or ``(None, reason)``; cached because real files repeat their values a lot."""
    if _INT_RE.fullmatch(text):
        v = int(text)
        if not INT32_MIN <= v <= INT32_MAX:
            return None, f"int {text!r} is outside the int32 range"
        return v, None
    if _FLOAT_RE.fullmatch(text):
        x = float(text)
        if not _is_f32_finite(x):
            return None, f"float {text!r} is outside the float32 range"
        return x, None
    return None, f"expected an int or a float (e.g. 3, 0.5, 1e-05), found {text!r}"


@functools.lru_cache(maxsize=1024)
def _key(key_text: str) -> tuple[int, int, bool] | None:
    """``(key, param_id, is_array)`` for key text, or None when it is not an integer."""
    if not _INT_RE.fullmatch(key_text):
        return None
    key = int(key_text)
    return (key, *decode_key(key))


def _parse_param(
    tok: str, line: int | None, path: str | None
) -> tuple[int, ParamValue]:
    key_text, eq, val_text = tok.partition("=")
    if not eq:
        raise ParamError(f"expected a param 'key=value', found {tok!r}", line, path)
    decoded = _key(key_text)
    if decoded is None:
        raise ParamError(f"param {tok!r}: expected an integer key, found {key_text!r}", line, path)
    key, pid, is_array = decoded
    if not 0 <= pid < MAX_PARAM_COUNT:
        raise ParamError(
            f"param {tok!r}: key {key} is out of range (ids 0..{MAX_PARAM_COUNT - 1}, arrays "
            f"{ARRAY_KEY_BASE}..{array_key(MAX_PARAM_COUNT - 1)})",
            line,
            path,
        )
    if not is_array:
        if val_text[:1] == '"' or (val_text[:1].isascii() and val_text[:1].isalpha()):  # C isalpha
            return pid, _parse_string(key, val_text, line, path)
        if "," in val_text:
            return pid, _parse_items(key, val_text, val_text.split(","), line, path)
        value, reason = _scalar(val_text)
        if reason is not None:
            raise ParamError(f"param {key}: {reason}", line, path)
        return pid, value  # type: ignore[return-value]
    parts = val_text.split(",")
    if not _COUNT_RE.fullmatch(parts[0]):
        raise ParamError(
            f"array param {key}: expected 'n,v1,...,vn' with a non-negative length n, found {val_text!r}",
            line,
            path,
        )
    n = int(parts[0])
    items = parts[1:]
    if len(items) != n:
        raise ParamError(f"array param {key}: declares {n} values, found {len(items)}", line, path)
    return pid, _parse_items(key, val_text, items, line, path)


def _parse_string(key: int, val_text: str, line: int | None, path: str | None) -> str:
    """A string value as ncnn's ParamDict reads it (see the module docstring); refuses what ncnn misreads."""
    quoted = val_text[:1] == '"'
    if quoted:
        if len(val_text) < 2 or not val_text.endswith('"') or '"' in val_text[1:-1]:
            raise ParamError(f"string param {key}: expected one quoted string \"...\", found {val_text!r}", line, path)
        value = val_text[1:-1]
        if value[:1] in (" ", ","):
            raise ParamError(
                f"string param {key}: {val_text!r} starts with a space or a comma after the quote; ncnn reads "
                f"that as an empty string and then fails on the rest",
                line,
                path,
            )
    else:
        if '"' in val_text[:-1]:
            raise ParamError(f"string param {key}: unexpected quote inside {val_text!r}", line, path)
        value = val_text[:-1] if val_text.endswith('"') else val_text  # ncnn drops one trailing quote
    if _STRING_FORBIDDEN.search(value):
        raise ParamError(f"string param {key}: {val_text!r} contains a quote or a control character", line, path)
    first = min([15, *(i for i, c in enumerate(val_text) if c in ", ")])
    rest = len(val_text) - first - (1 if quoted else 0)
    if rest > 241:
        raise ParamError(f"string param {key}: too long for ncnn ({len(value)} characters)", line, path)
    return value


def _parse_items(key: int, val_text: str, items: list[str], line: int | None, path: str | None) -> ParamValue:
    values = []
    for i, e in enumerate(items):
        value, reason = _scalar(e)
        if reason is not None:
            raise ParamError(f"array param {key} element {i}: {reason}", line, path)
        values.append(value)
    if values and len({type(e) for e in values}) > 1:
        raise ParamError(
            f"array param {key}: mixes int and float elements ({val_text!r}); ncnn needs one type",
            line,
            path,
        )
    return values  # type: ignore[return-value]  # element types checked above


