"""verify/compare.py: max abs error, max rel error and the limit atol + rtol * max|ref|, each worked out by
hand on arrays of a few values (survivors of scripts/mutation.sh: no fast test reached this module)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssd2ncnn.verify.compare import TensorCheck, compare_tensor


def test_errors_and_limit_by_hand_an_error_equal_to_the_limit_passes():
    got = np.array([[1.0, 2.5], [-3.0, 0.0]])
    ref = np.array([[1.5, 2.0], [-2.0, 0.0]])
    # |diff| = 0.5, 0.5, 1, 0; rel = 0.5/1.5, 0.5/2, 1/2, 0/1e-6 -> 0.5; max|ref| = 2: limit 0.5 + 0.25 * 2 = 1
    assert compare_tensor("mbox_loc", "patch", got, ref, 0.5, 0.25) == TensorCheck("mbox_loc", "patch", 1.0, 0.5, 1.0, True)
    assert compare_tensor("mbox_loc", "patch", got, ref, 0.25, 0.25) == TensorCheck("mbox_loc", "patch", 1.0, 0.5, 0.75, False)


def test_the_scale_is_the_largest_magnitude_of_ref_and_rtol_defaults_to_zero():
    got, ref = np.array([-4.0, 1.9]), np.array([-4.0, 1.0])  # |diff| 0.9; max|ref| = 4, not max(ref) = 1
    assert compare_tensor("x", "pnnx", got, ref, 0.1, 0.2).limit == pytest.approx(0.1 + 0.2 * 4)
    assert compare_tensor("x", "pnnx", got, ref, 0.1, 0.2).passed
    assert compare_tensor("x", "pnnx", got, ref, 0.1) == TensorCheck("x", "pnnx", pytest.approx(0.9), pytest.approx(0.9), 0.1, False)


def test_relative_error_against_a_zero_reference_divides_by_1e_6():
    check = compare_tensor("conf", "patch", np.array([1e-3, 0.5]), np.array([0.0, 0.5]), 1.0)
    assert check.max_rel == pytest.approx(1e-3 / 1e-6, rel=1e-9)


def test_shapes_are_compared_flat_and_a_size_mismatch_fails_with_infinite_errors():
    same = compare_tensor("a", "export", np.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(3, 2), 0.0)
    assert same == TensorCheck("a", "export", 0.0, 0.0, 0.0, True, shape_ok=True)
    other = compare_tensor("a", "export", np.zeros(3), np.zeros(4), 0.5, 0.5)
    assert other == TensorCheck("a", "export", math.inf, math.inf, 0.5, False, shape_ok=False)


def test_a_non_finite_output_fails_even_where_nan_hides_the_difference():
    check = compare_tensor("loc", "pnnx", np.array([np.nan, 1.0]), np.array([0.0, 1.0]), 1e9)
    assert check.max_abs == math.inf and not check.passed


def test_float32_inputs_are_compared_in_float64():
    # 1e8 - 1 = 99999999 in float64; in float32 it rounds back to 1e8
    check = compare_tensor("x", "golden", np.array([1e8], np.float32), np.array([1.0], np.float32), 0.0)
    assert check.max_abs == 99999999.0


def test_empty_tensors_have_no_error_and_the_limit_is_atol():
    assert compare_tensor("e", "patch", np.zeros(0), np.zeros(0), 0.5, 0.25) == TensorCheck("e", "patch", 0.0, 0.0, 0.5, True)


def test_as_dict_names_every_field():
    assert TensorCheck("n", "s", 1.0, 2.0, 3.0, False).as_dict() == {
        "name": "n", "stage": "s", "max_abs": 1.0, "max_rel": 2.0, "limit": 3.0, "passed": False, "shape_ok": True}
