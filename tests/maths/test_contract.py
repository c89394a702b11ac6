"""One contract for both models (docs/contract.md): the same attributes and methods, dropout
switched the same way, the same checkpoint metadata and one loader."""
import numpy as np
import pytest

from gradcheck.checks.alignment import SIZES, random_batch
from gradcheck.checks.generator import caption_batch
from vsa_np.core.alignment import AlignmentModel
from vsa_np.backend import rng, to_host
from vsa_np.checkpoint import save_checkpoint
from vsa_np.data.vocab import Vocab
from vsa_np.errors import DataError
from vsa_np.core.generator import CaptionModel
from vsa_np.trained import load_alignment, load_generator


def _align(dropout=0.0):
    return AlignmentModel(**SIZES, dropout=dropout, seed=0, dtype=np.float64), random_batch(
        np.random.default_rng(0))


def _gen(dropout=0.0):
    return CaptionModel(7, 6, hidden=5, word_dim=4, dropout=dropout, seed=0,
                        dtype=np.float64), caption_batch(0)


@pytest.mark.parametrize("make", [_align, _gen], ids=["alignment", "generator"])
def test_same_attributes_and_methods(make):
    model, batch = make()
    assert model.KIND in ("alignment", "generator") and model.TRAINER.startswith("train-")
    assert {"vocab_size", "image_dim", "word_dim", "hidden"} <= set(model.arch)
    assert model.training is False and model.rng is not None and model.dropout == 0.0
    loss, grads = model.loss(batch)
    assert set(grads) == set(model.params) and np.ndim(to_host(loss)) == 0
    again = type(model).from_params({k: to_host(v) for k, v in model.params.items()},
                                    model.arch, dtype=np.float64)
    assert again.arch == model.arch and float(again.loss(batch)[0]) == float(loss)


@pytest.mark.parametrize("make", [_align, _gen], ids=["alignment", "generator"])
def test_dropout_follows_training_and_rng(make):
    model, batch = make(dropout=0.5)
    off = float(model.loss(batch)[0])
    assert float(model.loss(batch)[0]) == off                  # deterministic while not training
    model.training, model.rng = True, rng(3)
    on = float(model.loss(batch)[0])
    assert on != off
    model.rng = rng(3)
    assert float(model.loss(batch)[0]) == on                   # the same masks from the same seed
    model.training = False
    assert float(model.loss(batch)[0]) == off


def _save(path, model, vocab, meta_extra=None, buffers=None):
    meta = {"model": model.KIND, "arch": model.arch, "vocab": vocab.to_json(),
            **(meta_extra or {})}
    save_checkpoint(path, {k: to_host(v) for k, v in model.params.items()}, meta,
                    buffers=buffers)


def test_one_loader_refuses_the_other_kind(tmp_path):
    vocab = Vocab([f"w{i}" for i in range(6)])
    gen, _ = _gen()
    _save(tmp_path / "g", gen, vocab)
    with pytest.raises(DataError, match="not an alignment checkpoint.*train-align"):
        load_alignment(tmp_path / "g")
    model, v, meta = load_generator(tmp_path / "g")
    assert model.arch == gen.arch and v == vocab and meta["model"] == "generator"
