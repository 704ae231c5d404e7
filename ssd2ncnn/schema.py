"""Typed field specs for values read from files (model.json, the SSDConfig inside a checkpoint): each field's
type and range is written once, beside the field (`spec(...)` as its dataclass default), and `read_fields`
checks a whole JSON object against them. Nothing is coerced: `bool("false")` is True and `"0.45" <= 1` is a
crash, so a wrong type is refused with one line naming the field, the value and what is expected:

    model.json: "rgb" must be true or false, got "false" (a string)

Standard library only: the torch-free runtime (`detect`, `bench` of a folder) reads model folders with it."""

from __future__ import annotations

import json
import math
import re
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from .errors import InputError

SCHEMA = "schema"  # the dataclass field metadata key that holds a field's Spec


class SchemaError(InputError):
    """A value read from a file has the wrong type or is out of range."""


def describe(value: Any) -> str:
    """A value as the user wrote it in JSON, and its JSON type when that is the likely mistake."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    kinds: dict[type, str] = {str: "a string", list: "an array", tuple: "an array", dict: "an object"}
    kind = kinds.get(type(value))
    if isinstance(value, bool) or value is None:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return f"{text} (not a finite number)"
    return f"{text} ({kind})" if kind else text


class Spec:
    """One field's type and range. `check` returns the value in its Python form (arrays as tuples), or
    raises SchemaError; `expected` is the accepted value in words."""

    def expected(self) -> str:
        raise NotImplementedError

    def fits(self, value: Any) -> bool:
        raise NotImplementedError

    def check(self, value: Any, name: str) -> Any:
        if not self.fits(value):
            raise SchemaError(f'"{name}" must be {self.expected()}, got {describe(value)}')
        return value


def _num(x: float) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


def _interval(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{_num(lo)}, {_num(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {_num(lo)}"
    return f"{'<' if hi_open else '<='} {_num(hi)}" if hi is not None else ""


def _within(v: float, lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> bool:
    above = lo is None or (v > lo if lo_open else v >= lo)
    below = hi is None or (v < hi if hi_open else v <= hi)
    return above and below


class Bool(Spec):
    def expected(self) -> str:
        return "true or false"

    def fits(self, value: Any) -> bool:
        return isinstance(value, bool)


INT32 = (-(2**31), 2**31 - 1)  # ncnn's int params (ParamDict) and blob shapes are 32-bit


@dataclass(frozen=True)
class Int(Spec):
    """An integer (true/false are refused, though Python counts bool as int) within [lo, hi]; an unset
    bound is the 32-bit one, as the value ends up in an ncnn param or shape."""

    lo: int | None = None
    hi: int | None = None

    def bounds(self) -> tuple[int, int]:
        return (INT32[0] if self.lo is None else self.lo, INT32[1] if self.hi is None else self.hi)

    def expected(self) -> str:
        return f"an integer {_interval(*self.bounds(), False, False)}"

    def fits(self, value: Any) -> bool:
        return type(value) is int and _within(value, *self.bounds(), False, False)


@dataclass(frozen=True)
class Real(Spec):
    """A finite number (an integer is fine, true/false, NaN and infinities are not) in the interval."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def expected(self) -> str:
        return f"a finite number {_interval(self.lo, self.hi, self.lo_open, self.hi_open)}".rstrip()

    def fits(self, value: Any) -> bool:
        if type(value) not in (int, float):
            return False
        try:
            number = float(value)
        except OverflowError:  # an int past float's range (10**400): every reader converts to float
            return False
        return math.isfinite(number) and _within(number, self.lo, self.hi, self.lo_open, self.hi_open)


@dataclass(frozen=True)
class Text(Spec):
    """A string, one of `choices` when given, else non-empty and matching `pattern` when given."""

    choices: tuple[str, ...] = ()
    pattern: str = ""

    def expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        return f"a string matching {self.pattern}" if self.pattern else "a non-empty string"

    def fits(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self.choices:
            return value in self.choices
        return bool(value) and (not self.pattern or re.fullmatch(self.pattern, value) is not None)


@dataclass(frozen=True)
class Seq(Spec):
    """A JSON array of `item`s (returned as a tuple): exactly `length` long, or at least `min_len`."""

    item: Spec
    length: int | None = None
    min_len: int = 0
    words: str = ""  # the expected value in words, when the default says it badly

    def expected(self) -> str:
        if self.words:
            return self.words
        count = f"{self.length}" if self.length is not None else f"at least {self.min_len}" if self.min_len else "any number of"
        return f"an array of {count} values, each {self.item.expected()}"

    def fits(self, value: Any) -> bool:
        n = len(value) if isinstance(value, (list, tuple)) else -1
        return n >= self.min_len and (self.length is None or n == self.length)

    def check(self, value: Any, name: str) -> tuple:
        super().check(value, name)
        return tuple(self.item.check(v, f"{name}[{i}]") for i, v in enumerate(value))


@dataclass(frozen=True)
class Mapping(Spec):
    """A JSON object of `value`s, keys among `keys` when given (returned as a dict)."""

    value: Spec
    keys: tuple[str, ...] = ()

    def expected(self) -> str:
        known = f" with keys among {', '.join(self.keys)}" if self.keys else ""
        return f"an object{known}, each value {self.value.expected()}"

    def fits(self, value: Any) -> bool:
        return isinstance(value, dict) and all(isinstance(k, str) and (not self.keys or k in self.keys) for k in value)

    def check(self, value: Any, name: str) -> dict:
        super().check(value, name)
        return {k: self.value.check(v, f"{name}.{k}") for k, v in value.items()}


def spec(kind: Spec, default: Any = MISSING, factory: Any = MISSING) -> Any:
    """A dataclass field with its type and range: `nms_threshold: float = spec(Real(0, 1), 0.45)`; no
    default makes it required, `factory` makes a mutable default."""
    return field(default=default, default_factory=factory, metadata={SCHEMA: kind})


def field_spec(cls: type, name: str) -> Spec:
    """The Spec declared for `cls.name` (so a second reader of the same value uses the same rule)."""
    return next(f.metadata[SCHEMA] for f in fields(cls) if f.name == name)


def specced(cls: type) -> list[Field]:
    """The fields of `cls` that carry a Spec, in declaration order."""
    return [f for f in fields(cls) if SCHEMA in f.metadata]


def read_fields(cls: type, data: Any, where: str, prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """`data` (a parsed JSON object) checked against the specced fields of `cls`: (their values, the keys
    `cls` does not declare). Missing fields without a default are an error; values keep their JSON meaning
    (an integer stays an integer), only arrays become tuples. Messages start with `where` and name each
    field with `prefix` ("config.")."""
    if not isinstance(data, dict):
        what = f'"{prefix.rstrip(".")}"' if prefix else "the content"
        raise SchemaError(f"{where}: {what} must be a JSON object, got {describe(data)}")
    known = specced(cls)
    missing = [f'"{prefix}{f.name}"' for f in known
               if f.name not in data and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise SchemaError(f"{where} lacks {', '.join(missing)}")
    try:
        values = {f.name: f.metadata[SCHEMA].check(data[f.name], prefix + f.name) for f in known if f.name in data}
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    return values, {k: v for k, v in data.items() if k not in values}


def check_fields(obj: Any, where: str, prefix: str = "") -> None:
    """Every specced field of a dataclass instance built in code holds a value its Spec accepts."""
    try:
        for f in specced(type(obj)):
            f.metadata[SCHEMA].check(getattr(obj, f.name), prefix + f.name)
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None
