"""Installed from a wheel, ssd2ncnn finds its shipped files (the demo checkpoint and images, the
reference params) through importlib.resources, and `ssd2ncnn demo` runs on them. The wheel is built with
`pip wheel --no-deps` and unpacked with `pip install --no-deps --target`, then imported from outside the
clone so nothing can come from the source tree."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # builds a wheel (and the last test runs the demo)

SHIPPED = {
    "ssd2ncnn/assets/demo/shapes_ssdlite.pth",
    "ssd2ncnn/assets/demo/images/shapes_seed1000_000000.jpg",
    "ssd2ncnn/assets/reference/mobilenetv3_ssdlite_voc.param",
    "ssd2ncnn/py.typed",  # PEP 561: type checkers read the API's hints (docs/api.md)
}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    # build from a copy: setuptools leaves build/ and *.egg-info in the source tree, and a stale build/lib
    # would put files deleted since into later wheels
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "fixtures"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "-q", str(src), "-w", str(tmp / "dist")],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("ssd2ncnn-*.whl")
    assert SHIPPED <= set(zipfile.ZipFile(wheel).namelist())
    target = tmp / "site"
    done = subprocess.run([*pip, "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return target


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})


def test_installed_package_finds_its_files(installed: Path, tmp_path: Path) -> None:
    probe = ("import json, ssd2ncnn, ssd2ncnn.assets as a; print(json.dumps([ssd2ncnn.__file__, str(a.DEMO_CHECKPOINT), "
             "a.DEMO_CHECKPOINT.is_file(), len(list(a.DEMO_IMAGES.glob('*.jpg'))), a.reference_param().is_file()]))")
    res = _run(installed, tmp_path, "-c", probe)
    assert res.returncode == 0, res.stderr
    module, ckpt, has_ckpt, n_images, has_ref = json.loads(res.stdout)
    assert module.startswith(str(installed)) and ckpt.startswith(str(installed))
    assert has_ckpt and n_images == 3 and has_ref


def test_demo_runs_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    res = _run(installed, tmp_path, "-m", "ssd2ncnn", "demo", "-o", "out")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "PASSED" in res.stdout and (tmp_path / "out" / "model" / "model.param").is_file()
