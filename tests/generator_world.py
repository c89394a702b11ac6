"""A tiny shapes world and a generator trained on it, made once per test session and shared by
the generator's test modules (import the fixtures from here)."""
import pytest

_CACHE = {}

TINY = dict(hidden=32, word_dim=16, dropout=0.1, lr=3e-3, epochs=6, batch_size=40,
            eval_beam=3, max_len=30, word_threshold=2)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    """48 images (40 / 4 / 4), 128-d features, regions and alignments."""
    if "world" not in _CACHE:
        from vsa_np.data.shapes import make_shapes

        out = tmp_path_factory.mktemp("shapes") / "world"
        make_shapes(out, 48, 0, 128, progress=False)
        _CACHE["world"] = out
    return _CACHE["world"]


@pytest.fixture(scope="session")
def tiny_run(tiny_world, tmp_path_factory):
    """A generator trained for a few epochs on the tiny world: (run folder, summary)."""
    if "run" not in _CACHE:
        from vsa_np.generator.train import GenConfig, train_generator

        out = tmp_path_factory.mktemp("gen") / "run"
        summary = train_generator(tiny_world, out, GenConfig(**TINY), quiet=True)
        _CACHE["run"] = (out, summary)
    return _CACHE["run"]
