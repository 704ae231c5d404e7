"""What a training run writes besides checkpoints: `train.log`, `metrics.csv`/`metrics.json`,
`curves.png` (and TensorBoard scalars with --tensorboard), warnings on stderr and the progress bar, all on
rank 0.

The run folder is made only once the run's input is checked (options, data scan, resume checkpoint,
loader): log lines before that are held in memory and written to `train.log` when it opens, so a run
that fails on its input leaves nothing behind."""

from __future__ import annotations

import csv
import json
import logging
import logging.handlers
import sys
from pathlib import Path

from .distributed import DistInfo
from .plots import plot_curves

log = logging.getLogger("ssd2ncnn.train")


def start_logging(info: DistInfo) -> None:
    """Warnings to stderr at once (rank 0); every line held until `open_log_file`."""
    log.setLevel(logging.INFO)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    log.propagate = False
    if info.is_main:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter("warning: %(message)s"))
        log.addHandler(console)
        log.addHandler(logging.handlers.MemoryHandler(capacity=1 << 20, flushLevel=logging.CRITICAL + 1))


def open_log_file(out: Path, info: DistInfo) -> None:
    """`out/train.log` on rank 0, starting with the lines held since `start_logging`."""
    held = [h for h in log.handlers if isinstance(h, logging.handlers.MemoryHandler)]
    if not info.is_main:
        return
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    for mem in held:
        mem.setTarget(handler)
        mem.flush()
        log.removeHandler(mem)
        mem.close()
    log.addHandler(handler)


def record_epoch(out: Path, history: list[dict], tensorboard=None) -> None:
    """After each epoch: the metrics files, curves.png redrawn, the new row to TensorBoard."""
    write_history(out, history)
    plot_curves(history, out / "curves.png", title=f"{out.name}: epoch {history[-1]['epoch']}")
    if tensorboard is not None:
        tensorboard.add(history[-1])


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
