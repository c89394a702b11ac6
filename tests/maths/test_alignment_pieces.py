"""Word-vector loading and alignment scoring, on small hand-made inputs."""
import numpy as np
import pytest

from vsa_np.alignment.alignment_eval import (alignment_accuracy, boxes_only, gold_sets,
                                             whole_image_share)
from vsa_np.alignment.word_vectors import load_word_vectors, read_word_vectors
from vsa_np.backend import to_host, xp
from vsa_np.data import Vocab
from vsa_np.errors import DataError


def test_word_vectors_text_formats(tmp_path):
    vocab = Vocab(["red", "circle", "square"])
    W = xp.zeros((len(vocab), 3))
    f = tmp_path / "vec.txt"
    f.write_text("4 3\nred 1 2 3\nblue 9 9 9\nsquare -1 0.5 2e-1\n<end> 7 7 7\n")
    assert load_word_vectors(f, vocab, W) == 2
    W = to_host(W)
    np.testing.assert_allclose(W[vocab.index["red"]], [1, 2, 3])
    np.testing.assert_allclose(W[vocab.index["square"]], [-1, 0.5, 0.2])
    assert not W[vocab.index["circle"]].any() and not W[0].any()   # missing word, <end> row
    glove = tmp_path / "glove.txt"                                    # no header line
    glove.write_text("circle 0 1 0\n")
    assert read_word_vectors(glove, ["circle"])["circle"].tolist() == [0, 1, 0]


def test_word_vectors_errors(tmp_path):
    vocab = Vocab(["red"])
    with pytest.raises(DataError, match="not found"):
        load_word_vectors(tmp_path / "none.txt", vocab, xp.zeros((2, 3)))
    bad = tmp_path / "bad.txt"
    bad.write_text("red 1 2 3\nblue 1 2\n")
    with pytest.raises(DataError, match=r"bad.txt:2"):
        read_word_vectors(bad, ["red"])
    wrong_dim = tmp_path / "dim.txt"
    wrong_dim.write_text("red 1 2\n")
    with pytest.raises(DataError, match="--word-dim 2"):
        load_word_vectors(wrong_dim, vocab, xp.zeros((2, 3)))
    for entry in ("nan", "-inf", "1e39"):             # parsed by float(), unusable as weights
        not_finite = tmp_path / "nan.txt"
        not_finite.write_text(f"2 3\nblue 1 2 3\nred 1 {entry} 3\n")
        with pytest.raises(DataError, match=r"nan.txt:3: the vector of 'red' .* not a finite"):
            read_word_vectors(not_finite, ["red"])
    assert read_word_vectors(not_finite, ["blue"])["blue"].tolist() == [1, 2, 3]  # unread: kept
    binary = tmp_path / "vec.bin"
    binary.write_bytes(b"2 3\nred \xff\xfe\x00\x01")
    with pytest.raises(DataError, match="UTF-8"):
        read_word_vectors(binary, ["red"])


def test_alignment_accuracy_by_hand():
    # sentence 0: tokens "a red circle and a square" -> object words at 1, 2, 5
    alignments = {7: {"region_sets": [[], [1], [1], [], [], [2, 3]]}}
    positions = np.array([[0, 1, 2, 3, 4, 5]])
    gold = gold_sets(alignments, [7], positions, "x")
    assert gold == [[[], [1], [1], [], [], [2, 3]]]
    acc, n = alignment_accuracy(np.array([[0, 1, 2, 0, 0, 3]]), gold)
    assert n == 3 and acc == pytest.approx(200 / 3)       # "circle" on region 2 is wrong
    with pytest.raises(DataError, match="sentence 8"):
        gold_sets(alignments, [8], positions, "x")
    # two of the three object words decoded onto region 0, the whole picture
    assert whole_image_share(np.array([[0, 0, 1, 0, 0, 0]]), gold) == pytest.approx(200 / 3)


def test_boxes_only_drops_the_whole_picture_where_there_are_boxes():
    rm = np.array([[True, True, True, False],     # whole picture + two boxes
                   [True, False, False, False],   # the whole picture alone: kept
                   [False, True, False, False]])
    assert boxes_only(rm).tolist() == [[False, True, True, False], [True, False, False, False],
                                       [False, True, False, False]]
    assert rm[0, 0]                                # the caller's mask is not changed

