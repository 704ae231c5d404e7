"""Checkpoint hard edges: every bad file is a one-line CheckpointError naming the problem and the fix."""

import zipfile

import pytest
import torch

from ssd2ncnn.checkpoint import load_model, read_checkpoint, save_checkpoint
from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import CheckpointError
from ssd2ncnn.model.ssdlite import SSDLite


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model = SSDLite(get_preset("voc300", num_classes=3, width_mult=0.25)).eval()
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pth", model)
    return model, path


def _error(path, **kw) -> str:
    with pytest.raises(CheckpointError) as info:
        load_model(path, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_round_trip_keeps_config_and_weights(tiny):
    model, path = tiny
    loaded = load_model(path)
    assert loaded.cfg == model.cfg and not loaded.training
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k


def test_missing_empty_directory(tmp_path):
    assert "does not exist" in _error(tmp_path / "nope.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    assert "empty" in _error(tmp_path / "empty.pth")
    assert "directory" in _error(tmp_path)


def test_truncated_and_corrupt(tiny, tmp_path):
    data = tiny[1].read_bytes()
    (tmp_path / "half.pth").write_bytes(data[: len(data) // 2])
    assert "truncated or corrupt" in _error(tmp_path / "half.pth")
    (tmp_path / "junk.pth").write_bytes(b"this is not a checkpoint at all" * 10)
    assert "not a PyTorch file" in _error(tmp_path / "junk.pth")
    (tmp_path / "bad.pth").write_bytes(b"\x80\x02" + b"garbage" * 10)  # a pickle header, then junk
    assert "truncated or corrupt" in _error(tmp_path / "bad.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_with_code_is_refused_and_not_run(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "payload": _Evil()}, path)
    msg = _error(path)
    assert "weights_only" in msg and "state_dict" in msg
    assert "pwned" not in capsys.readouterr().out


def test_bare_state_dict_needs_a_preset_and_then_loads(tiny, tmp_path):
    model, _ = tiny
    path = tmp_path / "bare.pth"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)  # DDP-style prefix too
    assert "--preset" in _error(path)
    loaded = load_model(path, preset="voc300", num_classes=3, width_mult=0.25)
    assert loaded.cfg.num_classes == 3


def test_shape_mismatch_lists_names_and_shapes(tiny, tmp_path):
    model, _ = tiny
    path = tmp_path / "bare.pth"
    torch.save(model.state_dict(), path)
    msg = _error(path, preset="voc300", num_classes=21, width_mult=0.25)
    assert "shape mismatches" in msg and "conf_heads" in msg and "--num-classes" in msg


def test_nan_weights_are_refused(tiny, tmp_path):
    model, _ = tiny
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    sd["backbone.stem.0.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(sd, path)
    assert "NaN or inf" in _error(path, preset="voc300", num_classes=3, width_mult=0.25)


def as_saved_on_cuda(src, dst):
    """Rewrite the storage location tags of a real checkpoint to `cuda:0`, as torch.save on a GPU writes them."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("data.pkl"):
                # BINUNICODE (protocol 2) strings are length-prefixed, so the swap keeps the stream valid
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
                assert b"cuda:0" in data
            zout.writestr(item, data)
    return dst


def test_checkpoint_saved_on_cuda_loads_on_cpu(tiny, tmp_path):
    dst = as_saved_on_cuda(tiny[1], tmp_path / "cuda.pth")
    with pytest.raises(RuntimeError):
        torch.load(dst, weights_only=True)  # without map_location this needs a GPU
    assert load_model(dst).cfg == tiny[0].cfg


def test_non_dict_checkpoint(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="expected a dict"):
        read_checkpoint(path)


def test_contradicting_num_classes(tiny):
    assert "contradicts" in _error(tiny[1], num_classes=5)


def test_contradicting_preset_or_width_is_refused(tiny):
    msg = _error(tiny[1], preset="ssdlite320", width_mult=1.0)
    assert "--preset ssdlite320 (the checkpoint is voc300)" in msg and "--width-mult 1.0" in msg
    assert "drop the option" in msg
    # options that agree with the checkpoint are fine
    assert load_model(tiny[1], preset="voc300", num_classes=3, width_mult=0.25).cfg.width_mult == 0.25


def test_contradiction_is_exit_2_on_the_command_line(tiny, tmp_path):
    from click.testing import CliRunner

    from ssd2ncnn.cli import cli

    result = CliRunner().invoke(cli, ["convert", str(tiny[1]), "-o", str(tmp_path / "out"), "--width-mult", "1.0"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: --width-mult 1.0") and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_unknown_source_is_named_whatever_the_file(tiny, tmp_path):
    # an ssd2ncnn checkpoint and a bare state dict alike: the misspelt --from is the mistake to report
    torch.save(tiny[0].state_dict(), tmp_path / "bare.pth")
    for path in (tiny[1], tmp_path / "bare.pth"):
        assert "unknown checkpoint source 'sed'; choose one of auto, ssd2ncnn" in _error(path, source="sed")
