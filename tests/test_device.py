"""Device placement, checked without a GPU. The first-epoch crash on CUDA was a CPU tensor made inside
`feature_sizes` and fed to CUDA weights; a model on the `meta` device fails the same way on any machine
(a CPU input against meta weights), so these tests would have caught it. A source scan adds the rule for
code that no test runs on a device: tensor factories in model/ and train/ name their device."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import ssd2ncnn
from ssd2ncnn.config import get_preset
from ssd2ncnn.model.ssdlite import SSDLite
from ssd2ncnn.train.evaluate import model_priors

FACTORIES = {"zeros", "ones", "empty", "full", "arange", "linspace", "rand", "randn", "randint", "eye", "tensor", "as_tensor"}
# Lines where a factory without a device is right: CPU-side data code whose tensors are moved later.
ALLOWED = {("train/data.py", "tensor")}


def _meta_model(preset: str) -> SSDLite:
    with torch.device("meta"):
        return SSDLite(get_preset(preset, width_mult=0.25))


@pytest.mark.slow  # builds full-width models
@pytest.mark.parametrize("preset", ["voc300", "ssdlite320"])
def test_feature_sizes_follow_the_model_device(preset):
    model = _meta_model(preset)
    cpu = SSDLite(get_preset(preset, width_mult=0.25))
    size = model.cfg.input_size
    assert model.feature_sizes(size, size) == cpu.feature_sizes(size, size)
    assert torch.equal(model_priors(model), model_priors(cpu))  # priors are device-free constants


def test_forward_on_meta_model_stays_on_meta():
    model = _meta_model("ssdlite320").eval()
    locs, confs = model(torch.zeros(2, 3, 320, 320, device="meta"))
    assert all(t.device.type == "meta" for t in locs + confs)


def _factory_calls_without_device(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        f = node.func
        if not (isinstance(f.value, ast.Name) and f.value.id == "torch" and f.attr in FACTORIES):
            continue
        if any(k.arg in ("device", "out") for k in node.keywords):
            continue
        yield node.lineno, f.attr


def test_tensor_factories_in_model_and_train_name_a_device():
    root = Path(ssd2ncnn.__file__).parent
    found = []
    for sub in ("model", "train"):
        for path in sorted((root / sub).glob("*.py")):
            rel = f"{sub}/{path.name}"
            for line, name in _factory_calls_without_device(path):
                if (rel, name) not in ALLOWED:
                    found.append(f"{rel}:{line} torch.{name}(...) without device=")
    assert not found, "tensor factories that ignore the model's device:\n" + "\n".join(found)


def test_scan_finds_the_original_bug(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nx = torch.zeros(1, 3, 8, 8)\ny = torch.zeros(1, device=d)\n")
    assert list(_factory_calls_without_device(bad)) == [(2, "zeros")]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without CUDA gives")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_device_without_cuda_is_a_one_line_error(name):
    from ssd2ncnn.errors import InputError
    from ssd2ncnn.train.distributed import resolve_device

    with pytest.raises(InputError, match="sees no CUDA GPU"):
        resolve_device(name)


def test_device_names_are_checked():
    from ssd2ncnn.errors import InputError
    from ssd2ncnn.train.distributed import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError, match="not a device name"):
        resolve_device("gpu0")
    for name in ("meta", "mps"):  # torch device names this project does not train or evaluate on
        with pytest.raises(InputError, match="only cpu and cuda"):
            resolve_device(name)
