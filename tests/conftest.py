import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "archspec" / "specs"
SHARED = Path(os.environ.get("ARCHSPEC_SHARED", ROOT.parent / "shared"))


@pytest.fixture
def specs_dir() -> Path:
    return SPECS
