"""The derived tolerances: the class-score limit follows from the logits' limit by the activation's
Lipschitz constant (docs/verify.md). The bound is checked against the activations themselves, in float64,
on seeded random logits, and shown tight (so the constant is not a loosening in disguise)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from ssd2ncnn.verify.tolerances import FP16, FP32, INT8, LIPSCHITZ, Tolerances


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@seed(17)
@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 91), st.floats(1e-6, 1.0), st.floats(0.1, 20.0))
def test_an_activation_moves_by_at_most_its_constant_times_the_logit_change(rng_seed, classes, h, scale):
    rng = np.random.default_rng(rng_seed)
    z = rng.normal(0, scale, (64, classes))
    d = rng.uniform(-h, h, z.shape)
    assert np.abs(softmax(z + d) - softmax(z)).max() <= LIPSCHITZ["softmax"] * h * (1 + 1e-9)
    assert np.abs(sigmoid(z + d) - sigmoid(z)).max() <= LIPSCHITZ["sigmoid"] * h * (1 + 1e-9)


def test_the_constants_are_tight():
    """Two equal logits moved apart by h each way: p moves by ~h/2 (softmax); sigmoid at 0 by ~h/4."""
    h = 1e-4
    moved = softmax(np.array([h, -h])) - softmax(np.array([0.0, 0.0]))
    assert moved[0] == pytest.approx(LIPSCHITZ["softmax"] * h, rel=1e-6)
    assert sigmoid(np.array(h)) - sigmoid(np.array(0.0)) == pytest.approx(LIPSCHITZ["sigmoid"] * h, rel=1e-6)


def test_the_conf_limit_is_derived_from_the_head_limit():
    # logits up to 10: heads may move by 1e-4 + 1e-4 x 10 = 1.1e-3, so probabilities by half that, plus
    # the float32 softmax rounding allowance
    assert FP32.conf_limit("softmax", 10.0) == pytest.approx(0.5 * 1.1e-3 + 1e-5)
    assert FP32.conf_limit("sigmoid", 10.0) == pytest.approx(0.25 * 1.1e-3 + 1e-5)
    case = FP32.for_case("softmax", 10.0)
    assert case.conf_atol == case.score_atol == pytest.approx(5.6e-4)
    # the false alarm: a 1.17e-5 error on a torchvision model (logits of a few units) now passes
    assert FP32.conf_limit("softmax", 3.0) > 1.17e-5
    # explicit values stand: fp16/int8 claims, and a user's --tol
    assert FP16.conf_limit("softmax", 10.0) == 5e-3 and INT8.score_limit("softmax", 10.0) == 0.1
    assert Tolerances(score_atol=1e-6).for_case("softmax", 10.0).score_atol == 1e-6
    assert FP32.override({"conf_atol": 2e-5}).conf_limit("softmax", 10.0) == 2e-5
