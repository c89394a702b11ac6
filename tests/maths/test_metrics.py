"""vsa_np.metrics against coco-caption (the pycocoevalcap package) on the same tokens, against
hand-computed values, and the `vsa-np score` command."""
import json
import math
import random
import shutil
import time

import numpy as np
import pytest

from vsa_np.cli import main
from vsa_np.errors import DataError
from vsa_np.metrics import KEYS, prepare, score_all
import vsa_np.metrics.meteor as meteor_mod
from vsa_np.metrics.bleu import corpus_bleu
from vsa_np.metrics.cider import cider_d, cider_d_per_image
from vsa_np.metrics.ngrams import build_corpus
from vsa_np.metrics.rouge import lcs_lengths, rouge_l, rouge_l_per_image
from vsa_np.data.tokenize import tokenize

TOL = 1e-6


# ---------------------------------------------------------------- corpora and the reference scorers

def random_corpus(seed, n_images, vocab, refs_per_image, ref_len, hyp_len, hyp_fn=None):
    """N images: refs = random sentences over the first `vocab` words; hyps by hyp_fn or random."""
    rng = random.Random(seed)
    words = "a dog man the red ball runs on grass in water two with big of near".split()[:vocab]

    def sentence(lo, hi):
        return [rng.choice(words) for _ in range(rng.randint(lo, hi))]

    refs = [[sentence(*ref_len) for _ in range(rng.randint(*refs_per_image))]
            for _ in range(n_images)]
    hyps = [hyp_fn(rng, words) if hyp_fn else sentence(*hyp_len) for _ in range(n_images)]
    return refs, hyps


CORPORA = {
    # name: (seed, n_images, vocab, refs per image, ref length, hyp length, hyp_fn)
    "tiny-vocab-repeats": (0, 30, 4, (1, 5), (1, 12), (1, 20), None),
    "five-refs": (1, 60, 12, (5, 5), (3, 15), (3, 15), None),
    "one-image": (2, 1, 8, (3, 3), (4, 9), (4, 9), None),
    "one-ref-each": (3, 25, 8, (1, 1), (2, 10), (2, 10), None),
    "single-word-hyps": (4, 20, 6, (2, 5), (1, 8), None, lambda r, w: [r.choice(w)]),
    "repeated-word-hyps": (5, 20, 6, (2, 5), (2, 8), None, lambda r, w: [w[0]] * r.randint(2, 9)),
    "hyps-longer": (6, 30, 10, (1, 4), (2, 5), (15, 30), None),
    "hyps-shorter": (7, 30, 10, (1, 4), (10, 20), (1, 4), None),
    "empty-sentences": (8, 30, 5, (1, 4), (0, 6), (0, 6), None),
}


def coco_inputs(refs, hyps):
    """Token lists -> coco-caption's {id: [sentence strings]} dictionaries."""
    gts = {i: [" ".join(s) for s in r] for i, r in enumerate(refs)}
    res = {i: [" ".join(h)] for i, h in enumerate(hyps)}
    return gts, res


def coco_scores(refs, hyps):
    """BLEU-1..4, CIDEr-D and ROUGE-L (corpus and per image) from pycocoevalcap."""
    bleu_mod = pytest.importorskip("pycocoevalcap.bleu.bleu")
    cider_mod = pytest.importorskip("pycocoevalcap.cider.cider")
    rouge_mod = pytest.importorskip("pycocoevalcap.rouge.rouge")
    gts, res = coco_inputs(refs, hyps)
    b, _ = bleu_mod.Bleu(4).compute_score(gts, res, verbose=0)
    c, c_img = cider_mod.Cider().compute_score(gts, res)
    r, r_img = rouge_mod.Rouge().compute_score(gts, res)
    return {"bleu": b, "cider": c, "cider_img": c_img, "rouge": r, "rouge_img": r_img}


