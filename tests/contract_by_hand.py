"""A model folder whose network is the SSD tail alone: the heads are MemoryData layers holding crafted
maps (1 x 1 per level), so what ncnn's PriorBox, Softmax and DetectionOutput make of them, and what
`detect` prints, can be worked out by hand. No conversion: built in milliseconds, run by real ncnn.

Shared by tests/test_contract_by_hand.py and tests/test_check_by_hand.py."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ssd2ncnn.config import SSDConfig
from ssd2ncnn.converter.convert import model_info
from ssd2ncnn.modelfolder import BIN, PARAM, head_names, write_info
from ssd2ncnn.ncnn_format import format_param, parse_param
from ssd2ncnn.patches import run_passes

LN2 = math.log(2.0)


def head_maps(cfg: SSDConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(loc maps, conf maps), each (channels, 1, 1): zero box offsets, and every prior's background logit
    at 20, so no prior scores above any threshold until a test raises one."""
    locs, confs = [], []
    for k in range(cfg.num_levels):
        a = cfg.priors_per_cell(k)
        locs.append(np.zeros((a * 4, 1, 1), np.float32))
        conf = np.zeros((a, cfg.num_classes), np.float32)
        conf[:, 0] = 20.0
        confs.append(conf.reshape(-1, 1, 1))
    return locs, confs


def tail_graph_text(locs: list[np.ndarray], confs: list[np.ndarray]) -> str:
    """What the backend hands the passes, with MemoryData for the network: `input`, then loc0.., conf0.."""
    maps = locs + confs
    lines = ["7767517", f"{len(maps) + 1} {len(maps) + 1}", "Input input 0 1 input"]
    lines += [f"MemoryData head{i} 0 1 {name} 0={m.shape[2]} 1={m.shape[1]} 2={m.shape[0]}"
              for i, (name, m) in enumerate(zip(head_names(len(locs)), maps, strict=True))]
    return "\n".join(lines) + "\n"


def tail_folder(folder: Path, cfg: SSDConfig, locs: list[np.ndarray], confs: list[np.ndarray]) -> Path:
    """OUT/ with model.param (convert's passes on the tail), model.bin (the maps, MemoryData's raw float32
    in layer order) and model.json as convert writes it."""
    graph = parse_param(tail_graph_text(locs, confs))
    run_passes(graph, cfg)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PARAM).write_text(format_param(graph))
    (folder / BIN).write_bytes(b"".join(np.ascontiguousarray(m, np.float32).tobytes() for m in locs + confs))
    write_info(folder, model_info(SimpleNamespace(cfg=cfg), cfg.input_size, False, True))  # type: ignore[arg-type]
    return folder
