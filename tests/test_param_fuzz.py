"""Bounded, seeded fuzz of the .param parser and linter on mutated reference files.

The contract: `parse_param` either returns a Graph or raises `ParamError` (nothing else), `lint_param`
never raises, and whatever parses also formats, re-parses to an equal graph and formats idempotently."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from ssd2ncnn.assets import reference_param
from ssd2ncnn.errors import ParamError
from ssd2ncnn.ncnn_format import (
    LINT_CODES,
    LintFinding,
    format_param,
    lint_param,
    parse_param,
)

pytestmark = pytest.mark.slow  # 2000 seeded mutations: `pytest -m "not slow"` skips it

REF_DIR = reference_param().parent
ITERATIONS = 2000
SEED = 20240917

JUNK = [
    "=",
    ",",
    "-23300=",
    "-23300=3,1",
    "0=",
    "=1",
    "1e999",
    "nan",
    "inf",
    "-",
    ".",
    "e",
    "0x10",
    "1,2",
    "99999999999",
    "-2147483649",
    "\t",
    "\r",
    "\n",
    "\x00",
    "\x0b",
    "\u00a0",
    "\u2028",
    "é",
    "  ",
    "7767517",
    "Split",
    "-23331=0",
    "-23332=0",
    "31=1.5",
    "32=1",
    "1.5.5",
    "+1",
    "--1",
    "1e",
    ".e1",
]
NUMBERS = [
    "0",
    "-1",
    "1",
    "2",
    "-233",
    "4294967296",
    "3.4e38",
    "3.5e38",
    "1e-50",
    "-0.0",
    "1.",
    ".5",
    "1e+5",
    "x",
]


def _f32(v):
    if isinstance(v, list):
        return [_f32(e) for e in v]
    return float(np.float32(v)) if isinstance(v, float) else v


def _f32_view(graph) -> list:
    return [
        (la.type, la.name, la.inputs, la.outputs, [(k, _f32(v)) for k, v in la.params.items()])
        for la in graph.layers
    ]


def _tokens_mutation(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    toks = lines[i].split(" ")
    op = rng.choice(["delete", "duplicate", "swap", "junk", "number"])
    j = rng.randrange(len(toks))
    if op == "delete":
        del toks[j]
    elif op == "duplicate":
        toks.insert(j, toks[j])
    elif op == "swap":
        k = rng.randrange(len(toks))
        toks[j], toks[k] = toks[k], toks[j]
    elif op == "junk":
        toks.insert(j, rng.choice(JUNK))
    else:
        toks[j] = (
            rng.choice(NUMBERS) if "=" not in toks[j] else toks[j].split("=")[0] + "=" + rng.choice(NUMBERS)
        )
    lines[i] = " ".join(toks)
    return "\n".join(lines)


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["tokens", "tokens", "flip", "truncate", "digits", "junk", "lines"])
        if not text:
            text = rng.choice(JUNK)
            continue
        if op == "tokens":
            text = _tokens_mutation(rng, text)
        elif op == "flip":
            i = rng.randrange(len(text))
            text = (
                text[:i]
                + chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 32), 0xE9]))
                + text[i + 1 :]
            )
        elif op == "truncate":
            text = text[: rng.randrange(len(text) + 1)]
        elif op == "digits":
            i = rng.randrange(len(text))
            for _ in range(50):
                if text[i].isdigit():
                    break
                i = rng.randrange(len(text))
            if text[i].isdigit():
                text = text[:i] + rng.choice(["", "9", "99999999999", "-", ".", "e", "0"]) + text[i + 1 :]
        elif op == "junk":
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice(JUNK) + text[i:]
        else:
            lines = text.split("\n")
            i, k = rng.randrange(len(lines)), rng.randrange(len(lines))
            choice = rng.choice(["dup", "del", "swap"])
            if choice == "dup":
                lines.insert(k, lines[i])
            elif choice == "del":
                del lines[i]
            else:
                lines[i], lines[k] = lines[k], lines[i]
            text = "\n".join(lines)
    return text


def test_fuzz_parse_and_lint_only_raise_param_error() -> None:
    files = sorted(REF_DIR.glob("*.param"))
    if not files:
        pytest.skip(f"no reference params under {REF_DIR}")
    texts = [f.read_text() for f in files]
    rng = random.Random(SEED)
    parsed = rejected = 0
    start = time.perf_counter()
    for it in range(ITERATIONS):
        text = mutate(rng, texts[it % len(texts)])
        context = f"iteration {it} (seed {SEED})"
        # strict parse; the lenient one differs only for duplicate layer names, so run it only then
        for allow in (False, True):
            try:
                graph = parse_param(text, "fuzz.param", unique_names=not allow)
            except ParamError as exc:
                rejected += 1
                assert exc.line is None or exc.line >= 1, context
                if "duplicate layer name" in str(exc):
                    continue
                break
            except Exception as exc:  # noqa: BLE001 - the point of the test
                pytest.fail(f"{context}: parse_param raised {type(exc).__name__}: {exc}\n{text[:2000]}")
            parsed += 1
            out = format_param(graph)
            again = parse_param(out, unique_names=not allow)
            # equal up to float32: the writer rounds every float to the float32 ncnn will hold
            assert _f32_view(again) == _f32_view(graph), context
            assert [type(v) for la in again.layers for v in la.params.values()] == [
                type(v) for la in graph.layers for v in la.params.values()
            ], context
            assert format_param(again) == out, context
            break
        try:
            findings = lint_param(text, "fuzz.param")
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{context}: lint_param raised {type(exc).__name__}: {exc}\n{text[:2000]}")
        assert all(isinstance(f, LintFinding) and f.code in LINT_CODES for f in findings), context
    elapsed = time.perf_counter() - start
    print(
        f"param fuzz: {ITERATIONS} iterations, {parsed} parses accepted, {rejected} ParamErrors, {elapsed:.1f}s"
    )
    assert parsed > 0 and rejected > 0
