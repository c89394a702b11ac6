"""The data layer against the real files in ../shared/data (skipped when they are absent):
published facts of Flickr8K (paper, Sec. 4) and the paper's own example features."""
import json

import numpy as np
import pytest
import scipy.io

from vsa_np.cli import main
from vsa_np.data import Vocab, load_dataset
from vsa_np.data.dataset import read_flickr8k_text
from vsa_np.data.features import read_features, read_named_features
from vsa_np.errors import DataError


@pytest.fixture(scope="module")
def flickr(shared_data):
    return shared_data / "flickr8k"


@pytest.fixture(scope="module")
def flickr_ds(flickr):
    return load_dataset(flickr)


@pytest.fixture(scope="module")
def karpathy_json(flickr):
    with open(flickr / "dataset_flickr8k.json", encoding="utf-8") as f:
        return json.load(f)


def test_tokens_from_the_text_release_equal_karpathys(flickr, karpathy_json):
    images = read_flickr8k_text(flickr)     # tokenises Flickr8k.token.txt itself
    ref = karpathy_json["images"]
    assert [im["filename"] for im in images] == [im["filename"] for im in ref]
    assert [im["split"] for im in images] == [im["split"] for im in ref]
    ours = [s["tokens"] for im in images for s in im["sentences"]]
    theirs = [s["tokens"] for im in ref for s in im["sentences"]]
    assert len(ours) == len(theirs) == 40000
    mismatches = [(a, b) for a, b in zip(ours, theirs) if a != b]
    assert not mismatches, mismatches[:3]
    # the one bad name of the token file belongs to no split and is left out
    assert "2258277193_586949ec62.jpg.1" not in {im["filename"] for im in images}


def test_text_release_and_json_load_the_same(flickr, flickr_ds, tmp_path):
    # a folder holding only the text release (links, not copies)
    for name in ("Flickr8k.token.txt", "Flickr_8k.trainImages.txt", "Flickr_8k.devImages.txt",
                 "Flickr_8k.testImages.txt"):
        (tmp_path / name).symlink_to(flickr / name)
    a, b = load_dataset(tmp_path), flickr_ds
    assert a.name == b.name == "flickr8k"
    assert a.captions_file.name == "Flickr8k.token.txt"
    assert b.captions_file.name == "dataset_flickr8k.json"
    for split in ("train", "val", "test"):
        ia, ta, sa = a.sentences_of(split)
        ib, tb, sb = b.sentences_of(split)
        assert np.array_equal(ia, ib) and ta == tb and np.array_equal(sa, sb)


def test_splits_and_sentences(flickr_ds):
    ds = flickr_ds
    assert [len(ds.split_indices(s)) for s in ("train", "val", "test")] == [6000, 1000, 1000]
    assert all(len(im["sentences"]) == 5 for im in ds.images)
    assert ds.feats is None and ds.region_feats is None   # captions only


def test_vocabulary_is_the_papers_2538(flickr_ds):
    vocab = Vocab.build(flickr_ds.sentences_of("train")[1], threshold=5)
    assert len(vocab.words) == 2537 and len(vocab) == 2538


def test_data_info_json(flickr, capsys):
    assert main(["data-info", str(flickr), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert set(info) == {"images", "sentences", "vocab", "feature_dim", "regions_per_image",
                         "caption_length"}
    assert info["images"] == {"train": 6000, "val": 1000, "test": 1000}
    assert info["sentences"] == {"train": 30000, "val": 5000, "test": 5000}
    assert info["vocab"] == {"words": 2537, "size": 2538}
    assert info["feature_dim"] is None and info["regions_per_image"] is None
    assert round(info["caption_length"]["mean"], 1) == 10.8      # data README: 10.8 and 37
    assert info["caption_length"]["max"] == 37


def test_data_info_text(flickr, capsys):
    assert main(["data-info", str(flickr)]) == 0
    out = capsys.readouterr().out
    assert "2537 words" in out and "2538" in out and "captions only" in out


def test_neuraltalk_example_features(shared_data):
    folder = shared_data / "neuraltalk_examples"
    names, feats = read_named_features(folder)
    tasks = (folder / "tasks.txt").read_text().split()
    result = json.loads((folder / "result_struct.json").read_text())
    assert names == tasks == [b["img_path"] for b in result["imgblobs"]]
    assert feats.shape == (16, 4096) and feats.dtype == np.float32
    raw = scipy.io.loadmat(str(folder / "vgg_feats.mat"))["feats"]     # (4096, 16)
    for i in range(16):
        assert np.array_equal(feats[i], raw[:, i])                     # column i = line i
    assert feats.min() >= 0 and (feats == 0).mean() > 0.5              # fc7 after a ReLU


def test_neuraltalk_features_checked_against_the_image_count(shared_data):
    path = shared_data / "neuraltalk_examples" / "vgg_feats.mat"
    assert read_features(path, 16).shape == (16, 4096)
    with pytest.raises(DataError, match="16 feature vectors for 4096 images.*transposed") as e:
        read_features(path, 4096)
    assert str(path) in str(e.value)
