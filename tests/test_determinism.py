"""Every property test draws the same examples on every run, and nothing of hypothesis is committed."""

from __future__ import annotations

import importlib
from pathlib import Path

from hypothesis import settings

TESTS = Path(__file__).resolve().parent


def test_the_default_profile_is_derandomized_without_a_database():
    assert settings.default.derandomize is True
    assert settings.default.database is None


def test_every_given_test_is_derandomized():
    found = []
    for path in sorted(TESTS.glob("test_*.py")):
        if "@given" not in path.read_text():
            continue
        module = importlib.import_module(path.stem)
        for name in dir(module):
            fn = getattr(module, name)
            if name.startswith("test_") and getattr(fn, "is_hypothesis_test", False):
                found.append(name)
                assert fn._hypothesis_internal_use_settings.derandomize, f"{path.name}::{name} is not derandomized"
    assert len(found) >= 6, found  # test_param, test_detection_compare, test_detection_ties_pinned


def test_hypothesis_files_stay_out_of_git():
    # no example database is kept (database=None), but hypothesis caches other data in .hypothesis/
    assert ".hypothesis/" in (TESTS.parent / ".gitignore").read_text().split()
