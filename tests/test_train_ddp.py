"""Two CPU processes under torchrun (gloo): DistributedDataParallel steps keep the replicas identical,
and `train()` runs distributed with rank 0 alone writing. This file is also the torchrun worker."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow  # converts, trains or runs processes: `pytest -m "not slow"` skips it

VOC = Path(__file__).resolve().parent.parent / "fixtures" / "data" / "voc"


def _worker(out: Path) -> None:
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler

    from ssd2ncnn.config import get_preset
    from ssd2ncnn.data.folders import open_dataset
    from ssd2ncnn.errors import InputError
    from ssd2ncnn.model.ssdlite import SSDLite
    from ssd2ncnn.train.data import TorchDetectionDataset, collate, network_input
    from ssd2ncnn.train.distributed import init_distributed
    from ssd2ncnn.train.engine import train_step
    from ssd2ncnn.train.evaluate import model_priors
    from ssd2ncnn.train.loop import train
    from ssd2ncnn.train.options import TrainOptions
    from ssd2ncnn.train.state import build_model_and_optimizer, make_optimizer
    from ssd2ncnn.train.transforms import TrainTransform

    info, device = init_distributed("cpu")
    assert info.world_size == 2
    cfg = get_preset("ssdlite320", input_size=64, width_mult=0.25, num_classes=4)
    torch.manual_seed(100 + info.rank)  # different initial weights: DDP must broadcast rank 0's
    model = SSDLite(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = DistributedDataParallel(model)
    src = open_dataset(VOC, "train")
    ds = TorchDetectionDataset(src, TrainTransform(cfg, seed=info.rank))  # different data per rank
    sampler = DistributedSampler(ds, 2, info.rank, seed=0)
    loader = DataLoader(ds, batch_size=3, sampler=sampler, collate_fn=collate, drop_last=True)
    opt = make_optimizer(net, TrainOptions(data=VOC, out=out, lr=0.05))
    priors = model_priors(model)
    losses, seen = [], []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        for images, boxes, labels, index in loader:
            losses.append(tuple(float(v) for v in train_step(net, network_input(images, cfg), boxes, labels, priors, cfg, opt, None, 20.0)))
            seen.append(index.tolist())
    # Parameters only: BatchNorm buffers are re-broadcast from rank 0 at each forward, so after the last
    # step each rank holds its own update of them.
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    torch.save({"state": params, "before": before, "losses": losses, "seen": seen}, out / f"rank{info.rank}.pt")
    # The full loop under the same process group: rank 0 writes the run directory.
    # --sync-bn under DDP: PyTorch's SyncBatchNorm trains on CUDA only, so on CPU it is a clear error
    # (tests/test_train_gpu.py trains with it).
    try:
        build_model_and_optimizer(TrainOptions(data=VOC, out=out, sync_bn=True), cfg, info, device)
    except InputError as exc:
        (out / f"syncbn{info.rank}.txt").write_text(str(exc))
    train(TrainOptions(data=VOC, out=out / "run", preset="ssdlite320", input_size=64, width_mult=0.25, epochs=1,
                       batch_size=4, workers=0, lr=0.01, progress=False))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_keeps_replicas_identical(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), __file__, str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for a, b in zip(r0["seen"], r1["seen"], strict=True):
        assert not set(a) & set(b)  # each rank saw its own shard of every epoch
    assert len(r0["losses"]) == 3 and r0["losses"] != r1["losses"]  # different data, different losses
    key = "backbone.stem.0.weight"
    assert not torch.equal(r0["before"][key], r1["before"][key])  # different seeds before DDP...
    for k, v in r0["state"].items():
        torch.testing.assert_close(r1["state"][k], v, rtol=0, atol=1e-6, msg=k)  # ...identical after steps
    assert not torch.equal(r0["state"][key], r0["before"][key])
    run = tmp_path / "run"
    assert (run / "best.pth").is_file() and (run / "last.pth").is_file()
    assert "--sync-bn needs CUDA" in (tmp_path / "syncbn0.txt").read_text()
    assert "on 2 process(es)" in (run / "train.log").read_text()


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
