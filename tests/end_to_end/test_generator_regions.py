"""Region-level generation (Sec. 4.3): snippets from alignments, (region, snippet) pairs, and the
Table 3 evaluation on the ground-truth phrases of the shapes world."""
import json

import numpy as np
import pytest

from vsa_np.generator.region_data import (evaluate_regions, ground_truth_pairs,
                                          ground_truth_phrases, runs)


def test_runs():
    assert runs([2, 2, 0, 0, 0, 2]) == [(2, 0, 2), (0, 2, 5), (2, 5, 6)]
    assert runs([-1, 1, 1, -1, -1, 3, 1]) == [(1, 1, 3), (3, 5, 6), (1, 6, 7)]
    assert runs([]) == [] and runs([-1, -1]) == []


def test_ground_truth_phrases_follow_alignments_json(tiny_world):
    from vsa_np.data import load_dataset
    from vsa_np.data.shapes import load_alignments

    ds = load_dataset(tiny_world)
    al = load_alignments(tiny_world)
    phrases = ground_truth_phrases(ds, "test", al)
    img_idx, token_lists, sentids = ds.sentences_of("test")
    # every word naming one object region (and only it) is in exactly one phrase of that region;
    # count and plural phrases ("two shapes") name several regions and are left out
    expected = sum(sum(len(rs) == 1 and rs[0] >= 1 for rs in al[int(s)]["region_sets"])
                   for s in sentids)
    assert expected < sum(sum(r >= 1 for r in al[int(s)]["regions"]) for s in sentids)
    assert sum(len(p) for ps in phrases.values() for p in ps) == expected
    for (i, r), ps in phrases.items():
        assert 1 <= r < ds.n_regions[i]
        objects = json.loads((tiny_world / "dataset_shapes.json").read_text())["images"][i]
        obj = objects["objects"][r - 1]
        assert any(obj["colour"] in p for p in ps)        # the phrase names the object's colour


def test_ground_truth_pairs_are_caption_batches(tiny_world):
    from vsa_np.data import Vocab, caption_batch, load_dataset
    from vsa_np.data.shapes import load_alignments

    ds = load_dataset(tiny_world)
    vocab = Vocab.build(ds.sentences_of("train")[1], 2)
    pairs = ground_truth_pairs(ds, vocab, "train", load_alignments(tiny_world))
    assert len(pairs) == len(pairs.snippets) == len(pairs.feats)
    np.testing.assert_array_equal(pairs.feats[3], ds.region_feats[pairs.image[3], pairs.region[3]])
    b = caption_batch(pairs, pairs.enc, np.arange(5))
    assert b["feats"].shape == (5, ds.feature_dim)
    assert vocab.decode(b["targets"][0]) == [w for w in pairs.snippets[0] if w in vocab]


def test_evaluate_regions(tiny_world, tiny_run):
    from vsa_np.data import load_dataset
    from vsa_np.data.shapes import load_alignments
    from vsa_np.trained import load_generator

    ds = load_dataset(tiny_world)
    model, vocab, _ = load_generator(tiny_run[0])
    out = evaluate_regions({"model": (model, vocab), "same": (model, vocab)}, ds, "test",
                           beam=2, max_len=20, meteor=False)
    assert set(out) == {"model", "same", "nearest_neighbour"}
    assert out["model"]["BLEU-1"] == pytest.approx(out["same"]["BLEU-1"])
    n = len(ground_truth_phrases(ds, "test", load_alignments(tiny_world)))
    assert len(out["model"]["captions"]) == len(out["nearest_neighbour"]["captions"]) == n


def test_region_training_on_ground_truth_pairs(tiny_world, tmp_path):
    """`--from-alignments truth`: the trainer learns from (region, phrase) pairs; its validation
    scores region captions against the val regions' phrases."""
    from generator_world import TINY
    from vsa_np.generator.train import GenConfig, train_generator

    cfg = GenConfig(**dict(TINY, epochs=2, from_alignments="truth"))
    summary = train_generator(tiny_world, tmp_path / "reg", cfg, quiet=True)
    val = summary["last"]["val"]
    assert val["perplexity"] > 1 and 0 <= val["BLEU-1"] <= 1
    # a phrase is a few words: far fewer tokens than the full captions of the val images
    assert val["tokens"] < 0.8 * sum(len(s["tokens"]) + 1 for s in _val_sentences(tiny_world))


def _val_sentences(world):
    from vsa_np.data import load_dataset

    ds = load_dataset(world)
    return [s for i in ds.split_indices("val") for s in ds.images[i]["sentences"]]


@pytest.fixture(scope="module")
def alignment_ckpt(tiny_world, tmp_path_factory):
    """An (untrained, seeded) alignment model saved as `train-align` saves it."""
    from vsa_np.core.alignment import AlignmentModel
    from vsa_np.checkpoint import save_checkpoint
    from vsa_np.data import Vocab, load_dataset

    ds = load_dataset(tiny_world)
    vocab = Vocab.build(ds.sentences_of("train")[1], 2)
    m = AlignmentModel(len(vocab), ds.feature_dim, word_dim=8, hidden=8, embed=16, seed=3)
    path = tmp_path_factory.mktemp("align") / "best"
    save_checkpoint(path, m.params, {"model": "alignment", "arch": m.arch,
                                     "vocab": vocab.to_json()})
    return path, m, vocab, ds


def test_mrf_pairs_beta_zero_are_runs_of_each_words_best_region(alignment_ckpt):
    from vsa_np.generator.region_data import mrf_pairs

    path, m, vocab, ds = alignment_ckpt
    pairs = mrf_pairs(path, ds, vocab, "val", beta=0.0)
    expect = []
    img_idx, token_lists, _ = ds.sentences_of("val")
    for i, tokens in zip(img_idx, token_lists):
        ids, pos = vocab.encode_positions(tokens)
        R = int(ds.n_regions[i])
        best = np.argmax(np.asarray(m.word_region_scores(ds.region_feats[i, :R], ids)), axis=1)
        expect += [(int(i), r, [tokens[p] for p in pos[s:e]]) for r, s, e in runs(best)]
    assert [(int(i), int(r), s) for i, r, s in zip(pairs.image, pairs.region, pairs.snippets)] \
        == expect


def test_mrf_pairs_large_beta_one_snippet_per_sentence(alignment_ckpt):
    from vsa_np.generator.region_data import mrf_pairs

    path, m, vocab, ds = alignment_ckpt
    pairs = mrf_pairs(path, ds, vocab, "val", beta=1e6)
    _, token_lists, _ = ds.sentences_of("val")
    assert pairs.snippets == [[w for w in t if w in vocab] for t in token_lists]
