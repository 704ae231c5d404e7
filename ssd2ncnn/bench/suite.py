"""`bench` as a library: build the engines for each (threads, size) configuration, time them in one
process in rotating blocks, probe peak memory in subprocesses, and return one JSON-able dict."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from ..config import SSDConfig
from ..errors import InputError
from .engines import Engine, ncnn_engine, ort_engine, torch_engine
from .inputs import preprocess, synthetic_image
from .runner import effective_block, ratio_summary, summarize, time_blocks
from .seed_graph import prepare_structure, structure_specs

NET_BLOBS = ("mbox_loc", "mbox_conf_flatten", "mbox_priorbox")
SEED_PARAM_NAME = "mobilenetv3_ssdlite_voc.param"


def read_meta(out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError(f"model folder {out_dir} does not exist; pass the -o folder of `ssd2ncnn convert`")
    mj = out_dir / "model.json"
    for name in ("model.param", "model.bin", "model.json"):
        if not (out_dir / name).is_file():
            raise InputError(f"{out_dir} has no {name}; pass the -o folder of `ssd2ncnn convert` (or `quantize`)")
    try:
        return json.loads(mj.read_text())
    except ValueError as exc:
        raise InputError(f"{mj} is not valid JSON ({exc}); re-run convert") from None


def default_seed_param() -> Path | None:
    here = Path(__file__).resolve().parents[2]
    for cand in (here / "tests" / "data" / "reference" / SEED_PARAM_NAME, Path("/work/shared/reference") / SEED_PARAM_NAME):
        if cand.is_file():
            return cand
    return None


def parse_int_list(text: str, what: str, minimum: int = 1) -> list[int]:
    """'1,2' -> [1, 2]; anything else is an InputError naming the option."""
    try:
        vals = [int(t) for t in str(text).split(",") if t.strip() != ""]
    except ValueError:
        raise InputError(f"{what} must be a comma-separated list of integers, e.g. 1,2; got {text!r}") from None
    if not vals or any(v < minimum for v in vals):
        raise InputError(f"{what} must list integers >= {minimum}, e.g. 1,2; got {text!r}")
    return list(dict.fromkeys(vals))


def make_input(meta: dict, size: int):
    return preprocess(synthetic_image(size), meta, size)


def build_engine(spec: dict) -> Engine:
    """An engine from a JSON-able spec (the memory probe rebuilds engines from the same specs)."""
    kind = spec["kind"]
    name = spec.get("name", kind)
    size, threads = int(spec["size"]), int(spec["threads"])
    # every kind but ncnn-empty reads its model folder; ncnn-empty only needs meta (input size, mean/norm)
    out = Path(spec.get("out_dir") or ".")
    meta = spec.get("meta") or read_meta(out)
    x = make_input(meta, size)
    if kind in ("ncnn", "ncnn-net"):
        outputs = ("detection_out",) if kind == "ncnn" else NET_BLOBS
        return ncnn_engine(name, out / "model.param", out / "model.bin", x, threads, spec.get("options"), outputs)
    if kind == "ncnn-empty":
        return ncnn_engine(name, Path(spec["param"]), None, x, threads, spec.get("options"), ("detection_out",))
    if kind == "ncnn-files":  # a .param/.bin pair outside a model folder (the weighted seed graph)
        return ncnn_engine(name, Path(spec["param"]), Path(spec["bin"]), x, threads, spec.get("options"), ("detection_out",))
    cfg = SSDConfig.from_dict(meta["config"])
    if kind in ("onnxruntime", "onnxruntime-net"):
        return ort_engine(name, out / "model.onnx", cfg, x, threads, net_only=kind.endswith("-net"))
    if kind == "torch":
        return torch_engine(name, Path(spec["checkpoint"]), cfg, x, threads)
    raise ValueError(kind)


def machine_info() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "loadavg": list(load)}


def run_bench(
    out_dir: Path,
    threads: list[int],
    sizes: list[int] | None = None,
    runs: int = 30,
    checkpoint: Path | None = None,
    also: list[Path] | None = None,
    seed_param: Path | None | bool = None,
    options: dict | None = None,
    memory: bool = True,
    net_only: bool = True,
    block: int = 5,
    warmup: int = 3,
    pause_s: float = 0.15,
    log=None,
) -> dict:
    """Everything `ssd2ncnn bench` reports, as a dict (see docs/tuning.md for the keys)."""
    out_dir = Path(out_dir)
    meta = read_meta(out_dir)
    sizes = sizes or [int(meta["input_size"])]
    if runs < 1:
        raise InputError(f"--runs must be >= 1, got {runs}")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise InputError(f"--checkpoint {checkpoint} does not exist")
    also = [Path(a) for a in (also or [])]
    also_meta = {a: read_meta(a) for a in also}
    is_int8 = bool(meta.get("int8"))
    has_onnx = (out_dir / "model.onnx").is_file()
    opts = dict(meta.get("ncnn_options") or {}) if options is None else dict(options)
    skipped: dict[str, str] = {}
    if checkpoint is None:
        skipped["torch"] = "no --checkpoint given (the checkpoint is not in the model folder)"
    if not has_onnx:
        skipped["onnxruntime"] = f"{out_dir}/model.onnx missing"
    if seed_param is None:
        seed_param = default_seed_param()
    if seed_param is False:
        skipped["structure"] = "disabled"
    elif seed_param is None:
        skipped["structure"] = f"seed graph {SEED_PARAM_NAME} not found"
    elif is_int8:
        skipped["structure"] = "the model folder is int8; the structure comparison uses an fp32 graph"

    result: dict[str, Any] = {
        "format": "ssd2ncnn-bench", "version": 1,
        "model": {"dir": str(out_dir), "input_size": meta.get("input_size"), "int8": is_int8,
                  "width_mult": (meta.get("config") or {}).get("width_mult"),
                  "preset": (meta.get("config") or {}).get("preset")},
        "settings": {"runs": runs, "block": block, "warmup": warmup, "pause_s": pause_s, "ncnn_options": opts,
                     "threads": threads, "sizes": sizes, "input": "synthetic picture, model pre-processing"},
        "machine_before": machine_info(),
        "skipped": skipped,
        "configs": [],
    }
    common = {"out_dir": str(out_dir), "meta": meta, "options": opts}
    prep = prepare_structure(meta, out_dir, checkpoint, Path(str(seed_param))) if "structure" not in skipped else {}
    for size in sizes:
        for t in threads:
            specs: list[dict[str, Any]] = [dict(common, kind="ncnn", name="ncnn", size=size, threads=t)]
            for a in also:
                specs.append({"kind": "ncnn", "name": f"ncnn:{a.name}", "out_dir": str(a), "meta": also_meta[a],
                              "options": opts, "size": size, "threads": t})
            if has_onnx:
                specs.append(dict(common, kind="onnxruntime", name="onnxruntime", size=size, threads=t))
            if checkpoint is not None:
                specs.append(dict(common, kind="torch", name="torch", size=size, threads=t, checkpoint=str(checkpoint)))
            if net_only:
                specs.append(dict(common, kind="ncnn-net", name="ncnn-net", size=size, threads=t))
                if has_onnx:
                    specs.append(dict(common, kind="onnxruntime-net", name="onnxruntime-net", size=size, threads=t))
            if log:
                log(f"size {size}, {t} thread(s): {', '.join(s['name'] for s in specs)}")
            engines = [build_engine(s) for s in specs]
            t0 = time.perf_counter()
            samples = time_blocks(engines, runs, block, warmup, pause_s)
            stats = {name: summarize(v) for name, v in samples.items()}
            del engines
            structure = None
            if "structure" not in skipped:
                sspecs = structure_specs(common, out_dir, prep, size, t)
                sengines = [build_engine(s) for s in sspecs]
                ssamples = time_blocks(sengines, runs, block, warmup, pause_s)
                ss = {n: summarize(v) for n, v in ssamples.items()}
                del sengines
                spread = ratio_summary(ssamples[sspecs[1]["name"]], ssamples[sspecs[0]["name"]], effective_block(block, runs))
                structure = {"seed_param": str(seed_param), **{k: prep[k] for k in ("weights", "layers", "weights_note") if k in prep}, **ss,
                             "seed_over_ours": spread["ratio"] if spread else None, "seed_over_ours_spread": spread}
            pairs = [("ncnn", "onnxruntime"), ("ncnn", "torch"), ("ncnn-net", "onnxruntime-net")]
            pairs += [("ncnn", f"ncnn:{a.name}") for a in also]
            spreads = {f"{a}/{b}": ratio_summary(samples.get(a, []), samples.get(b, []), effective_block(block, runs)) for a, b in pairs}
            ratios = {k: (v["ratio"] if v else None) for k, v in spreads.items()}
            cfg_res = {"size": size, "threads": t, "engines": stats, "ratios": ratios, "ratio_spreads": spreads, "structure": structure,
                       "seconds": time.perf_counter() - t0}
            result["configs"].append(cfg_res)
        if memory:
            mem = {}
            for s in specs:  # the last thread count's specs at this size; memory uses threads[0]
                spec = {k: v for k, v in s.items() if k != "meta"}
                spec.update(threads=threads[0], runs=5)
                mem[s["name"]] = probe_memory(spec)
            for c in result["configs"]:
                if c["size"] == size:
                    for name, m in mem.items():
                        if name in c["engines"]:
                            c["engines"][name]["peak_rss_delta_mb"] = m.get("delta_mb")
                            if "error" in m:
                                c["engines"][name]["memory_error"] = m["error"]
    result["machine_after"] = machine_info()
    return result


def probe_memory(spec: dict) -> dict:
    from .memory import probe

    return probe(spec)
