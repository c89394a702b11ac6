"""One contract for both models (docs/contract.md): the same attributes and methods, dropout
switched the same way, the same checkpoint metadata and one loader, and old checkpoints of
either kind still load."""
import numpy as np
import pytest

from gradcheck.checks.alignment import SIZES, random_batch
from gradcheck.checks.generator import caption_batch
from vsa_np.alignment.model import AlignmentModel, load_alignment
from vsa_np.backend import rng, to_host
from vsa_np.checkpoint import save_checkpoint
from vsa_np.data.vocab import Vocab
from vsa_np.errors import DataError
from vsa_np.feature_norm import FeatureNorm
from vsa_np.generator.model import CaptionModel, load_generator


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


def test_alignment_checkpoint_from_before_feature_norm_loads(tmp_path):
    """An alignment checkpoint of before feature_norm.py: a mean in the metadata, the whitening
    in buffers of its own; it loads with the same map (FeatureNorm.legacy)."""
    model, batch = _align()
    D = SIZES["image_dim"]
    g = np.random.default_rng(1)
    mean = g.standard_normal(D)
    basis = np.linalg.qr(g.standard_normal((D, 2)))[0]
    white = {"basis": basis, "scale": np.array([2.0, 3.0]), "rest": 0.5}
    vocab = Vocab([f"w{i}" for i in range(SIZES["vocab_size"] - 1)])
    _save(tmp_path / "old", model, vocab, {"feature_mean": mean.tolist(), "whiten_rest": 0.5},
          buffers={"whiten_basis": basis, "whiten_scale": white["scale"]})
    loaded, _, _ = load_alignment(tmp_path / "old")
    ref = AlignmentModel(**SIZES, seed=0, dtype=np.float64, norm=FeatureNorm.legacy(D, mean, white))
    loaded.params = {k: v.astype(np.float64) for k, v in loaded.params.items()}
    loaded.norm = loaded.norm.to(np.float64)
    assert float(loaded.loss(batch)[0]) == pytest.approx(float(ref.loss(batch)[0]), rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_generator_equals_the_layers_it_teaches(seed):
    """`CaptionModel.loss` (the fast path: one 2-D product for W_hx x_t, the output layer and
    the input gradients on the valid steps only) equals Eq. 13-15 composed from the reference
    layers of vsa_np/layers (embedding, mrnn, affine, temporal_softmax_loss), loss and every
    gradient, in float64."""
    from vsa_np.backend import to_device, xp
    from vsa_np.layers import (affine_backward, affine_forward, embedding_backward,
                               embedding_forward, mrnn_backward, mrnn_forward,
                               temporal_softmax_loss)

    model = CaptionModel(7, 6, hidden=5, word_dim=4, dropout=0.0, seed=seed,
                         word_counts=np.arange(1, 8), dtype=np.float64)
    batch = caption_batch(seed)
    P = model.params
    feats, inputs = to_device(batch["feats"]), to_device(batch["inputs"])
    targets, mask = to_device(batch["targets"]), to_device(batch["mask"])
    bv, c_bv = affine_forward(feats, P["W_hi"], xp.zeros(5))                # Eq. 13
    x, c_x = embedding_forward(inputs, P["W_w"])                            # x_t = W_w 1_t
    h, c_h = mrnn_forward(x, bv, P["W_hx"], P["W_hh"], P["b_h"], mask)      # Eq. 14
    scores, c_s = affine_forward(h, P["W_oh"], P["b_o"])                    # Eq. 15
    loss, dscores = temporal_softmax_loss(scores, targets, mask)
    ref = {}
    dh, ref["W_oh"], ref["b_o"] = affine_backward(dscores, c_s)
    dx, dbv, ref["W_hx"], ref["W_hh"], ref["b_h"] = mrnn_backward(dh, c_h)
    ref["W_w"] = embedding_backward(dx, c_x)
    _, ref["W_hi"], _ = affine_backward(dbv, c_bv)

    got_loss, got = model.loss(batch)
    assert float(got_loss) == pytest.approx(float(loss), rel=1e-12)
    for k in P:
        np.testing.assert_allclose(to_host(got[k]), to_host(ref[k]), rtol=1e-9, atol=1e-12,
                                   err_msg=k)