def assert_matches_coco(refs, hyps):
    ours_corpus = build_corpus(refs, hyps)
    want = coco_scores(refs, hyps)
    np.testing.assert_allclose(corpus_bleu(ours_corpus), want["bleu"], rtol=0, atol=TOL)
    np.testing.assert_allclose(cider_d(ours_corpus), want["cider"], rtol=0, atol=TOL)
    np.testing.assert_allclose(cider_d_per_image(ours_corpus), want["cider_img"], rtol=0, atol=TOL)
    np.testing.assert_allclose(rouge_l(refs, hyps), want["rouge"], rtol=0, atol=TOL)
    np.testing.assert_allclose(rouge_l_per_image(refs, hyps), want["rouge_img"], rtol=0, atol=TOL)
    # and the whole pipeline agrees with the single scorers
    got = score_all(refs, hyps, use_meteor=False)
    assert [got[k] for k in KEYS[:4]] == corpus_bleu(ours_corpus)
    assert got["CIDEr-D"] == cider_d(ours_corpus) and got["METEOR"] is None


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_equals_pycocoevalcap_on_random_corpora(name):
    refs, hyps = random_corpus(*CORPORA[name])
    assert_matches_coco(refs, hyps)


def flickr_test_captions(root, n_images=200):
    """(refs, hyps) of the first n test images: hyp = sentence 0, refs = the other four. From the
    Karpathy dataset.json when present, else from the original token file through our tokeniser."""
    js = root / "flickr8k" / "dataset_flickr8k.json"
    if js.is_file():
        images = [im for im in json.loads(js.read_text())["images"] if im["split"] == "test"]
        caps = [[s["tokens"] for s in im["sentences"]] for im in images[:n_images]]
    else:
        test = (root / "flickr8k" / "Flickr_8k.testImages.txt").read_text().split()[:n_images]
        by_image = {}
        for line in (root / "flickr8k" / "Flickr8k.token.txt").read_text().splitlines():
            name, _, text = line.partition("\t")
            by_image.setdefault(name.split("#")[0], []).append(tokenize(text))
        caps = [by_image[name] for name in test]
    return [c[1:] for c in caps], [c[0] for c in caps]


def test_equals_pycocoevalcap_on_flickr8k_captions(shared_data):
    refs, hyps = flickr_test_captions(shared_data)
    assert len(hyps) == 200 and all(len(r) == 4 for r in refs)
    assert_matches_coco(refs, hyps)


# ---------------------------------------------------------------------- hand-computed values

def test_bleu_by_hand():
    # hyp "the cat sat on the mat" vs ref "the cat is on the mat": unigrams the x2, cat, on, mat
    # match (5 of 6); bigrams "the cat", "on the", "the mat" (3 of 5); same length, no penalty.
    scores = corpus_bleu(build_corpus([[["the", "cat", "is", "on", "the", "mat"]]],
                               [["the", "cat", "sat", "on", "the", "mat"]]))
    assert scores[0] == pytest.approx(5 / 6, abs=1e-9)
    assert scores[1] == pytest.approx(math.sqrt(5 / 6 * 3 / 5), abs=1e-9)
    # "the cat" against a 6-word reference: both words match, brevity penalty exp(1 - 6/2).
    short = corpus_bleu(build_corpus([[["the", "cat", "sat", "on", "the", "mat"]]],
                                     [["the", "cat"]]))
    assert short[0] == pytest.approx(math.exp(-2), abs=1e-9)


def test_bleu_closest_reference_length_prefers_the_shorter_on_ties():
    # hyp of 4 words, refs of 2 and 6 words: both 2 away, coco-caption takes 2 -> no brevity
    # penalty, BLEU-1 = 2/4 (with 6 it would be 2/4 * exp(1 - 6/4)).
    refs = [[["a", "b"], ["a", "b", "c", "d", "e", "f"]]]
    got = corpus_bleu(build_corpus(refs, [["a", "b", "x", "y"]]))[0]
    assert got == pytest.approx(0.5, abs=1e-9)


def test_rouge_l_by_hand():
    # LCS("a b c d", "a c e") = 2: P = 2/4, R = 2/3, F = (1 + 1.44) P R / (R + 1.44 P)
    p, r = 0.5, 2 / 3
    want = (1 + 1.2 ** 2) * p * r / (r + 1.2 ** 2 * p)
    assert rouge_l([[["a", "c", "e"]]], [["a", "b", "c", "d"]]) == pytest.approx(want, abs=1e-12)


