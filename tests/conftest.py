import os
from pathlib import Path

import pytest

import archspec.pipeline

archspec.pipeline.LINT = True  # every graph built in the tests is checked after each stage (Graph.lint)

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "archspec" / "specs"
SHARED = Path(os.environ.get("ARCHSPEC_SHARED", ROOT.parent / "shared"))


@pytest.fixture
def specs_dir() -> Path:
    return SPECS


# -- property tests (issue 7): hypothesis profiles ------------------------------------------------
# `pytest` runs the fast "default" profile; `pytest --hypothesis-profile=long` (or HYPOTHESIS_PROFILE=long)
# tries many more examples. Tests scale their example counts from the profile's `max_examples`
# (tests/fuzz_helpers.py: `examples(k)`). Deadlines are off: each example runs under its own time budget
# instead, which interrupts a hang rather than reporting it afterwards. See docs/reliability.md.
from hypothesis import HealthCheck, settings  # noqa: E402

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("default", max_examples=20, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("long", max_examples=500, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
