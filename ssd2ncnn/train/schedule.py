"""Learning-rate schedules: cosine decay (the default) or steps at given epochs (the SSD/mmdetection
recipe), each after a linear warm-up from `warmup_ratio * lr`. Warm-up scales the schedule's own rate,
as mmdetection's `warmup="linear"` does (mmcv `LrUpdaterHook.get_warmup_lr`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("cosine", "step")


@dataclass(frozen=True)
class LRSchedule:
    base_lr: float
    total: int  # optimisation steps of the whole run
    steps_per_epoch: int
    warmup: int = 0  # steps
    warmup_ratio: float = 0.001
    kind: str = "cosine"
    min_ratio: float = 0.01  # cosine: the final rate as a share of base_lr
    lr_steps: tuple[int, ...] = ()  # step: epochs after which the rate is multiplied by `gamma`
    gamma: float = 0.1

    def regular(self, step: int) -> float:
        if self.kind == "step":
            epoch = step // max(1, self.steps_per_epoch)
            return self.base_lr * self.gamma ** sum(epoch >= e for e in self.lr_steps)
        t = min(1.0, max(0, step - self.warmup) / max(1, self.total - self.warmup))
        return self.base_lr * (self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))

    def __call__(self, step: int) -> float:
        lr = self.regular(step)
        if step < self.warmup:
            lr *= self.warmup_ratio + (1 - self.warmup_ratio) * step / self.warmup
        return lr

