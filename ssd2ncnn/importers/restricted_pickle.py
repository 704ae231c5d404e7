"""Reading checkpoints whose pickle holds training-framework objects (mmengine's `HistoryBuffer` and
`ConfigDict`, numpy scalars: what mmdetection 3.x and mmcv runners save beside the weights) without running
any pickled code. `torch.load(weights_only=True)` refuses such files outright (open-mmlab/mmengine#1650).

`torch.load(pickle_module=...)` runs this module's `Unpickler`, whose `find_class` decides every global the
pickle names:
- a short list of globals that only rebuild data (tensors, `OrderedDict`, `torch.Size`, dtypes, sets) is
  resolved for real;
- any other name from a data-carrying framework (`INERT_MODULES`) becomes an `Inert` placeholder class: its
  instances keep what the pickle hands them (arguments, state, items) and run nothing, so even a function
  of those frameworks that a pickle "calls" only records its arguments;
- anything else (`os.system`, `builtins.eval`, `subprocess.Popen`, an unknown module) is refused with
  `CheckpointError` before it is imported, let alone called.
Storages are resolved by torch itself (`torch.serialization` maps `*Storage` names before `find_class`)."""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import copyreg
import os
import pickle
from typing import Any

import torch

from ..errors import CheckpointError

# Modules whose classes may appear in a checkpoint's meta data; their names turn into inert placeholders.
INERT_MODULES = ("mmengine", "mmcv", "mmdet", "mmpretrain", "mmcls", "numpy", "addict")

# Globals resolved for real: each only rebuilds data from the arguments it is given.
_REAL: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,  # type: ignore[attr-defined]  # object.__new__ of an allowed or inert class
    # protocol-2 pickles write bytes as latin-1 text plus this call (numpy arrays); torch's weights-only
    # unpickler allows it too: codecs turn data into data
    ("_codecs", "encode"): codecs.encode,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "object"): object,
}


class Inert:
    """An object of a class that was not imported. It keeps what the pickle gave it and does nothing else."""

    source = "?"  # "module.name" of the global it stands for

    def __new__(cls, *args: Any, **kwargs: Any) -> Inert:
        obj = object.__new__(cls)
        obj.__dict__.update(args=args, state=None, items={}, values=[])
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__["args"] = args

    def __setstate__(self, state: Any) -> None:  # BUILD
        self.__dict__["state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:  # SETITEMS of a dict subclass (ConfigDict)
        self.__dict__["items"][key] = value

    def append(self, value: Any) -> None:  # APPENDS of a list subclass
        self.__dict__["values"].append(value)

    def extend(self, values: Any) -> None:
        self.__dict__["values"].extend(values)

    def __repr__(self) -> str:
        return f"<inert {self.source}>"


_INERT_CLASSES: dict[str, type[Inert]] = {}


def inert_class(module: str, name: str) -> type[Inert]:
    key = f"{module}.{name}"
    if key not in _INERT_CLASSES:
        _INERT_CLASSES[key] = type(name, (Inert,), {"source": key, "__module__": __name__})
    return _INERT_CLASSES[key]


def mapping(obj: Any) -> dict:
    """The key -> value content of a plain dict or of an inert dict subclass (mmengine's ConfigDict);
    {} for anything else."""
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, Inert):
        state = obj.__dict__["state"]
        return {**(state if isinstance(state, dict) else {}), **obj.__dict__["items"]}
    return {}


def _inert_getattr(obj: Any, name: str) -> Any:
    """`getattr` as pickles of framework objects use it (mmengine's HistoryBuffer pickles its statistics
    methods as getattr(HistoryBuffer, "min")), limited to inert objects: on a real object it is the first
    step of every gadget chain (a function's __globals__, then builtins), so it is refused there."""
    if isinstance(obj, Inert) or (isinstance(obj, type) and issubclass(obj, Inert)):
        module, _, owner = obj.source.rpartition(".")
        return inert_class(module, f"{owner}.{name}")
    raise CheckpointError(f"it takes attribute {name!r} of a {type(obj).__name__}, which could run code when loaded")


def _allowed(module: str, name: str) -> Any:
    # Python 2 names in protocol 0-2 pickles (__builtin__, copy_reg), as pickle's own find_class maps them
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    if (module, name) == ("builtins", "getattr"):
        return _inert_getattr
    if (module, name) in _REAL:
        return _REAL[(module, name)]
    if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
        return getattr(torch, name)
    if module.split(".")[0] in INERT_MODULES:
        return inert_class(module, name)
    raise CheckpointError(f"it references {module}.{name}, which could run code when loaded")


class Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - every GLOBAL/INST/EXT opcode
        return _allowed(module, name)


def load(file: Any, **kwargs: Any) -> Any:  # torch's legacy (pre-1.6) format reads its headers with `load`
    return Unpickler(file, **kwargs).load()


def restricted_load(path: str | os.PathLike) -> Any:
    """`torch.load` with this module as the pickle module: data only, framework objects made inert."""
    import sys

    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=sys.modules[__name__])
