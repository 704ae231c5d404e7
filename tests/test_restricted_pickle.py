"""Checkpoints with training-framework objects load without running pickled code
(ssd2ncnn/importers/restricted_pickle.py); checkpoints whose pickle would run code are still refused."""

from __future__ import annotations

import builtins
import os
import subprocess

import numpy as np
import pytest
import torch
from mmdet_helpers import GOLDEN, ConfigDict, HistoryBuffer, fake_modules

from ssd2ncnn.checkpoint import read_checkpoint
from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.importers.restricted_pickle import Inert, mapping


def _save_with_fakes(path, payload) -> None:
    with fake_modules({"mmengine.logging.history_buffer.HistoryBuffer": HistoryBuffer, "mmengine.config.config.ConfigDict": ConfigDict}):
        torch.save(payload, path)


def test_mmengine_objects_become_inert_and_tensors_stay(tmp_path):
    path = tmp_path / "ckpt.pth"
    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    cfg = ConfigDict(model=ConfigDict(type="SingleStageDetector"), classes=("cat", "dog"))
    _save_with_fakes(path, {"state_dict": {"w": weight}, "meta": {"cfg": cfg, "best": np.float64(0.5)},
                            "message_hub": {"log_scalars": {"loss": HistoryBuffer([3.0, 2.0])}}})
    with pytest.raises(Exception, match="mmengine"):  # what the user meets without ssd2ncnn's fallback
        torch.load(path, weights_only=True)
    obj = read_checkpoint(path)
    assert torch.equal(obj["state_dict"]["w"], weight)
    buffer = obj["message_hub"]["log_scalars"]["loss"]
    assert isinstance(buffer, Inert) and buffer.source == "mmengine.logging.history_buffer.HistoryBuffer"
    assert isinstance(obj["meta"]["best"], Inert)  # numpy scalars too: nothing of numpy's is called
    assert mapping(obj["meta"]["cfg"])["classes"] == ("cat", "dog")  # a ConfigDict's items are kept
    assert mapping(mapping(obj["meta"]["cfg"])["model"]) == {"type": "SingleStageDetector"}


def test_real_mmengine_checkpoint_meta_reads(tmp_path):
    """meta + message_hub as mmengine 0.10.7 itself pickled them (scripts/make_mmdet_golden.py)."""
    path = GOLDEN / "mmdet-custom3" / "mmengine_meta.pth"
    with pytest.raises(Exception, match="HistoryBuffer"):
        torch.load(path, weights_only=True)
    obj = read_checkpoint(path)
    assert obj["meta"]["dataset_meta"]["classes"] == ("cat", "traffic light", "dog")
    hub = obj["message_hub"]["log_scalars"]
    assert {type(v).__name__ for v in hub.values()} == {"HistoryBuffer"} and all(isinstance(v, Inert) for v in hub.values())


class _Call:
    """A pickle whose loading calls `func(*args)`."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("make", [
    lambda marker: _Call(os.system, f"touch {marker}"),
    lambda marker: _Call(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
    lambda marker: _Call(subprocess.call, ["touch", str(marker)]),
    lambda marker: _Call(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
])
def test_pickle_that_runs_code_is_refused_and_does_not_run(tmp_path, make):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    _save_with_fakes(path, {"state_dict": {"w": torch.zeros(1)}, "message_hub": {"x": HistoryBuffer([1.0])}, "meta": make(marker)})
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    msg = str(info.value)
    assert "\n" not in msg and "could run code" in msg and "state_dict" in msg
    assert not marker.exists()


def test_a_framework_function_called_by_the_pickle_only_records_its_arguments(tmp_path):
    """A name under an inert framework is never imported, even when the pickle calls it."""
    def load(path):  # stands for a framework function with side effects
        raise AssertionError("called")

    path = tmp_path / "call.pth"
    with fake_modules({"mmengine.fileio.io.load": load}):
        torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": _Call(load, "/etc/passwd")}, path)
    obj = read_checkpoint(path)
    assert isinstance(obj["meta"], Inert) and obj["meta"].__dict__["args"] == ("/etc/passwd",)


def test_unknown_module_is_refused(tmp_path):
    class Thing:
        pass

    path = tmp_path / "other.pth"
    with fake_modules({"someproject.models.Thing": Thing}):
        torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": Thing()}, path)
    with pytest.raises(CheckpointError, match="someproject.models.Thing"):
        read_checkpoint(path)


def test_getattr_reaches_only_inert_objects(tmp_path):
    """getattr on an allowed real object is the way to its __globals__ and from there to builtins."""
    import copyreg

    path = tmp_path / "gadget.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": _Call(getattr, copyreg._reconstructor, "__globals__")}, path)
    with pytest.raises(CheckpointError, match="attribute '__globals__' of a function"):
        read_checkpoint(path)
