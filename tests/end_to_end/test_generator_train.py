"""Training the generator on a tiny shapes world: it learns (validation perplexity far below the
unigram model's), writes its run folder, resumes exactly, and stops on NaN."""
import dataclasses
import json
import math

import numpy as np
import pytest

from generator_world import TINY
from vsa_np.checkpoint import load_checkpoint
from vsa_np.errors import TrainingError, UserError
from vsa_np.generator.train import GenConfig, train_generator


def unigram_perplexity(world, threshold):
    """Perplexity of the best context-free model: the training frequencies of the outputs."""
    from vsa_np.data import Vocab, encode_split, load_dataset

    ds = load_dataset(world)
    vocab = Vocab.build(ds.sentences_of("train")[1], threshold)
    p = vocab.counts / vocab.counts.sum()
    enc = encode_split(ds, vocab, "val")
    targets = np.concatenate([np.r_[w[:n], 0] for w, n in zip(enc.words, enc.lengths)])
    return math.exp(-np.log(p[targets]).mean())


def test_training_learns_and_writes_its_run(tiny_world, tiny_run):
    out, summary = tiny_run
    for name in ("best.npz", "best.json", "last.npz", "last.json", "log.json"):
        assert (out / name).is_file()
    log = json.loads((out / "log.json").read_text())
    losses = [r["loss"] for r in log["train"]]
    assert len(losses) == summary["steps"] == TINY["epochs"] * math.ceil(200 / 40)
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    evals = log["eval"]
    assert len(evals) == TINY["epochs"]                       # one validation per epoch
    val = evals[-1]["val"]
    assert val["perplexity"] < 0.5 * unigram_perplexity(tiny_world, TINY["word_threshold"])
    for k in ("BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr-D"):
        assert 0 <= val[k] and math.isfinite(val[k])
    _, meta, _ = load_checkpoint(out / "best")
    assert meta["model"] == "generator" and meta["config"]["hidden"] == TINY["hidden"]
    assert meta["arch"] == {"vocab_size": summary["vocab_size"], "image_dim": 128,
                            "word_dim": TINY["word_dim"], "hidden": TINY["hidden"],
                            "image_every_step": True, "cell": "lstm"}
    assert meta["train_state"]["best_key"] == "val/perplexity"
    best = min(e["val"]["perplexity"] for e in evals)
    assert meta["metrics"]["val"]["perplexity"] == pytest.approx(best)


def test_resume_is_exact(tiny_world, tmp_path):
    cfg = GenConfig(**dict(TINY, epochs=2))
    train_generator(tiny_world, tmp_path / "a", cfg, quiet=True)
    train_generator(tiny_world, tmp_path / "b", dataclasses.replace(cfg, epochs=1), quiet=True)
    with pytest.raises(UserError, match="--resume"):
        train_generator(tiny_world, tmp_path / "b", cfg, quiet=True)
    train_generator(tiny_world, tmp_path / "b", cfg, resume=True, quiet=True)
    pa, ma, _ = load_checkpoint(tmp_path / "a" / "last")
    pb, mb, _ = load_checkpoint(tmp_path / "b" / "last")
    assert ma["train_state"]["step"] == mb["train_state"]["step"] == 10
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_stops_training(tiny_world, tmp_path):
    cfg = GenConfig(**dict(TINY, lr=1e30, grad_clip=0.0, epochs=3))
    with pytest.raises(TrainingError, match="loss is"):
        train_generator(tiny_world, tmp_path / "nan", cfg, quiet=True)
    log = json.loads((tmp_path / "nan" / "log.json").read_text())
    assert all(math.isfinite(r["loss"]) for r in log["train"])


def test_image_every_step_is_trained_saved_and_decoded(tiny_world, tmp_path):
    """`image_every_step` reaches the model, is saved in the checkpoint's arch and comes back with
    it; the reloaded model's captions are the trained model's (b_v at every step when decoding)."""
    from vsa_np.data import load_dataset
    from vsa_np.core.generator import beam_search
    from vsa_np.trained import load_generator

    cfg = GenConfig(**{**TINY, "epochs": 1}, image_every_step=True)
    train_generator(tiny_world, tmp_path / "g", cfg, quiet=True, log=lambda *a: None)
    model, vocab, meta = load_generator(tmp_path / "g")
    assert meta["arch"]["image_every_step"] is True and model.image_every_step
    feats = np.asarray(load_dataset(tiny_world).feats[:5])
    every = beam_search(model, feats, beam=3, max_len=8)
    model.image_every_step = False               # the same weights, b_v at t = 1 only
    once = beam_search(model, feats, beam=3, max_len=8)
    assert every.logprob != once.logprob
