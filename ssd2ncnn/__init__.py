"""ssd2ncnn: PyTorch MobileNetV3-SSDLite to ncnn, with the SSD post-processing written from the model's config.

The Python API (docs/api.md): `convert`, `verify`, `check`, `quantize`, `Detector`, `ModelFolder` and the
exceptions. Everything but the exceptions loads on first use (module `__getattr__`), so `import ssd2ncnn`
imports neither torch, onnx, ncnn nor numpy (tests/test_api.py keeps it so)."""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import (
    CheckFailed,
    CheckpointError,
    FilesFailed,
    InputError,
    ParamError,
    Ssd2NcnnError,
    ToolError,
)
from .version import __version__

# public name -> the module (of this package) that defines it
_LAZY = {
    "convert": "api",
    "verify": "api",
    "check": "api",
    "quantize": "api",
    "ModelFolder": "api",
    "VerifyResult": "api",
    "QuantizeResult": "api",
    "Detector": "runtime.detector",
    "Detection": "runtime.detector",
}

__all__ = [
    "CheckFailed", "CheckpointError", "Detection", "Detector", "FilesFailed", "InputError", "ModelFolder",
    "ParamError", "QuantizeResult", "Ssd2NcnnError", "ToolError", "VerifyResult", "__version__", "check",
    "convert", "quantize", "verify",
]

if TYPE_CHECKING:
    from .api import ModelFolder, QuantizeResult, VerifyResult, check, convert, quantize, verify
    from .runtime.detector import Detection, Detector


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """`ssd2ncnn.verify` and `ssd2ncnn.quantize` are API functions that share their names with subpackages.
    Importing a subpackage sets it as an attribute of its parent; this keeps the function there instead.
    Code reaches the subpackages by `from ssd2ncnn.verify.parity import ...`, which never reads the attribute."""

    def __setattr__(self, name: str, value: Any) -> None:
        if _LAZY.get(name) == "api" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
