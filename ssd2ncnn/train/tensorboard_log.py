"""`train --tensorboard`: the per-epoch scalars of `metrics.csv` in RUN_DIR/tensorboard, through
torch.utils.tensorboard (which needs the `tensorboard` package; `options.check_options` says so before
the run starts), as mmdetection and the torchvision references log them."""

from __future__ import annotations

from pathlib import Path

# metrics row key -> TensorBoard tag
TAGS = {"loss_loc": "loss/localisation", "loss_conf": "loss/classification", "loss": "loss/total",
        "lr": "learning_rate", "map07": "val/mAP07", "images_per_s": "speed/images_per_s"}


class TensorboardLog:
    def __init__(self, out: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(out / "tensorboard"))

    def add(self, row: dict) -> None:
        for key, tag in TAGS.items():
            if row.get(key) is not None:
                self.writer.add_scalar(tag, float(row[key]), global_step=int(row["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
