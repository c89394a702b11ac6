"""The generator's commands: train-gen, eval-gen (with the nearest-neighbour baseline, checked
against a brute-force search) and caption (features in the neuraltalk layout, JSON and HTML), and
their errors on bad input (exit code 2, one line naming the file)."""
import json

import numpy as np
import pytest

from vsa_np.cli import main
from vsa_np.generator.evaluate import nearest_neighbours


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_gen_cli_json(tiny_world, tmp_path, capsys):
    code, out, err = run_cli(capsys, "train-gen", tiny_world, "--out", tmp_path / "r",
                             "--hidden", 16, "--word-dim", 8, "--epochs", 1, "--batch-size", 50,
                             "--eval-beam", 2, "--quiet", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["steps"] == 4 and summary["best_key"] == "val/perplexity"
    assert json.loads((tmp_path / "r" / "last.json").read_text())["config"]["hidden"] == 16


def test_eval_gen_json(tiny_world, tiny_run, tmp_path, capsys):
    run_dir, _ = tiny_run
    code, out, err = run_cli(capsys, "eval-gen", run_dir, tiny_world, "--split", "test",
                             "--beam", 3, "--no-meteor", "--json", "--html", tmp_path / "p.html")
    assert code == 0, err
    res = json.loads(out)
    assert set(res) == {"model", "nearest_neighbour", "data"}
    assert res["data"]["unknown_words_percent"] < 20
    assert res["data"]["data_fingerprint"] == res["data"]["trained_on_fingerprint"]
    keys = {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"}
    assert keys | {"perplexity"} <= set(res["model"]) and keys <= set(res["nearest_neighbour"])
    assert res["model"]["perplexity"] > 1 and res["model"]["METEOR"] is None
    page = (tmp_path / "p.html").read_text()
    assert page.count("class='item'") == 4 and "log p = " in page   # the 4 test images


def test_nearest_neighbours_brute_force():
    g = np.random.default_rng(0)
    q, b = g.standard_normal((13, 7)), g.standard_normal((29, 7))
    expect = [int(np.argmin([np.sum((x - y) ** 2) for y in b])) for x in q]
    assert list(nearest_neighbours(q, b, chunk=5)) == expect


def write_features(tmp_path, feats, names):
    import scipy.io

    scipy.io.savemat(tmp_path / "vgg_feats.mat", {"feats": feats.T.astype(np.float32)})
    (tmp_path / "tasks.txt").write_text("\n".join(names) + "\n")
    return tmp_path / "vgg_feats.mat", tmp_path / "tasks.txt"


def test_caption_cli(tiny_world, tiny_run, tmp_path, capsys):
    from vsa_np.data import load_dataset
    from vsa_np.core.generator import beam_search
    from vsa_np.trained import load_generator

    ds = load_dataset(tiny_world)
    idx = ds.split_indices("test")
    names = [ds.images[i]["filename"] for i in idx]
    feats, tasks = write_features(tmp_path, np.asarray(ds.feats[idx]), names)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / names[0]).write_bytes((tiny_world / "images" / names[0]).read_bytes())
    code, out, err = run_cli(capsys, "caption", tiny_run[0], "--features", feats, "--tasks",
                             tasks, "--beam", 3, "--n-best", 2, "--json", "--html",
                             tmp_path / "page.html")
    assert code == 0, err
    res = json.loads(out)
    model, vocab, _ = load_generator(tiny_run[0])
    expect = beam_search(model, np.asarray(ds.feats[idx]), beam=3, max_len=40, n_best=2)
    assert [r["image"] for r in res] == names
    for r, toks, lps in zip(res, expect.tokens, expect.logprob):
        assert r["caption"] == " ".join(vocab.decode(toks[0]))
        assert r["logprob"] == pytest.approx(lps[0])
        assert len(r["candidates"]) == 2
    page = (tmp_path / "page.html").read_text()
    assert f"src='images/{names[0]}'" in page and res[0]["caption"] in page
    code, out, _ = run_cli(capsys, "caption", tiny_run[0], "--features", feats)
    assert code == 0 and out.splitlines()[0].startswith("0\t")


def test_caption_bad_inputs(tiny_world, tiny_run, tmp_path, capsys):
    feats, tasks = write_features(tmp_path, np.ones((3, 5)), ["a.jpg", "b.jpg", "c.jpg"])
    code, _, err = run_cli(capsys, "caption", tiny_run[0], "--features", feats)
    assert code == 2 and "vgg_feats.mat" in err and "dimension 5" in err
    ok, _ = write_features(tmp_path, np.ones((3, 128)), ["a.jpg", "b.jpg"])
    code, _, err = run_cli(capsys, "caption", tiny_run[0], "--features", ok, "--tasks", tasks)
    assert code == 2 and "tasks.txt" in err and "2 image names for 3" in err
    code, _, err = run_cli(capsys, "caption", tmp_path / "nope", "--features", ok)
    assert code == 2 and "nope" in err
    code, _, err = run_cli(capsys, "caption", tiny_run[0], "--features", ok, "--beam", 2,
                           "--n-best", 3)
    assert code == 2 and "--n-best" in err


def test_eval_gen_bad_inputs(tiny_world, tiny_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "eval-gen", tiny_run[0], tmp_path / "missing")
    assert code == 2 and "missing" in err
    code, _, err = run_cli(capsys, "eval-gen", tiny_run[0], tiny_world, "--compare", "x")
    assert code == 2 and "--regions" in err
