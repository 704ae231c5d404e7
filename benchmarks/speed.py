"""Speed report: bench (ncnn vs onnxruntime vs PyTorch, seed graph structure comparison), the ncnn
tuning sweep, int8 (quantized here on synthetic calibration pictures) and the convert time, on a
full-width untrained ssdlite320 model made in a temporary folder, and on ssd2ncnn/assets/demo/*.pth if present.

    /work/venv/bin/python benchmarks/speed.py [--runs 30] [--threads 1,2] [--json out.json]

Numbers are wall-clock on whatever else the machine is doing: the load average is printed before and
after each part. Nothing here is a pass/fail test."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ssd2ncnn.bench.result_table import render  # noqa: E402
from ssd2ncnn.bench.suite import run_bench  # noqa: E402
from ssd2ncnn.bench.tuning import run_tuning  # noqa: E402
from ssd2ncnn.commands.list_option import IntList  # noqa: E402
from ssd2ncnn.data.synthetic import gradient_picture as synthetic_image  # noqa: E402

console = Console(width=130)


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def make_calib(folder: Path, n: int = 16) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(synthetic_image(360 + 8 * i, seed=1000 + i)).save(folder / f"c{i:02d}.jpg", quality=95)
    return folder


def tuning_table(res: dict) -> None:
    t = Table(title=f"ncnn options and graph forms, {res['size']} px, {res['threads']} thread(s), {res['runs']} runs")
    for c in ("variant", "median ms", "p90 ms", "vs default", "conf max|Δ|", "loc max rel Δ", "top10 score |Δ|", "box max|Δ|"):
        t.add_column(c, justify="left" if c == "variant" else "right")
    for name, v in res["variants"].items():
        p = v["parity"]
        if "median_ms" not in v:
            t.add_row(name, "failed", "", "", p.get("error", "")[:40], "", "", "")
            continue
        f = lambda x, fmt="{:.2g}": "-" if x is None else fmt.format(x)  # noqa: E731
        t.add_row(name, f"{v['median_ms']:.1f}", f"{v['p90_ms']:.1f}", f"{v['speedup_vs_default']:.2f}x",
                  f(p.get("conf_max_abs")), f(p.get("loc_max_rel")), f(p.get("top10_score_max_abs")), f(p.get("box_max_abs")))
    console.print(t)


def one_model(label: str, ckpt: Path, work: Path, args, report: dict) -> None:
    from ssd2ncnn.checkpoint import load_model
    from ssd2ncnn.converter.convert import convert_model
    from ssd2ncnn.quantize.folder import quantize_folder

    console.rule(f"{label}: {ckpt}")
    console.print(load())
    t0 = time.perf_counter()
    res = convert_model(load_model(ckpt), work / "out", force=True)
    t_conv = time.perf_counter() - t0
    stages = ", ".join(f"{s.name} {s.seconds:.2f}s" for s in res.stages)
    console.print(f"convert: {t_conv:.2f} s wall ({stages})")
    t0 = time.perf_counter()
    q = quantize_folder(work / "out", make_calib(work / "calib"), work / "int8", force=True)
    console.print(f"quantize: {time.perf_counter() - t0:.1f} s ({q['quantized']} int8 layers, {q['images']} images)")
    entry = {"convert_seconds": t_conv, "convert_stages": {s.name: s.seconds for s in res.stages}}
    threads = list(IntList().convert(args.threads, None, None))
    b = run_bench(work / "out", threads, None, args.runs, checkpoint=ckpt, also=[work / "int8"],
                  log=lambda m: console.print(m, style="dim"))
    render(b, console)
    entry["bench"] = b
    tunes = []
    for t in threads:
        tr = run_tuning(work / "out", int(b["model"]["input_size"]), t, runs=args.tune_runs, int8_dir=work / "int8",
                        log=lambda m: console.print(m, style="dim"))
        tuning_table(tr)
        tunes.append(tr)
    entry["tuning"] = tunes
    console.print(load())
    report[label] = entry


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--tune-runs", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    report: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="ssd2ncnn-speed-") as tmp:
        work = Path(tmp)
        import torch

        from ssd2ncnn.checkpoint import save_checkpoint
        from ssd2ncnn.config import get_preset
        from ssd2ncnn.model.ssdlite import SSDLite

        torch.manual_seed(0)
        ckpt = save_checkpoint(work / "full.pth", SSDLite(get_preset("ssdlite320")).eval(), meta={"trained": False})
        (work / "full").mkdir()
        one_model("ssdlite320 full width (untrained)", ckpt, work / "full", args, report)
        for i, fx in enumerate(sorted((REPO / "ssd2ncnn" / "assets" / "demo").glob("*.pth"))):
            d = work / f"fixture{i}"
            d.mkdir()
            one_model(f"fixture {fx.name}", fx, d, args, report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
