"""bench: runs a tiny configuration and writes the expected JSON; bad input is one line, exit 2.
Nothing here asserts a speed: speed is measured by benchmarks/speed.py, which prints numbers."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ssd2ncnn.cli import cli

pytestmark = pytest.mark.slow  # converts, trains or runs processes: `pytest -m "not slow"` skips it

ENGINE_KEYS = {"runs", "median_ms", "p90_ms", "mean_ms", "min_ms", "max_ms", "throughput_fps"}


@pytest.fixture
def small_model(converted):
    """A width-0.5 spread ssdlite320 model (the session's shared conversion): (OUT folder, checkpoint)."""
    ckpt, out = converted("ssdlite320", 0.5)
    return out, ckpt


def _check_stats(s: dict, runs: int) -> None:
    assert ENGINE_KEYS <= set(s)
    assert s["runs"] == runs
    assert s["median_ms"] > 0 and s["p90_ms"] >= s["min_ms"] > 0 and s["throughput_fps"] > 0


def test_bench_tiny_json(small_model, tmp_path):
    out, ckpt = small_model
    j = tmp_path / "b.json"
    r = CliRunner().invoke(cli, ["bench", str(out), "--threads", "1", "--runs", "2", "--warmup", "1",
                                 "--sizes", "160", "--checkpoint", str(ckpt), "--json", str(j)])
    assert r.exit_code == 0, r.output
    res = json.loads(j.read_text())
    assert {"format", "model", "settings", "configs", "skipped", "machine_before", "machine_after"} <= set(res)
    assert len(res["configs"]) == 1
    c = res["configs"][0]
    assert c["threads"] == 1 and c["size"] == 160
    assert {"ncnn", "onnxruntime", "torch", "ncnn-net", "onnxruntime-net"} <= set(c["engines"])
    for s in c["engines"].values():
        _check_stats(s, 2)
        assert s["peak_rss_delta_mb"] is not None and s["peak_rss_delta_mb"] > 0
    assert c["ratios"]["ncnn/onnxruntime"] > 0 and c["ratios"]["ncnn/torch"] > 0
    st = c["structure"]
    _check_stats(st["ours-empty"], 2)
    _check_stats(st["seed-empty"], 2)
    assert st["seed_over_ours"] > 0
    spread = st["seed_over_ours_spread"]
    assert spread["rounds"] == 1 and spread["round_low"] == spread["round_high"]  # 2 runs = one block of 2
    assert c["ratio_spreads"]["ncnn/onnxruntime"]["ratio"] == c["ratios"]["ncnn/onnxruntime"]
    assert "ncnn" in r.output and "median" in r.output


def test_bench_without_checkpoint_skips_torch(small_model):
    from ssd2ncnn.bench.suite import run_bench

    out, _ = small_model
    res = run_bench(out, [1], [128], runs=1, warmup=0, memory=False, seed_param=False, net_only=False)
    assert "torch" in res["skipped"] and "structure" in res["skipped"]
    assert set(res["configs"][0]["engines"]) == {"ncnn", "onnxruntime"}


@pytest.mark.parametrize("args, needle", [
    (["bench", "/nonexistent/model"], "does not exist"),
    (["bench", "{out}", "--threads", "1,x"], "--threads"),
    (["bench", "{out}", "--threads", "0"], "--threads"),
    (["bench", "{out}", "--sizes", "abc"], "--sizes"),
    (["bench", "{out}", "--runs", "0"], "--runs"),
])
def test_bench_bad_input(small_model, args, needle):
    out, _ = small_model
    r = CliRunner().invoke(cli, [a.format(out=out) for a in args])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_ratio_spread_pairs_blocks_of_the_same_round():
    from ssd2ncnn.bench.runner import ratio_summary, round_ratios

    a = [1.0, 1.2, 2.0, 2.2, 3.0, 3.2, 9.0]  # three full blocks of 2 and a partial one
    b = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert round_ratios(a, b, 2) == pytest.approx([1.1, 2.1, 3.1])
    s = ratio_summary(a, b, 2)
    assert s == {"ratio": pytest.approx(2.2), "round_low": pytest.approx(1.1), "round_high": pytest.approx(3.1), "rounds": 3}
    assert ratio_summary([], b, 2) is None



def test_bench_reads_a_bare_state_dict_with_preset(small_model, tmp_path):
    """--checkpoint takes the loading options every checkpoint command has (--from, --preset, ...)."""
    import torch

    from ssd2ncnn.checkpoint import load_model

    out, ckpt = small_model
    bare = tmp_path / "weights.pth"
    torch.save(load_model(ckpt).state_dict(), bare)  # what most training code saves
    base = ["bench", str(out), "--threads", "1", "--runs", "1", "--warmup", "0", "--sizes", "128", "--no-structure",
            "--no-memory", "--checkpoint", str(bare)]
    r = CliRunner().invoke(cli, base)
    assert r.exit_code == 2 and "--preset" in r.output, r.output  # a bare state dict does not say which model
    j = tmp_path / "b.json"
    r = CliRunner().invoke(cli, [*base, "--preset", "ssdlite320", "--width-mult", "0.5", "--json", str(j)])
    assert r.exit_code == 0, r.output
    assert "torch" in json.loads(j.read_text())["configs"][0]["engines"]


def test_bench_loading_options_without_checkpoint_are_refused(small_model):
    out, _ = small_model
    r = CliRunner().invoke(cli, ["bench", str(out), "--preset", "voc300"])
    assert r.exit_code == 2 and "--preset" in r.output and "--checkpoint" in r.output, r.output
