"""`detect`, `bench` and `check` of a model folder run with ncnn, numpy and Pillow alone: each runs in a subprocess
whose sitecustomize makes `import torch` (and onnx) fail, as on a machine where they are not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runtime_helpers import build_models, scene_image

from ssd2ncnn.runtime.detector import Detector

REPO = Path(__file__).resolve().parents[1]

BLOCKER = '''
import importlib.abc
import sys


class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "onnx", "onnxsim"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, _Blocked())
'''

# Runs one command module the way the CLI does, then fails if any blocked package got in some other way.
RUNNER = '''
import sys
from importlib import import_module

command = import_module("ssd2ncnn.commands." + sys.argv[1]).command
command.main(sys.argv[2:], prog_name="ssd2ncnn " + sys.argv[1], standalone_mode=False)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "onnx"))
assert not leaked, leaked
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_models(tmp_path_factory.getbasetemp() / "runtime-models")


@pytest.fixture()
def no_torch_env(tmp_path):
    site = tmp_path / "no-torch-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}


def _run(env, *args, code=RUNNER):
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


def test_the_blocker_blocks(no_torch_env):
    proc = _run(no_torch_env, code="import torch")
    assert proc.returncode != 0 and "blocked by the test" in proc.stderr


def test_detect_runs_without_torch(models, no_torch_env, tmp_path):
    image = tmp_path / "scene.png"
    scene_image(200, 150, seed=4).save(image)
    proc = _run(no_torch_env, "detect", models["real"], image, "--json", "--threshold", "0.3")
    assert proc.returncode == 0, proc.stderr
    (doc,) = json.loads(proc.stdout)
    expected = [d.to_dict() for d in Detector(models["real"]).detect(image, threshold=0.3)]
    assert expected and doc["detections"] == expected


def test_bench_of_a_folder_runs_without_torch(models, no_torch_env, tmp_path):
    report = tmp_path / "bench.json"
    proc = _run(no_torch_env, "bench", models["real"], "--threads", "1", "--runs", "2", "--block", "1",
                "--warmup", "0", "--no-structure", "--json", report)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(report.read_text())
    (config,) = res["configs"]
    assert set(config["engines"]) == {"ncnn", "ncnn-net"}
    assert all(e["median_ms"] > 0 for e in config["engines"].values()), config["engines"]
    assert "torch is not installed" in res["skipped"]["onnxruntime"]
    assert all("memory_error" not in e for e in config["engines"].values()), config["engines"]


def test_check_runs_without_torch(models, no_torch_env):
    proc = _run(no_torch_env, "check", models["real"])
    assert proc.returncode == 0, proc.stderr
    assert "priors at" in proc.stdout and "all checks passed" in proc.stdout


@pytest.mark.slow
def test_the_stdlib_only_tests_collect_and_run_without_torch(no_torch_env):
    """conftest.py imports torch only inside the helpers that need it, so the ncnn_format tests run on a
    machine without torch (they failed at collection when conftest imported it at the top)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_ncnn_ids.py"],
                          env=no_torch_env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and " passed" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
