"""What the restricted unpickler (ssd2ncnn/importers/restricted_pickle.py) keeps of framework objects and
which globals it resolves, on pickles made here with Python's own pickle (protocol 2, torch.save's). The
placeholder cache is emptied per test: a class cached by an earlier test would hide how it is built."""

from __future__ import annotations

import io
import pickle

import pytest
import torch
from mmdet_helpers import HistoryBuffer, fake_modules
from test_checkpoint import as_saved_on_cuda

from ssd2ncnn.checkpoint import read_checkpoint
from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.importers import restricted_pickle
from ssd2ncnn.importers.restricted_pickle import Inert, Unpickler, inert_class, mapping

BUFFER = "mmengine.logging.history_buffer.HistoryBuffer"


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    monkeypatch.setattr(restricted_pickle, "_INERT_CLASSES", {})


class Items(list):
    """Shaped like a framework's list subclass (pickled with APPEND / APPENDS)."""


def unpickle(obj, classes: dict[str, type] | None = None):
    with fake_modules(classes or {}):
        data = pickle.dumps(obj, protocol=2)
    return Unpickler(io.BytesIO(data)).load()


def test_a_placeholder_class_is_built_once_per_name():
    cls = inert_class("mmdet.models", "SSDHead")
    assert issubclass(cls, Inert) and cls.__name__ == "SSDHead" and cls.source == "mmdet.models.SSDHead"
    assert cls.__module__ == "ssd2ncnn.importers.restricted_pickle"
    assert inert_class("mmdet.models", "SSDHead") is cls and inert_class("mmdet.other", "SSDHead") is not cls


def test_an_objects_attributes_and_a_list_subclass_items_are_kept():
    buffer = unpickle(HistoryBuffer([3.0, 2.0]), {BUFFER: HistoryBuffer})
    assert type(buffer).source == BUFFER and mapping(buffer)["max_length"] == 1000000  # its __dict__ (BUILD)
    assert isinstance(mapping(buffer)["_log_history"], Inert)  # numpy arrays: placeholders too
    assert unpickle(Items([7]), {"mmengine.structures.Items": Items}).__dict__["values"] == [7]  # APPEND
    assert unpickle(Items([7, 8, 9]), {"mmengine.structures.Items": Items}).__dict__["values"] == [7, 8, 9]  # APPENDS
    assert mapping(7) == {} and mapping({"a": 1}) == {"a": 1}


def test_getattr_on_a_placeholder_class_names_the_attribute_under_its_owner():
    """mmengine pickles HistoryBuffer's statistics as getattr(HistoryBuffer, "min")."""
    method = Unpickler(io.BytesIO(_getattr_pickle())).load()
    assert method.source == f"{BUFFER}.min" and method.__name__ == "HistoryBuffer.min"


def _getattr_pickle() -> bytes:
    class Reduce:
        def __reduce__(self):
            return getattr, (HistoryBuffer, "min")

    with fake_modules({BUFFER: HistoryBuffer}):
        return pickle.dumps(Reduce(), protocol=2)


def test_torch_dtypes_resolve_and_same_named_globals_elsewhere_do_not():
    assert unpickle(torch.float16) is torch.float16 and unpickle({"d": torch.int8}) == {"d": torch.int8}
    numpy_float32 = Unpickler(io.BytesIO(b"cnumpy\nfloat32\n.")).load()  # protocol 0 GLOBAL opcode
    assert numpy_float32 is not torch.float32 and numpy_float32.source == "numpy.float32"
    for raw, named in ((b"ctorch\nload\n.", "torch.load"), (b"cos\nfloat32\n.", "os.float32"),
                       (b"c__builtin__\nxrange\n.", "builtins.range")):  # Python 2 names, as pickle maps them
        with pytest.raises(CheckpointError, match=rf"^it references {named}, which could run code when loaded$"):
            Unpickler(io.BytesIO(raw)).load()


def test_a_framework_checkpoint_saved_on_a_gpu_loads_on_the_cpu(tmp_path):
    src = tmp_path / "gpu.pth"
    with fake_modules({BUFFER: HistoryBuffer}):
        torch.save({"state_dict": {"w": torch.arange(3.0)}, "message_hub": HistoryBuffer([1.0])}, src)
    obj = read_checkpoint(as_saved_on_cuda(src, tmp_path / "cuda.pth"))
    assert obj["state_dict"]["w"].device.type == "cpu" and obj["state_dict"]["w"].tolist() == [0.0, 1.0, 2.0]


def test_the_legacy_torch_format_goes_through_the_same_unpickler(tmp_path):
    path = tmp_path / "legacy.pth"
    with fake_modules({BUFFER: HistoryBuffer}):
        torch.save({"state_dict": {"w": torch.ones(2)}, "hub": HistoryBuffer([1.0])}, path, _use_new_zipfile_serialization=False)
    obj = read_checkpoint(path)
    assert obj["state_dict"]["w"].tolist() == [1.0, 1.0] and type(obj["hub"]).source == BUFFER
