"""Ranking and caption batches, checked against a brute-force construction, sentence by
sentence, on a small dataset the test writes (uneven sentence counts, regions, padding)."""
import json

import numpy as np
import pytest

from vsa_np.data import (Vocab, caption_batches, encode_split, load_dataset, ranking_batches,
                         ranking_order)
from vsa_np.data.features import write_npz

WORDS = ["red", "blue", "dog", "cat", "runs", "sits", "big", "small"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """14 images: train 10 (1 to 6 sentences each), val 2, test 2; features (N, 6) .npy;
    regions.npz with 1 to 4 valid regions of 4."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("toy")
    splits = ["train"] * 10 + ["val"] * 2 + ["test"] * 2
    images, sentid = [], 0
    for i, split in enumerate(splits):
        sents = []
        for _ in range(int(rng.integers(1, 7)) if split == "train" else 2):
            tokens = list(rng.choice(WORDS, size=int(rng.integers(1, 9))))
            sents.append({"tokens": tokens, "raw": " ".join(tokens), "sentid": sentid})
            sentid += 1
        images.append({"filename": f"{i}.png", "imgid": i, "split": split, "sentences": sents})
    # one training sentence made only of a rare word: no in-vocabulary token
    images[0]["sentences"].append({"tokens": ["zebra"], "raw": "zebra", "sentid": sentid})
    (root / "dataset.json").write_text(json.dumps({"dataset": "toy", "images": images}))
    N, R, D = len(images), 4, 6
    np.save(root / "feats.npy", rng.standard_normal((N, D)).astype(np.float32))
    n_regions = rng.integers(1, R + 1, size=N)
    feats = rng.standard_normal((N, R, D)).astype(np.float32)
    feats[np.arange(R) >= n_regions[:, None]] = 0
    write_npz(root / "regions.npz", feats=feats, boxes=np.zeros((N, R, 4), np.float32),
              n_regions=n_regions)
    ds = load_dataset(root)
    vocab = Vocab.build(ds.sentences_of("train")[1], threshold=2)
    assert vocab.words and "zebra" not in vocab
    return ds, vocab


def sentence_table(ds):
    return {s["sentid"]: (i, s["tokens"]) for i, im in enumerate(ds.images)
            for s in im["sentences"]}


def test_features_are_memory_mapped(toy):
    ds, _ = toy
    assert isinstance(ds.feats, np.memmap) and isinstance(ds.region_feats, np.memmap)


def test_ranking_epoch(toy):
    ds, vocab = toy
    table = sentence_table(ds)
    batches = list(ranking_batches(ds, vocab, "train", 4, np.random.default_rng(1)))
    seen = np.concatenate([b["sent_idx"] for b in batches])
    usable = [sid for sid, (i, t) in table.items()
              if ds.images[i]["split"] == "train" and vocab.encode(t)]
    assert sorted(seen.tolist()) == sorted(usable)          # every usable sentence once
    assert "zebra" not in vocab                             # ... the all-unknown one left out
    for b in batches:
        B = len(b["image_idx"])
        assert 1 <= B <= 4 and len(set(b["image_idx"].tolist())) == B    # distinct images
        assert b["regions"].dtype == np.float32 and b["words"].dtype == np.int64
        assert b["region_mask"].dtype == bool and b["word_mask"].dtype == bool
        for k in range(B):
            img, tokens = table[int(b["sent_idx"][k])]
            assert b["image_idx"][k] == img
            ids = vocab.encode(tokens)
            L = len(ids)
            assert b["words"][k, :L].tolist() == ids and not b["words"][k, L:].any()
            assert b["word_mask"][k].tolist() == [t < L for t in range(b["words"].shape[1])]
            n = int(ds.n_regions[img])
            assert b["region_mask"][k].tolist() == [r < n for r in range(b["regions"].shape[1])]
            assert np.array_equal(b["regions"][k, :n], ds.region_feats[img, :n])
        assert b["word_mask"][:, -1].any() and b["region_mask"][:, -1].any()   # tight padding


def test_ranking_is_seeded(toy):
    ds, vocab = toy
    a = [b["sent_idx"].tolist() for b in ranking_batches(ds, vocab, "train", 4, 7)]
    b = [b["sent_idx"].tolist() for b in ranking_batches(ds, vocab, "train", 4, 7)]
    assert a == b
    rng = np.random.default_rng(7)
    first = [b["sent_idx"].tolist() for b in ranking_batches(ds, vocab, "train", 4, rng)]
    second = [b["sent_idx"].tolist() for b in ranking_batches(ds, vocab, "train", 4, rng)]
    assert first == a and second != first                   # a new shuffle each epoch


def test_ranking_without_regions(toy):
    ds, vocab = toy
    b = next(ranking_batches(ds, vocab, "val", 10, 0, regions=False))
    assert b["regions"].shape == (len(b["image_idx"]), 1, 6) and b["region_mask"].all()
    assert np.array_equal(b["regions"][:, 0], ds.feats[b["image_idx"]])


@pytest.mark.parametrize("seed", range(20))
def test_ranking_order_properties(seed):
    rng = np.random.default_rng(seed)
    n_images = int(rng.integers(1, 30))
    counts = rng.integers(1, 8, size=n_images)
    counts[0] = 15                                          # one image with many sentences
    img_idx = rng.permutation(np.repeat(np.arange(n_images), counts))
    B = int(rng.integers(2, 12))
    batches = ranking_order(img_idx, B, rng)
    allpos = np.concatenate(batches)
    assert sorted(allpos.tolist()) == list(range(len(img_idx)))
    for b in batches:
        assert 1 <= len(b) <= B and len(set(img_idx[b].tolist())) == len(b)
    # full batches while enough distinct images remain: at most one short batch per round
    assert sum(len(b) < B for b in batches) <= counts.max() + 1


def test_caption_epoch(toy):
    ds, vocab = toy
    table = sentence_table(ds)
    enc = encode_split(ds, vocab, "train")
    assert encode_split(ds, vocab, "train") is enc          # cached on the dataset
    batches = list(caption_batches(ds, vocab, "train", 5, np.random.default_rng(3)))
    img_seen = np.concatenate([b["image_idx"] for b in batches])
    assert len(img_seen) == len(enc.lengths)                # every sentence, zebra included
    assert sorted(img_seen.tolist()) == sorted(enc.img_idx.tolist())
    rows = []
    for b in batches:
        T = b["inputs"].shape[1]
        assert b["targets"].shape == b["mask"].shape == (len(b["image_idx"]), T)
        assert np.array_equal(b["feats"], ds.feats[b["image_idx"]])
        for k in range(len(b["image_idx"])):
            rows.append((int(b["image_idx"][k]), b["inputs"][k], b["targets"][k], b["mask"][k]))
    # brute force: every sentence gives [0, w..] -> [w.., 0] with L + 1 valid steps
    expected = {}
    for sid, (img, tokens) in table.items():
        if ds.images[img]["split"] == "train":
            expected.setdefault(img, []).append(vocab.encode(tokens))
    for img, inputs, targets, mask in rows:
        L = int(mask.sum()) - 1
        ids = inputs[1:L + 1].tolist()
        assert inputs[0] == 0 and targets[:L].tolist() == ids and targets[L] == 0
        assert mask.tolist() == [t <= L for t in range(len(mask))]
        expected[img].remove(ids)                           # each sentence exactly once
    assert all(not v for v in expected.values())


def test_caption_batches_seeded_and_unshuffled(toy):
    ds, vocab = toy
    a = [b["image_idx"].tolist() for b in caption_batches(ds, vocab, "train", 5, 11)]
    assert a == [b["image_idx"].tolist() for b in caption_batches(ds, vocab, "train", 5, 11)]
    plain = np.concatenate([b["image_idx"] for b in
                            caption_batches(ds, vocab, "test", 3, 0, shuffle=False)])
    assert np.array_equal(plain, ds.sentences_of("test")[0])


def test_bad_batch_size(toy):
    ds, vocab = toy
    for make in (ranking_batches, caption_batches):
        with pytest.raises(ValueError, match="batch_size"):
            next(make(ds, vocab, "train", 0, 0))


def test_caption_max_len_truncates(toy):
    ds, vocab = toy
    enc = encode_split(ds, vocab, "train")
    for b in caption_batches(ds, vocab, "train", 100, 0, shuffle=False, max_len=2):
        assert b["inputs"].shape[1] == 3 and b["mask"].sum(1).max() == 3
        full = enc.words[:len(b["image_idx"]), :2]
        assert np.array_equal(b["inputs"][:, 1:], full) and (b["targets"][:, 2] == 0).all()
