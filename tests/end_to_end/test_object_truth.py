"""Captions checked against the pictures' ground-truth objects (eval-gen's `objects` block, the
demo report's table and the captions page's marks), on hand-made images and captions."""
from types import SimpleNamespace

import pytest

from vsa_np.demo.report import to_markdown
from vsa_np.generator.evaluate import named_objects, object_marks, object_truth
from vsa_np.generator.html import write_caption_page


def _obj(colour, shape):
    return {"colour": colour, "shape": shape, "size": "small"}


DS = SimpleNamespace(images=[
    {"objects": [_obj("red", "circle"), _obj("blue", "square")]},
    {"objects": [_obj("green", "star"), _obj("green", "star"), _obj("yellow", "triangle")]},
    {"objects": [_obj("purple", "circle")]},
])


def test_named_objects_singular_plural_and_sizes():
    words = "two green stars and a small yellow triangle and a large red circle".split()
    assert named_objects(words, {"green", "yellow", "red"}, {"star", "triangle", "circle"}) == [
        ("green", "star"), ("yellow", "triangle"), ("red", "circle")]
    assert named_objects("a red thing".split(), {"red"}, {"circle"}) == []


def test_object_truth_counts():
    caps = {0: "a red circle and a blue star".split(),              # 1 right, 1 wrong
            1: "two green stars and a green star".split(),          # right, repeated; 1 missed
            2: "a purple circle".split()}                           # all right
    o = object_truth(DS, caps)
    assert o["precision"] == pytest.approx(3 / 4)       # distinct per caption: 2 + 1 + 1 named
    assert o["recall"] == pytest.approx(3 / 5)          # pairs present: 2 + 2 + 1
    assert o["chair_s"] == pytest.approx(1 / 3)
    assert o["chair_i"] == pytest.approx(1 / 5)         # mentions: 2 + 2 + 1, one wrong
    assert o["repeats"] == pytest.approx(1 / 3)
    assert o["mentions"] == pytest.approx(5 / 3)


def test_no_objects_no_block():
    ds = SimpleNamespace(images=[{"sentences": []}])
    assert object_truth(ds, {0: ["a", "dog"]}) is None


def test_marks_on_the_captions_page(tmp_path):
    marks = object_marks(DS, 0, "a red circle and a blue star")
    assert marks == [("red circle", True), ("blue star", False)]
    page = write_caption_page(tmp_path / "c.html", [{"name": "x", "image": None,
                                                     "captions": ["a red circle and a blue star"],
                                                     "logprobs": [-1.0], "marks": [marks]}])
    text = page.read_text()
    assert "class='ok'>&#10003; red circle" in text and "class='bad'>&#10007; blue star" in text


def test_report_shows_objects_beside_ngram_metrics():
    obj = {"precision": 0.3, "recall": 0.25, "chair_s": 0.8, "chair_i": 0.6, "repeats": 0.1,
           "mentions": 2.0}
    gen = {"model": {"BLEU-4": 0.5, "CIDEr-D": 2.0, "objects": obj,
                     "diversity": {"distinct": 0.9, "most_common": 0.1, "in_training": 0.5}},
           "nearest_neighbour": {"BLEU-4": 0.4, "CIDEr-D": 1.7, "objects": dict(obj, recall=0.5),
                                 "diversity": {"distinct": 0.8, "most_common": 0.1,
                                               "in_training": 1.0}}}
    ret = {"annotation": {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "med_r": 1},
           "search": {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "med_r": 1}}
    res = {"data": "d", "data_info": "i", "seconds": {"total": 1.0}, "retrieval": {"eq8": ret},
           "alignment": {"argmax": 90.0, "mrf": 95.0, "beta": 1.0}, "generation": gen,
           "regions": {}}
    md = to_markdown(res)
    assert "| vsa-np multimodal RNN | 30% | 25% | 80% | 60% | 10% | 0.500 | 2.000 | 90% |" in md
    assert "| nearest-neighbour baseline | 30% | 50% |" in md
    assert "n-grams" in md
