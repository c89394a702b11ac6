"""Shared test fixtures. Real data lives in ../shared/data beside the checkout (never in the repo);
tests that need it take the `shared_data` fixture and skip with a reason when it is absent."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("VSA_NP_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    d = shared_data_dir()
    if not d.is_dir():
        pytest.skip(f"shared data folder {d} is absent (set VSA_NP_SHARED_DATA to point at it)")
    return d
