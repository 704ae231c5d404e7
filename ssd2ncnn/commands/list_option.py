"""Comma-separated list options (`--sizes 300,320`, `--threads 1,2`, `--lr-steps 16,22`, `--classes a,b`),
parsed one way for every command: a click type, so a bad list is a usage error naming the option, exit 2,
before any file is read. Repeated integers are kept once (a size or a thread count twice is one run);
names keep their order and repeats (`--train-split trainval,trainval`: one per data root)."""

from __future__ import annotations

from typing import Any

import click


def split_list(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


class IntList(click.ParamType):
    """'300,320' -> (300, 320); each at least `minimum`."""

    name = "N,N,..."

    def __init__(self, minimum: int = 1, example: str = "1,2"):
        self.minimum, self.example = minimum, example

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            values = tuple(dict.fromkeys(int(t) for t in split_list(value)))
        except ValueError:
            self.fail(f"expects comma-separated integers like {self.example}, got {value!r}", param, ctx)
        if not values or min(values) < self.minimum:
            self.fail(f"expects integers >= {self.minimum} like {self.example}, got {value!r}", param, ctx)
        return values


class NameList(click.ParamType):
    """'train,val' -> ('train', 'val')."""

    name = "NAME,NAME,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        names = tuple(split_list(value))
        if not names:
            self.fail(f"expects comma-separated names, got {value!r}", param, ctx)
        return names
