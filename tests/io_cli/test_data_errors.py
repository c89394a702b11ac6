"""Every bad-input path of the data layer, on small files the tests write: each raises DataError
whose message names the file and the problem (and the CLI turns it into one line, exit code 2)."""
import json

import numpy as np
import pytest
import scipy.io

from vsa_np.cli import main
from vsa_np.data import load_dataset, tokenize
from vsa_np.data.features import read_features, write_npz
from vsa_np.errors import DataError

SPLITS = ["train", "train", "train", "val", "test"]


def write_json(folder, splits=SPLITS, captions=None, name="dataset_toy.json"):
    images = []
    for i, split in enumerate(splits):
        sents = captions[i] if captions else [f"A dog number {i} runs .", "A cat sits ."]
        images.append({"filename": f"{i}.jpg", "imgid": i, "split": split,
                       "sentences": [{"raw": r, "tokens": tokenize(r)}
                                     for r in sents]})
    path = folder / name
    path.write_text(json.dumps({"dataset": "toy", "images": images}))
    return path


def write_mat(folder, feats_dn, var="feats"):
    path = folder / "vgg_feats.mat"
    scipy.io.savemat(str(path), {var: feats_dn})
    return path


def expect(exc_info, path, *fragments):
    msg = str(exc_info.value)
    assert str(path) in msg, msg
    for f in fragments:
        assert f in msg, msg


def test_good_folder_loads(tmp_path):
    write_json(tmp_path)
    write_mat(tmp_path, np.ones((8, 5), np.float32))
    ds = load_dataset(tmp_path)
    assert ds.feats.shape == (5, 8) and ds.region_feats.shape == (5, 1, 8)
    assert np.shares_memory(ds.region_feats, ds.feats)         # one region: a view, no copy


def test_missing_folder(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "nowhere")
    expect(e, tmp_path / "nowhere", "no such file or folder")


def test_missing_captions(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "dataset.json", "caption file not found")


def test_missing_features_when_required(tmp_path):
    write_json(tmp_path)
    assert load_dataset(tmp_path).feats is None                # optional by default
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path, features=True)
    expect(e, tmp_path / "vgg_feats.mat", "feature file not found")
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path).require_features()
    expect(e, tmp_path, "no image features")


def test_missing_regions_when_required(tmp_path):
    write_json(tmp_path)
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path, regions=True)
    expect(e, tmp_path / "regions.npz", "region file not found")


def test_feats_variable_absent(tmp_path):
    write_json(tmp_path)
    path = write_mat(tmp_path, np.ones((8, 5), np.float32), var="features")
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, path, "no variable `feats`", "found: features")


@pytest.mark.parametrize("shape, fragments", [
    ((8, 4), ["4 feature vectors for 5 images"]),
    ((5, 8), ["8 feature vectors for 5 images", "transposed"]),   # one image per ROW: wrong
    ((0, 5), ["(5, 0)", "at least one image and one dimension"]),  # no numbers at all
])
def test_feature_count_mismatch(tmp_path, shape, fragments):
    write_json(tmp_path)
    path = write_mat(tmp_path, np.ones(shape, np.float32))
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, path, *fragments)


def test_feature_count_mismatch_npy(tmp_path):
    write_json(tmp_path)
    np.save(tmp_path / "feats.npy", np.ones((6, 8), np.float32))
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "feats.npy", "6 feature vectors for 5 images")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_mat(tmp_path, bad):
    write_json(tmp_path)
    feats = np.ones((8, 5), np.float32)
    feats[3, 2] = bad
    path = write_mat(tmp_path, feats)
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, path, "NaN or inf", "(2, 3)")                    # image 2, dimension 3


def test_non_finite_features_npy_and_npz(tmp_path):
    feats = np.ones((5, 8), np.float32)
    feats[4, 0] = np.inf
    np.save(tmp_path / "f.npy", feats)
    with pytest.raises(DataError) as e:
        read_features(tmp_path / "f.npy", 5)
    expect(e, tmp_path / "f.npy", "NaN or inf")
    np.savez(tmp_path / "f.npz", feats=feats)
    with pytest.raises(DataError) as e:
        read_features(tmp_path / "f.npz", 5)
    expect(e, tmp_path / "f.npz", "NaN or inf")


def test_npz_without_feats(tmp_path):
    np.savez(tmp_path / "f.npz", a=np.ones((5, 2)), b=np.ones(3))
    with pytest.raises(DataError) as e:
        read_features(tmp_path / "f.npz", 5)
    expect(e, tmp_path / "f.npz", "no `feats` array")


def test_unreadable_feature_files(tmp_path):
    (tmp_path / "f.mat").write_bytes(b"not a mat file at all" * 10)
    (tmp_path / "f.npy").write_bytes(b"garbage")
    (tmp_path / "f.txt").write_text("1 2 3")
    for name, fragment in (("f.mat", "not a readable MATLAB file"),
                           ("f.npy", "not a readable .npy file"),
                           ("f.txt", "unknown feature format")):
        with pytest.raises(DataError) as e:
            read_features(tmp_path / name)
        expect(e, tmp_path / name, fragment)


def test_split_with_no_images(tmp_path):
    path = write_json(tmp_path, splits=["train", "train", "test"])
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, path, "split 'val' has no images")


def test_unknown_split(tmp_path):
    path = write_json(tmp_path, splits=["train", "val", "test", "holdout"])
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, path, "'holdout'")


