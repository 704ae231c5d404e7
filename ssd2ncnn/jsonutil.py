"""JSON for reports that carry numpy values: a numpy scalar or array that slips into a report dict is
written as the plain number or list it holds, instead of failing the write after the work is done."""

from __future__ import annotations

import json
from typing import Any

import numpy as np


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(obj, indent=indent, default=_plain) + "\n"
