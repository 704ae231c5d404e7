"""torchrun: a `--device cuda:N` that each process replaces by its local rank's GPU is said, not silent."""

from ssd2ncnn.train.distributed import DistInfo, device_note


def test_a_replaced_device_is_said_under_torchrun(monkeypatch):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    note = device_note("cuda:1", DistInfo(rank=0, world_size=8, local_rank=0))
    assert note == ("--device cuda:1 is replaced under torchrun: each process takes the GPU of its local rank "
                    "(cuda:0..cuda:3 on this node); pass --device cuda, or set CUDA_VISIBLE_DEVICES to choose GPUs")


def test_nothing_is_said_when_nothing_is_replaced():
    assert device_note("cuda:1", DistInfo()) is None  # one process: --device cuda:1 is used as given
    assert device_note("cuda", DistInfo(world_size=2)) is None  # no index to replace
    assert device_note(None, DistInfo(world_size=2)) is None
