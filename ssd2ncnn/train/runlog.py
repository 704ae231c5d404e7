"""What a training run writes besides checkpoints: `train.log`, `metrics.csv`/`metrics.json`, and the
progress bar on rank 0."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from .distributed import DistInfo

log = logging.getLogger("ssd2ncnn.train")


def setup_logging(out: Path, info: DistInfo) -> None:
    log.setLevel(logging.INFO)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    if info.is_main:
        handler = logging.FileHandler(out / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
    log.propagate = False


def write_history(out: Path, history: list[dict]) -> None:
    (out / "metrics.json").write_text(json.dumps(history, indent=1))
    keys = list(dict.fromkeys(k for row in history for k in row))
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


class Progress:
    """A rich progress bar with loss and images/s on rank 0; nothing elsewhere."""

    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("loss {task.fields[loss]:.3f}"), TextColumn("{task.fields[ips]:.1f} img/s"),
                                TimeElapsedColumn())

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)

    def start(self, description: str, total: int):
        return self.bar.add_task(description, total=total, loss=0.0, ips=0.0) if self.bar else None

    def update(self, task, advance: int, loss: float, ips: float) -> None:
        if self.bar:
            self.bar.update(task, advance=advance, loss=loss, ips=ips)
