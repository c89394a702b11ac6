"""Training, evaluation and alignment on a tiny shapes world (made once per session): the loss
drops, retrieval beats chance by a wide margin, resume is exact, NaN stops training, and the
three commands (train-align, eval-align, align) keep their documented outputs."""
import json

import numpy as np
import pytest

from vsa_np.checkpoint import load_checkpoint
from vsa_np.cli import main

TINY = ["--regions", "--embed", "64", "--hidden", "32", "--word-dim", "32", "--batch-size", "50",
        "--lr", "3e-4", "--dropout", "0.1", "--quiet"]


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    from vsa_np.data.shapes import make_shapes
    root = tmp_path_factory.mktemp("shapes") / "tiny"
    make_shapes(root, n_images=240, feature_dim=128, progress=False, cnn="random")   # 200 / 20 / 20 images
    return root


@pytest.fixture(scope="session")
def trained(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train-align", str(world), "--out", str(out), "--epochs", "6", *TINY]) == 0
    return out


def _cli_json(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_loss_drops_and_retrieval_beats_chance(trained, world, capsys):
    log = json.loads((trained / "log.json").read_text())
    losses = [r["loss"] for r in log["train"]]
    assert len(losses) == 6 * 20                         # 1000 sentences / 50 per batch
    assert np.mean(losses[-10:]) < 0.3 * np.mean(losses[:10])
    res = _cli_json(capsys, ["eval-align", str(trained), str(world), "--json"])
    assert res["n_images"] == 20 and res["n_sentences"] == 100
    for d in ("annotation", "search"):
        assert set(res[d]) == {"R@1", "R@5", "R@10", "med_r"}
    # chance: R@5 ~ 23% (annotation, 5 of 100 sentences correct) and 25% (search, 1 of 20)
    assert res["annotation"]["R@5"] >= 60 and res["search"]["R@5"] >= 60, res
    assert res["search"]["med_r"] <= 3
    acc = res["alignment"]["test"]
    assert acc["n_words"] > 100 and acc["mrf"] >= acc["argmax"] - 5
    assert res["alignment"]["beta"] in [float(b) for b in res["alignment"]["val"][
        "accuracy_by_beta"]]


def test_resume_is_exact(world, tmp_path):
    args = [str(world), *TINY, "--batch-size", "100", "--embed", "16", "--hidden", "8"]
    assert main(["train-align", *args, "--out", str(tmp_path / "a"), "--epochs", "2"]) == 0
    assert main(["train-align", *args, "--out", str(tmp_path / "b"), "--epochs", "1"]) == 0
    assert main(["train-align", *args, "--out", str(tmp_path / "b"), "--epochs", "2",
                 "--resume"]) == 0
    pa, ma, _ = load_checkpoint(tmp_path / "a" / "last")
    pb, mb, _ = load_checkpoint(tmp_path / "b" / "last")
    assert ma["train_state"]["step"] == mb["train_state"]["step"] == 20
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)
    # a second run into the same folder without --resume is refused (exit 2)
    assert main(["train-align", *args, "--out", str(tmp_path / "a"), "--epochs", "1"]) == 2


def test_nan_stops_training(world, tmp_path, capsys):
    """A good epoch, then a resumed one with an absurd learning rate: training stops with
    exit 1 and a clear message, and `last` is still the good checkpoint."""
    out = tmp_path / "nan"
    small = [str(world), "--out", str(out), *TINY, "--embed", "16", "--hidden", "8"]
    assert main(["train-align", *small, "--epochs", "1"]) == 0
    good, _, _ = load_checkpoint(out / "last")
    capsys.readouterr()
    rc = main(["train-align", *small, "--epochs", "2", "--resume", "--lr", "1e30",
               "--grad-clip", "0", "--eval-every", "1"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "training stopped" in err and ("loss is" in err or "diverged" in err)
    kept, meta, _ = load_checkpoint(out / "last")
    assert meta["train_state"]["step"] == 20
    for k in good:
        np.testing.assert_array_equal(good[k], kept[k])


def test_align_command(trained, world, tmp_path, capsys):
    fig = tmp_path / "fig.png"
    base = ["align", str(trained), str(world), "--image", "210", "--json"]
    res = _cli_json(capsys, base + ["--beta", "0", "--out", str(fig)])
    assert {"tokens", "regions", "scores", "beta", "assignment", "objective",
            "snippets"} <= set(res)
    scores = np.array(res["scores"])
    assert scores.shape == (len(res["tokens"]), len(res["regions"]))
    # beta = 0: each word's own arg-max (a word whose ReLU output is all zero scores 0 on every
    # region: then any of the tied regions is an arg-max)
    best = scores.max(axis=1)
    assert all(scores[t, j] == best[t] for t, j in enumerate(res["assignment"]))
    assert res["objective"] == pytest.approx(scores.max(axis=1).sum())
    assert fig.stat().st_size > 10_000
    one = _cli_json(capsys, base + ["--beta", "1e6", "--sentence", "a red circle and a blue "
                                                                    "square"])
    assert len(set(one["assignment"])) == 1 and len(one["snippets"]) == 1
    assert " ".join(one["tokens"]) == "a red circle and a blue square"


def test_bad_input_exits_2(world, tmp_path, trained, capsys):
    assert main(["eval-align", str(tmp_path / "nothing"), str(world)]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert main(["align", str(trained), str(world), "--image", "no-such-image"]) == 2
    assert "no image" in capsys.readouterr().err
    assert main(["train-align", str(tmp_path / "no-data"), "--out", str(tmp_path / "o")]) == 2