def test_cider_d_of_exact_unique_captions_is_ten():
    # Each hypothesis equals its single reference and shares no n-gram with the other image:
    # every cosine is 1, no length penalty, so CIDEr-D = 10 (its maximum, on coco-caption's scale).
    refs = [[["a", "red", "ball", "rolls"]], [["two", "dogs", "swim", "fast"]]]
    hyps = [["a", "red", "ball", "rolls"], ["two", "dogs", "swim", "fast"]]
    assert cider_d(build_corpus(refs, hyps)) == pytest.approx(10.0, abs=1e-12)


def test_lcs_against_plain_dynamic_programme():
    rng = np.random.default_rng(0)
    a = [list(rng.integers(0, 4, rng.integers(1, 12))) for _ in range(300)]
    b = [list(rng.integers(0, 4, rng.integers(1, 12))) for _ in range(300)]

    def lcs(x, y):
        L = [[0] * (len(y) + 1) for _ in range(len(x) + 1)]
        for i in range(len(x)):
            for j in range(len(y)):
                L[i + 1][j + 1] = L[i][j] + 1 if x[i] == y[j] else max(L[i][j + 1], L[i + 1][j])
        return L[-1][-1]

    assert list(lcs_lengths(a, b)) == [lcs(x, y) for x, y in zip(a, b)]


# ---------------------------------------------------------------------------------- tokeniser

def test_tokenize_follows_karpathys_rule():
    assert tokenize("A child, in a Pink-dress; climbing!") == ["a", "child", "in", "a", "pink",
                                                             "dress", "climbing"]
    assert tokenize("Dog's 2 balls: tom&jerry (x=1) #tag\tend.") == [
        "dogs", "2", "balls:", "tom&jerry", "(x=1)", "#tag", "end"]
    assert tokenize("  ") == []


def test_tokenize_equals_dataset_tokens(shared_data):
    js = shared_data / "flickr8k" / "dataset_flickr8k.json"
    if not js.is_file():
        pytest.skip(f"{js} is absent")
    for im in json.loads(js.read_text())["images"]:
        for s in im["sentences"]:
            assert tokenize(s["raw"]) == s["tokens"], s["raw"]


# -------------------------------------------------------------------------------------- METEOR

METEOR_REFS = [[["a", "dog", "runs", "on", "the", "grass"], ["the", "dog", "is", "running"]],
               [["a", "man", "rides", "a", "bike"],
                ["a", "person", "cycling", "down", "a", "road"]],
               [["two", "children", "play", "in", "the", "water"]]]
METEOR_HYPS = [["a", "dog", "running", "in", "grass"], ["a", "man", "riding", "a", "bicycle"],
               ["kids", "playing", "in", "water"]]


@pytest.mark.skipif(meteor_mod.unavailable_reason() is not None,
                    reason=f"METEOR cannot run here: {meteor_mod.unavailable_reason()}")
def test_meteor_equals_pycocoevalcap():
    from pycocoevalcap.meteor.meteor import Meteor
    gts, res = coco_inputs(METEOR_REFS, METEOR_HYPS)
    reference = Meteor()  # starts its JVM now: it loads the paraphrase table while ours runs
    got = meteor_mod.meteor_score(METEOR_REFS, METEOR_HYPS)
    want, _ = reference.compute_score(gts, res)
    assert got == pytest.approx(want, abs=TOL) and 0 < got < 1


