"""Shared test fixtures. Real data lives in ../shared/data beside the checkout (never in the repo);
tests that need it take the `shared_data` fixture and skip with a reason when it is absent."""
import os
from pathlib import Path

import pytest

from generator_world import TINY
from vsa_np.data.shapes import make_shapes
from vsa_np.generator.train import GenConfig, train_generator

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


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> Path:
    """48 images (40 / 4 / 4), 128-d features, regions and alignments, made once per session."""
    out = tmp_path_factory.mktemp("shapes") / "world"
    make_shapes(out, 48, 0, 128, progress=False, cnn="random")   # fast: no CNN to train
    return out


@pytest.fixture(scope="session")
def tiny_run(tiny_world, tmp_path_factory):
    """A generator trained for a few epochs on the tiny world: (run folder, summary)."""
    out = tmp_path_factory.mktemp("gen") / "run"
    summary = train_generator(tiny_world, out, GenConfig(**TINY), quiet=True)
    return out, summary
