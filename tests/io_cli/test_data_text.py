"""Tokeniser and vocabulary (paper, Sec. 4) on small hand-made inputs."""
import pytest

from vsa_np.data import END, END_WORD, Vocab, tokenize
from vsa_np.errors import DataError


@pytest.mark.parametrize("raw, tokens", [
    ("A black-and-white dog's toy .", ["a", "black", "and", "white", "dogs", "toy"]),
    ("Score: 3=3 (a&b) #1!", ["score:", "3=3", "(a&b)", "#1"]),   # kept: # ( ) & : =
    ("snake_case, \"quoted\"; semi", ["snakecase", "quoted", "semi"]),  # _ is not alphanumeric
    ("  Two\tspaces\n here ", ["two", "spaces", "here"]),
    ("Café crème", ["café", "crème"]),
    (" . ", []),
])
def test_tokenize(raw, tokens):
    assert tokenize(raw) == tokens


def test_end_token_cannot_come_from_text():
    assert tokenize(END_WORD) == ["end"]


def _vocab():
    sents = [["a", "dog", "runs"], ["a", "dog"], ["a", "cat", "runs"], ["the", "dog"]]
    return Vocab.build(sents, threshold=2)


def test_build_threshold_and_order():
    v = _vocab()
    # counts: a 3, dog 3, runs 2, cat 1, the 1 -> by count, ties alphabetical
    assert v.words == ["a", "dog", "runs"]
    assert len(v) == 4 and v.counts.tolist() == [4, 3, 3, 2]   # counts[0] = sentences (END)
    assert "dog" in v and "cat" not in v
    assert Vocab.build([["x"]] * 4, threshold=5).words == []


def test_encode_drops_unknown_words_and_reports_positions():
    v = _vocab()
    assert v.encode(["the", "dog", "runs", "fast"]) == [2, 3]
    ids, positions = v.encode_positions(["the", "dog", "runs", "fast"])
    assert ids == [2, 3] and positions == [1, 2]


def test_decode_stops_at_end():
    v = _vocab()
    assert v.decode([1, 2, 0, 3]) == ["a", "dog"]
    assert v.decode([3, 3]) == ["runs", "runs"]
    with pytest.raises(IndexError):
        v.decode([7])


def test_json_round_trip():
    v = _vocab()
    w = Vocab.from_json(v.to_json())
    assert w == v and w.counts.tolist() == v.counts.tolist() and w.threshold == 2
    assert v.to_json()["end_token"] == END_WORD and v.decode([v.index["a"], END, 1]) == ["a"]


def test_bad_vocabularies():
    with pytest.raises(DataError, match="threshold"):
        Vocab.build([["a"]], threshold=0)
    with pytest.raises(DataError, match="reserved"):
        Vocab([END_WORD, "a"])
    with pytest.raises(DataError, match="`words` must be a list"):
        Vocab.from_json({"counts": []})
