"""`param fmt` and `param lint` over a folder of real `.param` files, against ncnn itself.

For each file: does ncnn load it (`Net.load_param_mem`), does our parser take it, and does the canonical
text that `fmt` writes load in ncnn with the same layers, wiring and blob names? Prints one line per file
that differs, then the totals and the time our parse + format + lint took over the whole folder.

    python benchmarks/param_corpus.py /path/to/params   # e.g. the .param files of Tencent/ncnn's repo
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ncnn

from ssd2ncnn.errors import ParamError
from ssd2ncnn.ncnn_format import format_param, lint_param, parse_param


def _ncnn(text: str) -> tuple | None:
    """(layers, blob names) as ncnn loaded them, or None when it refuses the text."""
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    if net.load_param_mem(text) != 0:
        return None
    layers = [(la.type, la.name, list(la.bottoms), list(la.tops)) for la in net.layers()]
    return layers, [b.name for b in net.blobs() if b.name]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    files = sorted(ap.parse_args().folder.rglob("*.param"))
    counts = {"files": len(files), "ncnn loads": 0, "we write": 0, "fmt loads the same": 0}
    ours_s = 0.0
    for path in files:
        text = path.read_text(errors="replace")
        loaded = _ncnn(text)
        t0 = time.perf_counter()
        note = ""
        try:
            written: str | None = format_param(parse_param(text, str(path)))
            problem = ""
        except ParamError as exc:
            written, problem = None, str(exc)
            if "--drop-unloaded" in problem:  # what `param fmt --drop-unloaded` writes
                written, note = format_param(parse_param(text, str(path), drop_unloaded=True)), " (--drop-unloaded)"
        findings = lint_param(text, str(path))
        ours_s += time.perf_counter() - t0
        same = written is not None and loaded is not None and _ncnn(written) == loaded
        counts["ncnn loads"] += loaded is not None
        counts["we write"] += written is not None
        counts["fmt loads the same"] += same
        if note:
            print(f"{path.name}: refused by default ({problem.split(': ', 1)[1]}); with --drop-unloaded "
                  f"{'loads the same' if same else 'loads differently'}")
        elif (loaded is not None) != (written is not None) or (loaded is not None and not same):
            verdict = "ncnn loads, we refuse: " + problem if written is None else (
                "we parse, ncnn refuses" if loaded is None else "fmt output loads differently")
            print(f"{path.name}: {verdict}")
        elif findings:
            print(f"{path.name}: {len(findings)} lint finding(s): {sorted({f.code for f in findings})}")
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))
    print(f"parse + fmt + lint of all {len(files)} files: {ours_s:.2f} s")


if __name__ == "__main__":
    main()
