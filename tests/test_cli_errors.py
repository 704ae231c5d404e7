"""Every command on bad input: exit code 2 (1 for failed checks), one `error:` line, no traceback.
Runs the real console entry point in a subprocess, as a user would."""

import subprocess
import sys

import pytest

CASES = [
    # (name, argv, expected exit code, text the message must contain)
    ("init unknown preset", ["init", "--preset", "yolo", "-o", "{tmp}/m.pth"], 2, "yolo"),
    ("init one class", ["init", "--preset", "voc300", "--num-classes", "1", "-o", "{tmp}/m.pth"], 2, "num-classes"),
    ("convert missing checkpoint", ["convert", "{tmp}/none.pth", "-o", "{tmp}/out"], 2, "does not exist"),
    ("convert empty checkpoint", ["convert", "{tmp}/empty.pth", "-o", "{tmp}/out"], 2, "empty"),
    ("convert junk checkpoint", ["convert", "{tmp}/junk.pth", "-o", "{tmp}/out"], 2, "not a PyTorch file"),
    ("convert unknown --from", ["convert", "{tmp}/empty.pth", "-o", "{tmp}/out", "--from", "nope"], 2, "'nope' is not one of"),
    ("convert bare state dict", ["convert", "{tmp}/bare.pth", "-o", "{tmp}/out"], 2, "--preset"),
    ("verify missing out dir", ["verify", "{tmp}/empty.pth", "{tmp}/nowhere"], 2, "does not exist"),
    ("verify bad sizes", ["verify", "{tmp}/empty.pth", "{tmp}", "--sizes", "a,b"], 2, "'--sizes': expects comma-separated integers"),
    ("verify no arguments", ["verify"], 2, "CHECKPOINT and OUT_DIR"),
    ("detect missing model", ["detect", "{tmp}/nowhere", "{tmp}/img.png"], 2, "does not exist"),
    ("detect folder not from convert", ["detect", "{tmp}", "{tmp}/img.png"], 2, "model.json"),
    ("param lint missing file", ["param", "lint", "{tmp}/none.param"], 2, "none.param"),
    ("param lint broken file", ["param", "lint", "{tmp}/bad.param"], 1, "bad.param:4: error: parse:"),
    ("param fmt malformed", ["param", "fmt", "{tmp}/bad.param", "-o", "{tmp}/o.param"], 2, "bad.param:4:"),
    ("train missing data", ["train", "--data", "{tmp}/nodata", "--preset", "voc300", "-o", "{tmp}/run"], 2, "nodata"),
    ("train bad device", ["train", "--data", "{tmp}", "--device", "gpu0", "-o", "{tmp}/run"], 2, "not a device name"),
    ("eval missing checkpoint", ["eval", "{tmp}/none.pth", "--data", "{tmp}"], 2, "does not exist"),
    ("bench missing model", ["bench", "{tmp}/nowhere"], 2, "does not exist"),
    ("quantize missing model", ["quantize", "{tmp}/nowhere", "--calib", "{tmp}/nocalib", "-o", "{tmp}/q"], 2, "does not exist"),
    ("synth unwritable output", ["synth", "-o", "/proc/ssd2ncnn-synth", "--num", "2"], 2, "/proc/ssd2ncnn-synth"),
    ("param fmt unwritable output", ["param", "fmt", "{tmp}/ok.param", "-o", "/proc/x.param"], 2, "check the path"),
    ("demo missing checkpoint", ["demo", "--checkpoint", "{tmp}/none.pth", "-o", "{tmp}/demo"], 2, "does not exist"),
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    (tmp / "empty.pth").write_bytes(b"")
    (tmp / "junk.pth").write_bytes(b"\x00junk" * 100)
    import torch

    torch.save({"w": torch.zeros(2)}, tmp / "bare.pth")
    (tmp / "bad.param").write_text("7767517\n2 2\nInput in 0 1 in\nReLU r 1 1 in\n")
    (tmp / "img.png").write_bytes(b"not really a png")
    (tmp / "ok.param").write_text("7767517\n2 2\nInput in 0 1 in\nReLU r 1 1 in out\n")
    return tmp


@pytest.mark.parametrize("name, argv, code, text", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_exit_code(bad_files, name, argv, code, text):
    args = [a.replace("{tmp}", str(bad_files)) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "ssd2ncnn", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert lines, proc.stdout
    # our errors are one `error:` line; click's own usage errors end in an `Error:` line
    assert lines[-1].startswith("error:") or lines[-1].startswith("Error:"), lines
    assert text in proc.stdout + proc.stderr, (proc.stdout, proc.stderr)


def test_debug_flag_shows_the_traceback(bad_files):
    proc = subprocess.run(
        [sys.executable, "-m", "ssd2ncnn", "--debug", "convert", str(bad_files / "empty.pth"), "-o", str(bad_files / "o")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode != 0 and "Traceback" in proc.stderr


@pytest.mark.slow  # runs a conversion until it fails
def test_nothing_half_written_for_failed_convert(bad_files):
    for name in ("empty.pth", "junk.pth", "bare.pth"):
        proc = subprocess.run(
            [sys.executable, "-m", "ssd2ncnn", "convert", str(bad_files / name), "-o", str(bad_files / "half")],
            capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 2
        assert not (bad_files / "half").exists()
        assert not [p for p in bad_files.iterdir() if p.name.startswith(".half.")]
