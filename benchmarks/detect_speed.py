"""detect's speed against the floor, and its memory at two image counts (issue #20.4).

    .venv/bin/python benchmarks/detect_speed.py [--n 1000] [--threads 2] [--model OUT/]

Makes N synthetic 480-640 px JPEGs (seeded), converts the bundled demo checkpoint (unless --model), then:
- floor: one Python loop of Pillow decode + ncnn's from_pixels_resize/substract_mean_normalize + extract
  detection_out, in a fresh torch-free process like detect's (timed inside the loop: no startup, no checks,
  no output);
- `detect --json`, `detect -o` (drawn JPEGs, the default for JPEG input) and `detect -o --format png`,
  each as the user runs it (a subprocess: its wall time includes Python's and ncnn's startup, printed
  apart, and img/s is given both raw and without that startup);
- peak RSS of `detect -o` at N and N/4: flat when memory does not grow with the number of images.

Goals: --json >= 0.9x the floor, -o >= 0.5x --json. Numbers are wall-clock on whatever else the machine
is doing: the load average is printed. Nothing here is a pass/fail test."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def make_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """Noise and filled shapes, 480-640 px wide, 4:3 or 3:4, JPEG quality 90."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        w = int(rng.integers(480, 641))
        h = int(w * (0.75 if k % 2 else 1.333)) // 2 * 2
        base = rng.integers(60, 200, size=(h // 8, w // 8, 3), dtype=np.uint8)
        im = Image.fromarray(base).resize((w, h), Image.BILINEAR)
        draw = ImageDraw.Draw(im)
        for _ in range(4):
            x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
            box = (x0, y0, x0 + int(rng.integers(40, w // 2)), y0 + int(rng.integers(40, h // 2)))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        path = folder / f"im{k:05d}.jpg"
        im.save(path, quality=90)
        paths.append(path)
    return paths


def floor_loop(model: Path, paths: list[Path], threads: int) -> float:
    """img/s of the bare loop: decode, ncnn pre-processing, extract (in this process: see `floor_process`)."""
    import ncnn

    from ssd2ncnn.modelfolder import read_info

    info = read_info(model)
    net = ncnn.Net()
    net.opt.num_threads = threads
    net.opt.use_vulkan_compute = False
    net.load_param(str(model / "model.param"))
    net.load_model(str(model / "model.bin"))
    s = info.input_size
    kind = ncnn.Mat.PixelType.PIXEL_RGB if info.rgb else ncnn.Mat.PixelType.PIXEL_RGB2BGR
    mean, norm = list(map(float, info.mean_vals)), list(map(float, info.norm_vals))
    t0 = 0.0
    for k, p in enumerate(paths):
        rgb = np.asarray(Image.open(p).convert("RGB"))
        mat = ncnn.Mat.from_pixels_resize(rgb, kind, rgb.shape[1], rgb.shape[0], s, s)
        mat.substract_mean_normalize(mean, norm)
        ex = net.create_extractor()
        ex.input("input", mat)
        ex.extract("detection_out")
        if k == 0:  # timed from the first image's result, as detect's runs are (`_WRAP`)
            t0 = time.perf_counter()
    return (len(paths) - 1) / (time.perf_counter() - t0)


def floor_process(model: Path, folder: Path, threads: int) -> float:
    """`floor_loop` in a fresh process that imports what `detect` imports and no more. This process has
    imported torch (to convert the demo model), and the same loop ran about 10% faster beside torch here
    (144-160 against 133-141 img/s in three paired runs): the floor must run where `detect` runs."""
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import detect_speed as d; "
            "print(d.floor_loop(Path(sys.argv[2]), sorted(Path(sys.argv[3]).glob('*.jpg')), int(sys.argv[4])))")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(model), str(folder), str(threads)],
                         check=True, capture_output=True, text=True, env=env).stdout
    return float(out.strip().splitlines()[-1])


# ru_maxrss of a child counts the parent's memory at fork (kept across exec), so the child reports its own
# high-water mark (VmHWM, reset by exec) at exit. It also reports when its first file's record was ready and
# when it exited: the images after the first, over that time, is its speed without start-up (imports, model
# load, first image), measured in the run itself; subtracting a separately timed start-up was as noisy as
# the start-up (0.3-1.9 s here under load) and once gave 1.5x the floor.
_WRAP = """import atexit, os, sys, time
import ssd2ncnn.runtime.detect_files as files
first = []
def _timed(*args, **kwargs):
    for record in _detect_files(*args, **kwargs):
        first or first.append(time.perf_counter())
        yield record
_detect_files, files.detect_files = files.detect_files, _timed  # before commands.detect imports it
def _report():
    end = time.perf_counter()
    with open('/proc/self/status') as f, open(os.environ['SSD2NCNN_HWM'], 'w') as out:
        hwm = next(line.split()[1] for line in f if line.startswith('VmHWM'))
        out.write(f"{hwm} {end - first[0] if first else 0.0}")
atexit.register(_report)
from ssd2ncnn.cli import main
sys.argv = ['ssd2ncnn', *sys.argv[1:]]
main()
"""


def run_detect(args: list[str]) -> tuple[float, float, int]:
    """(seconds in all, seconds from the first file's record to exit, peak RSS in MB) of
    `ssd2ncnn detect ARGS` in a fresh process, stdout discarded."""
    with tempfile.NamedTemporaryFile(suffix=".hwm") as hwm:
        env = {**os.environ, "PYTHONPATH": str(REPO), "SSD2NCNN_HWM": hwm.name}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _WRAP, "detect", *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=env, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"detect {' '.join(args)} failed: {proc.stderr[-500:]}")
        kb, after_first = Path(hwm.name).read_text().split()
        return seconds, float(after_first), int(kb) // 1024


def model_folder(work: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    from ssd2ncnn import convert
    from ssd2ncnn.assets import DEMO_CHECKPOINT

    return convert(DEMO_CHECKPOINT, work / "model").path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="images (memory is also measured at n/4)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="rounds of floor and detect, interleaved (medians)")
    ap.add_argument("--model", type=Path, default=None, help="a converted folder (default: the bundled demo model)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ssd2ncnn-detect-speed-") as tmp:
        work = Path(tmp)
        model = model_folder(work, a.model)
        paths = make_images(work / "images", a.n)
        folder, t = str(work / "images"), str(a.threads)
        print(f"{a.n} images, model {model}, {a.threads} threads; {load()}")
        start = statistics.median(run_detect([str(model), str(paths[0]), "--json", "--threads", t])[0] for _ in range(3))
        print(f"start-up (detect on 1 image, median of 3): {start:.2f} s")
        # floor and detect interleaved, `--repeat` rounds, medians: on a shared machine the speed drifts by
        # 30% within a minute, and one floor against one detect run measured the drift, not the code
        runs = {"floor loop": ([], None), "detect --json": ([], ["--json"]),
                "detect -o (jpeg)": ([], ["-o", str(work / "drawn")])}
        rss = {}
        for r in range(a.repeat):
            for name, (speeds, extra) in runs.items():
                if extra is None:
                    speeds.append(floor_process(model, work / "images", a.threads))
                    continue
                _, after_first, rss[name] = run_detect([str(model), folder, "--threads", t, *extra])
                speeds.append((a.n - 1) / after_first)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[0][-1]:.1f}" for k, v in runs.items()) + f" img/s ({load()})")
        few = [str(p) for p in paths[: max(1, a.n // 10)]]  # PNG is ~10x slower: a tenth of the images shows it
        _, after_first, _ = run_detect([str(model), *few, "--threads", t, "-o", str(work / "png"), "--format", "png"])
        print(f"detect -o --format png      {(len(few) - 1) / after_first:7.1f} img/s ({len(few)} images, once)")
        med = {name: statistics.median(speeds) for name, (speeds, _) in runs.items()}
        for name, speed in med.items():
            extra = f"; peak RSS {rss[name]} MB" if name in rss else ""
            print(f"{name:<26} {speed:7.1f} img/s (median of {len(runs[name][0])}, without start-up){extra}")
        # ratios within a round (the same minute of machine load), then their median
        floor, js, drawn = (runs[k][0] for k in ("floor loop", "detect --json", "detect -o (jpeg)"))
        js_floor = [j / f for j, f in zip(js, floor, strict=True)]
        drawn_js = [d / j for d, j in zip(drawn, js, strict=True)]
        print("--json / floor per round: " + ", ".join(f"{r:.2f}" for r in js_floor)
              + f"; median {statistics.median(js_floor):.2f} (goal >= 0.9)")
        print("-o / --json per round:    " + ", ".join(f"{r:.2f}" for r in drawn_js)
              + f"; median {statistics.median(drawn_js):.2f} (goal >= 0.5)")
        quarter = [str(p) for p in paths[: max(1, a.n // 4)]]
        _, _, rss_small = run_detect([str(model), *quarter, "--threads", t, "-o", str(work / "drawn-q")])
        print(f"peak RSS of detect -o: {rss_small} MB at {len(quarter)} images, {rss['detect -o (jpeg)']} MB at {a.n} images")


if __name__ == "__main__":
    main()