def test_restval_counts_as_train(tmp_path):
    write_json(tmp_path, splits=["train", "restval", "val", "test"])
    assert len(load_dataset(tmp_path).split_indices("train")) == 2


def test_empty_caption_json(tmp_path):
    captions = [["A dog ."], ["!!! ."], ["A cat ."], ["A cow ."]]
    path = write_json(tmp_path, splits=["train", "train", "val", "test"], captions=captions)
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, path, "empty caption", "1.jpg")


def test_tokens_computed_from_raw_when_absent(tmp_path):
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"images": [
        {"filename": f"{i}.jpg", "split": s, "sentences": [{"raw": "A black-and-white dog."}]}
        for i, s in enumerate(["train", "val", "test"])]}))
    ds = load_dataset(path)
    assert ds.images[0]["sentences"][0]["tokens"] == ["a", "black", "and", "white", "dog"]
    assert [s["sentid"] for im in ds.images for s in im["sentences"]] == [0, 1, 2]


def test_malformed_json(tmp_path):
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "dataset.json", "not a readable captions file")
    (tmp_path / "dataset.json").write_text(json.dumps({"images": [{"filename": "a.jpg"}]}))
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "dataset.json", "image 0", "missing or malformed")


def write_flickr_text(folder, lines, splits=(["a.jpg"], ["b.jpg"], ["c.jpg"])):
    (folder / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    for name, images in zip(("train", "dev", "test"), splits):
        (folder / f"Flickr_8k.{name}Images.txt").write_text("\n".join(images) + "\n")


def test_flickr_text_release_errors(tmp_path):
    good = ["a.jpg#0\tA dog .", "b.jpg#0\tA cat .", "c.jpg#0\tA cow ."]
    write_flickr_text(tmp_path, good)
    assert len(load_dataset(tmp_path)) == 3

    write_flickr_text(tmp_path, good[:1] + ["b.jpg#0\t !? ."] + good[2:])
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "Flickr8k.token.txt", ":2:", "empty caption", "b.jpg#0")

    write_flickr_text(tmp_path, good + ["no tab here"])
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "Flickr8k.token.txt", ":4:", "expected")

    write_flickr_text(tmp_path, good[:2])
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "Flickr_8k.testImages.txt", "c.jpg has no captions")

    write_flickr_text(tmp_path, good + ["a.jpg#0\tA red dog ."])       # a repeated #n
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "Flickr8k.token.txt", ":4:", "a.jpg#0", "line 1")

    write_flickr_text(tmp_path, good[:2] + ["c.jpg#" + "9" * 5000 + "\tA cow ."])
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "Flickr8k.token.txt", ":3:", "too long")

    write_flickr_text(tmp_path, good, splits=(["a.jpg", "c.jpg"], ["b.jpg"], ["c.jpg"]))
    with pytest.raises(DataError) as e:                                  # a test leak
        load_dataset(tmp_path)
    expect(e, tmp_path / "Flickr_8k.testImages.txt", "c.jpg", "trainImages")

    write_flickr_text(tmp_path, good, splits=(["a.jpg", "a.jpg"], ["b.jpg"], ["c.jpg"]))
    with pytest.raises(DataError) as e:                                  # listed twice
        load_dataset(tmp_path)
    expect(e, tmp_path / "Flickr_8k.trainImages.txt", "a.jpg", "listed again")

    write_flickr_text(tmp_path, good)
    (tmp_path / "Flickr_8k.devImages.txt").unlink()
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, tmp_path / "Flickr_8k.devImages.txt", "split file not found")


def write_regions(folder, n=5, R=3, D=8, **override):
    arrays = {"feats": np.ones((n, R, D), np.float32), "boxes": np.zeros((n, R, 4), np.float32),
              "n_regions": np.full(n, R)}
    arrays.update(override)
    write_npz(folder / "regions.npz", **{k: v for k, v in arrays.items() if v is not None})
    return folder / "regions.npz"


def test_region_file_errors(tmp_path):
    write_json(tmp_path)
    write_mat(tmp_path, np.ones((8, 5), np.float32))
    path = write_regions(tmp_path)
    ds = load_dataset(tmp_path)
    assert ds.region_feats.shape == (5, 3, 8) and isinstance(ds.region_feats, np.memmap)

    cases = [(dict(boxes=None), "missing array(s) boxes"),
             (dict(n=4, n_regions=np.full(5, 3)), "region features for 4 images"),
             (dict(D=6), "dimension 6"),
             (dict(n_regions=np.array([3, 3, 0, 3, 3])), "`n_regions`"),
             (dict(boxes=np.zeros((5, 2, 4))), "`boxes` has shape")]
    for override, fragment in cases:
        write_regions(tmp_path, **override)
        with pytest.raises(DataError) as e:
            load_dataset(tmp_path)
        expect(e, path, fragment)
    bad = np.ones((5, 3, 8), np.float32)
    bad[1, 2, 3] = np.nan
    write_regions(tmp_path, feats=bad)
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path)
    expect(e, path, "region features contain NaN or inf", "(1, 2, 3)")
    assert load_dataset(tmp_path, regions=False).region_feats.shape == (5, 1, 8)


def test_cli_reports_one_line_and_exit_code_2(tmp_path, capsys):
    write_json(tmp_path, splits=["train", "test"])
    assert main(["data-info", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("vsa-np data-info: error:") and "split 'val' has no images" in err
