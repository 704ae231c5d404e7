"""The Python API (docs/api.md): `import ssd2ncnn` stays light, the names resolve lazily, bad input raises
the project's exceptions, every example in docs/api.md runs, and an in-memory torchvision-layout module
converts to what its checkpoint file converts to."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ssd2ncnn
from ssd2ncnn.assets import DEMO_CHECKPOINT, DEMO_IMAGES

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "onnx", "onnxruntime", "ncnn", "numpy", "PIL", "pnnx")


def test_import_is_light_and_fast():
    code = ("import sys, time; t = time.perf_counter(); import ssd2ncnn; dt = time.perf_counter() - t; "
            f"import json; print(json.dumps([dt, [m for m in {HEAVY!r} if m in sys.modules], sorted(ssd2ncnn.__all__)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    seconds, loaded, names = json.loads(out.stdout)
    assert loaded == []
    assert seconds < 0.5  # measured ~0.015 s; torch alone takes over 1 s
    assert {"convert", "verify", "check", "quantize", "Detector", "Detection", "ModelFolder", "InputError"} <= set(names)


def test_every_public_name_resolves_and_the_api_functions_win_over_subpackages():
    import ssd2ncnn.quantize.folder  # noqa: F401  (imports the subpackages of the same names)
    import ssd2ncnn.verify.parity  # noqa: F401

    for name in ssd2ncnn.__all__:
        assert getattr(ssd2ncnn, name) is not None
    assert callable(ssd2ncnn.verify) and ssd2ncnn.verify.__module__ == "ssd2ncnn.api"
    assert callable(ssd2ncnn.quantize) and ssd2ncnn.quantize.__module__ == "ssd2ncnn.api"
    assert ssd2ncnn.Detector.__module__ == "ssd2ncnn.runtime.detector"
    assert issubclass(ssd2ncnn.FilesFailed, ssd2ncnn.Ssd2NcnnError) and ssd2ncnn.FilesFailed.exit_code == 1
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ssd2ncnn.nope  # noqa: B018
    assert (REPO / "ssd2ncnn" / "py.typed").is_file()


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda t: ssd2ncnn.convert(DEMO_CHECKPOINT, t / "o", input_size=8), "input_size must be an integer >= 32"),
        (lambda t: ssd2ncnn.convert(DEMO_CHECKPOINT, t / "o", input_size=True), "input_size must be an integer"),
        (lambda t: ssd2ncnn.convert(t / "missing.pth", t / "o"), "does not exist"),
        (lambda t: ssd2ncnn.convert(42, t / "o"), "expected a checkpoint path or a torch.nn.Module, got a int"),
        (lambda t: ssd2ncnn.convert(torch.nn.Linear(2, 2), t / "o"), "bare state dict"),
        (lambda t: ssd2ncnn.verify(DEMO_CHECKPOINT, t, sizes=[300, 16]), "each size must be an integer >= 32"),
        (lambda t: ssd2ncnn.verify(DEMO_CHECKPOINT, t, sizes=[]), "sizes is empty"),
        (lambda t: ssd2ncnn.verify(DEMO_CHECKPOINT, t, num_images=0), "num_images must be a positive integer"),
        (lambda t: ssd2ncnn.verify(DEMO_CHECKPOINT, t), "model.json"),
        (lambda t: ssd2ncnn.Detector(t), "model.json"),
        (lambda t: ssd2ncnn.check(t / "none"), "does not exist|model.json"),
        # keywords are checked, not converted: bool("false") is True, float("0.5") hides a caller's mistake
        (lambda t: ssd2ncnn.convert(DEMO_CHECKPOINT, t / "o", fp16="false"), "fp16 must be True or False"),
        (lambda t: ssd2ncnn.convert(DEMO_CHECKPOINT, t / "o", force=1), "force must be True or False"),
        (lambda t: ssd2ncnn.convert(DEMO_CHECKPOINT, t / "o", width_mult="0.5"), "width_mult must be a number"),
        (lambda t: ssd2ncnn.convert(DEMO_CHECKPOINT, t / "o", num_classes=True), "num_classes must be an integer"),
        (lambda t: ssd2ncnn.convert(DEMO_CHECKPOINT, t / "o", resolution="320"), "resolution must be an integer"),
        (lambda t: ssd2ncnn.verify(DEMO_CHECKPOINT, t, use_onnx="no"), "use_onnx must be True or False"),
        (lambda t: ssd2ncnn.quantize(t, t, t / "o", requantize="false"), "requantize must be True or False"),
    ],
)
def test_bad_input_raises_input_errors_and_writes_nothing(tmp_path, call, pattern):
    with pytest.raises(ssd2ncnn.InputError, match=pattern):
        call(tmp_path)
    assert not (tmp_path / "o").exists()


def _run_doc_examples(folder: Path) -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "api.md").read_text(), re.S)
    assert len(blocks) >= 5
    namespace: dict = {}
    for k, block in enumerate(blocks):
        exec(compile(block, f"docs/api.md example {k + 1}", "exec"), namespace)  # noqa: S102
    return blocks


@pytest.mark.slow
def test_every_example_in_the_api_doc_runs(tmp_path, monkeypatch, capsys):
    shutil.copy(DEMO_CHECKPOINT, tmp_path / "model.pth")
    shutil.copytree(DEMO_IMAGES, tmp_path / "photos")
    shutil.copy(sorted(DEMO_IMAGES.iterdir())[2], tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    _run_doc_examples(tmp_path)
    printed = capsys.readouterr().out
    assert "passed: " in printed and "int8 convolutions" in printed
    assert "got a uint8 array of shape (4, 4)" in printed
    for name in ("out", "out-memory", "out-int8"):
        assert json.loads((tmp_path / name / "model.json").read_text())["class_names"][0] == "background"
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")


def _torchvision_like(sd: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A module with exactly torchvision's state-dict keys and tensors, built as nested modules (what a
    torchvision SSD instance is, to `state_dict()`), without needing torchvision here."""
    root = torch.nn.Module()
    for key, value in sd.items():
        *path, leaf = key.split(".")
        node = root
        for part in path:
            if not hasattr(node, part):
                node.add_module(part, torch.nn.Module())
            node = getattr(node, part)
        if value.is_floating_point() and not leaf.startswith("running_"):
            node.register_parameter(leaf, torch.nn.Parameter(value.clone()))
        else:
            node.register_buffer(leaf, value.clone())
    return root


@pytest.mark.slow  # reads a full-width torchvision network twice
def test_an_in_memory_torchvision_module_loads_like_its_checkpoint(tmp_path):
    """What `convert`/`verify` do with a module: the network read from it equals the one read from the same
    weights saved as torchvision saves them (that path's conversion is proven in test_torchvision_golden)."""
    from torchvision_helpers import GOLDEN, state_dict

    from ssd2ncnn.api import load_source

    folder = GOLDEN / "torchvision-finetune3"
    sd = state_dict(folder, json.loads((folder / "golden.json").read_text()))
    torch.save(sd, tmp_path / "model.pth")
    module = _torchvision_like(sd)
    assert set(module.state_dict()) == set(sd) and module.training
    from_file, from_module = load_source(tmp_path / "model.pth"), load_source(module)
    assert from_module.cfg == from_file.cfg and from_module.cfg.arch.startswith("torchvision")
    mine, theirs = from_module.state_dict(), from_file.state_dict()
    assert set(mine) == set(theirs) and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert module.training  # the caller's module is not changed
    with pytest.raises(ssd2ncnn.CheckpointError, match="not seed"):
        load_source(from_module, source_format="seed")  # ours, not the seed's: said, not guessed
