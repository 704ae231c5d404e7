"""Resuming: under the other --channels-last setting (a CPU run resumed on CUDA, where channels-last is the
default) the optimizer state must take the weights' memory layout, which the fused kernels need; network
options that contradict the checkpoint are errors, not silently ignored."""

import pytest
import torch

from ssd2ncnn.checkpoint import save_checkpoint
from ssd2ncnn.config import get_preset
from ssd2ncnn.errors import InputError
from ssd2ncnn.train.checkpoints import read_training_checkpoint, restore
from ssd2ncnn.train.distributed import DistInfo
from ssd2ncnn.train.engine import train_step
from ssd2ncnn.train.inputs import resolve_config
from ssd2ncnn.train.options import TrainOptions
from ssd2ncnn.train.state import build_model_and_optimizer


def _run(tmp_path, channels_last: bool):
    opts = TrainOptions(data=tmp_path, out=tmp_path, channels_last=channels_last, lr=0.01)
    cfg = get_preset("ssdlite320", class_names=["background", "a"], width_mult=0.25, input_size=64)
    return build_model_and_optimizer(opts, cfg, DistInfo(), torch.device("cpu"))


def test_resume_gives_optimizer_state_the_weights_layout(tmp_path):
    a = _run(tmp_path, channels_last=False)
    images = torch.randn(2, 3, 64, 64)
    boxes, labels = torch.tensor([[[0.1, 0.1, 0.6, 0.7]]] * 2), torch.ones(2, 1, dtype=torch.long)
    train_step(a.net, images, boxes, labels, a.priors, a.cfg, a.optimizer, None, 20.0)
    extra = {"optimizer": a.optimizer.state_dict(), "scheduler": {"step": 1}, "epoch": 0}
    save_checkpoint(tmp_path / "last.pth", a.model, extra=extra)

    b = _run(tmp_path, channels_last=True)
    restore(b, read_training_checkpoint(tmp_path / "last.pth"), tmp_path / "last.pth")
    four_d = [p for p in b.model.parameters() if p.ndim == 4 and not p.is_contiguous()]  # channels-last, not NCHW
    assert four_d
    for p in four_d:
        buf = b.optimizer.state[p]["momentum_buffer"]
        assert buf.stride() == p.stride()
        assert torch.equal(buf, a.optimizer.state[dict(zip(b.model.parameters(), a.model.parameters()))[p]]["momentum_buffer"])


def test_resume_refuses_network_options_that_contradict_the_checkpoint(tmp_path):
    a = _run(tmp_path, channels_last=False)
    save_checkpoint(tmp_path / "last.pth", a.model, extra={"optimizer": a.optimizer.state_dict(), "scheduler": {"step": 0}, "epoch": 0})
    ok = TrainOptions(data=tmp_path, out=tmp_path, resume=tmp_path / "last.pth", width_mult=0.25, input_size=64)
    resumed = read_training_checkpoint(tmp_path / "last.pth")
    assert resolve_config(ok, resumed=resumed).width_mult == 0.25  # repeating the saved values is fine
    for kw, flag in (({"width_mult": 0.5}, "--width-mult 0.5"), ({"input_size": 96}, "--input-size 96")):
        with pytest.raises(InputError, match=f"{flag} contradicts the resumed checkpoint"):
            resolve_config(TrainOptions(data=tmp_path, out=tmp_path, resume=tmp_path / "last.pth", **kw), resumed=resumed)