def test_meteor_without_java_is_none(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no java on PATH
    assert shutil.which("java") is None
    assert "java" in meteor_mod.unavailable_reason()
    assert meteor_mod.meteor_score(METEOR_REFS, METEOR_HYPS) is None
    assert score_all(METEOR_REFS, METEOR_HYPS)["METEOR"] is None


def test_meteor_without_the_jar_is_none(monkeypatch):
    monkeypatch.setattr(meteor_mod, "find_jar", lambda: None)
    assert "pycocoevalcap" in meteor_mod.unavailable_reason()
    assert meteor_mod.meteor_score(METEOR_REFS, METEOR_HYPS) is None


@pytest.mark.skipif(meteor_mod.unavailable_reason() is not None,
                    reason=f"METEOR cannot run here: {meteor_mod.unavailable_reason()}")
def test_meteor_jar_failure_warns_and_is_none(monkeypatch):
    monkeypatch.setattr(meteor_mod, "JAVA_ARGS", ["-jar", "no-such-file.jar"])
    with pytest.warns(UserWarning, match="METEOR"):
        assert meteor_mod.meteor_score(METEOR_REFS, METEOR_HYPS) is None


# ------------------------------------------------------------------------------ inputs and CLI

def test_prepare_checks_inputs():
    with pytest.raises(DataError, match="different ids"):
        prepare({"a": ["x"]}, {"b": "x"})
    with pytest.raises(DataError, match="empty"):
        prepare({}, {})
    with pytest.raises(DataError, match="non-empty list"):
        prepare({"a": "x y"}, {"a": "x"})
    with pytest.raises(DataError, match="2 entries"):
        prepare([["x"], ["y"]], ["x"])
    ids, refs, hyps = prepare({"a": ["The dog."]}, {"a": "A dog!"}, raw_text=True)
    assert ids == ["a"] and refs == [[["the", "dog"]]] and hyps == [["a", "dog"]]


def write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(p)


REFS = {"1": ["A dog runs on the grass.", "The dog is running!"], "2": ["A man rides a bike."],
        "3": ["Two children play in the water", "kids splash"]}
HYPS = {"1": "A dog, running in grass", "2": "a man riding a bike", "3": "children in water"}


def test_cli_json_equals_score_all(tmp_path, capsys):
    r, h = write(tmp_path, "refs.json", REFS), write(tmp_path, "hyps.json", HYPS)
    assert main(["score", r, h, "--json", "--no-meteor"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert list(got) == list(KEYS) and got["METEOR"] is None
    want = score_all(REFS, HYPS, raw_text=True, use_meteor=False)
    assert got == pytest.approx(want)
    assert 0 < got["BLEU-1"] <= 1 and got["CIDEr-D"] > 0


def test_cli_pretokenized_splits_on_spaces_only(tmp_path, capsys):
    r, h = write(tmp_path, "refs.json", REFS), write(tmp_path, "hyps.json", HYPS)
    assert main(["score", r, h, "--json", "--no-meteor", "--pretokenized"]) == 0
    got = json.loads(capsys.readouterr().out)
    split = score_all({k: [s.split() for s in v] for k, v in REFS.items()},
                      {k: v.split() for k, v in HYPS.items()}, use_meteor=False)
    assert got == pytest.approx(split)
    assert got["BLEU-1"] < score_all(REFS, HYPS, raw_text=True, use_meteor=False)["BLEU-1"]


def test_cli_table(tmp_path, capsys):
    r, h = write(tmp_path, "refs.json", REFS), write(tmp_path, "hyps.json", HYPS)
    assert main(["score", r, h, "--no-meteor"]) == 0
    out = capsys.readouterr().out
    for key in KEYS:
        assert key in out
    assert "skipped" in out


@pytest.mark.parametrize("refs, hyps, which, message", [
    (None, HYPS, "refs", "no such file"),
    ("{not json", HYPS, "refs", "not valid JSON"),
    (REFS, ["a caption"], "hyps", "expected a JSON object"),
    (REFS, {"1": "x", "2": "y"}, "refs", "different ids"),
    ({}, {}, "refs", "empty"),
    ({**REFS, "2": "A man rides a bike."}, HYPS, "refs", "non-empty list"),
    ({**REFS, "2": []}, HYPS, "refs", "non-empty list"),
    ({**REFS, "2": [["a", "man"]]}, HYPS, "refs", "expected a string"),
    (REFS, {**HYPS, "2": ["a man"]}, "hyps", "expected a string"),
])
def test_cli_errors_name_the_file(tmp_path, capsys, refs, hyps, which, message):
    r = write(tmp_path, "refs.json", refs) if refs is not None else str(tmp_path / "refs.json")
    h = write(tmp_path, "hyps.json", hyps)
    assert main(["score", r, h, "--no-meteor"]) == 2
    err = capsys.readouterr().err
    assert message in err and (r if which == "refs" else h) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_score_is_fast_on_a_large_corpus():
    """A guard against a per-pair loop, not a benchmark: CPU time of this process (other
    processes on a loaded machine do not count against it), with a wide margin."""
    refs, hyps = random_corpus(9, 5000, 16, (5, 5), (5, 16), (5, 16))
    start = time.process_time()
    score_all(refs, hyps, use_meteor=False)
    assert time.process_time() - start < 10.0
