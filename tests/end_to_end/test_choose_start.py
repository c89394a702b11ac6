"""`train-align`'s start auto (alignment/train.py, `choose_start`): a whole-image model trains from
random and, only when that run loses to the linear baseline on validation, again from the
baseline's CCA solution; the run kept in --out is the better of the two on validation, its
checkpoint says how it started, and the hidden folder of the two runs is gone. (The other
branch, a random start that beats the baseline and is the only run, is checked on the feature
families in test_family_training.py.)

Every value checked is recomputed here from the files left in --out, independently of the
summary the trainer returns."""
import json

import pytest

from vsa_np.alignment.baseline import LinearBaseline
from vsa_np.alignment.evaluate import evaluate_retrieval
from vsa_np.alignment.train import AlignConfig, train_alignment
from vsa_np.cli import main
from vsa_np.data import load_dataset
from vsa_np.trained import load_alignment

SMALL = dict(embed=64, hidden=32, word_dim=32, batch_size=50, epochs=3)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from vsa_np.data.shapes import make_shapes
    root = tmp_path_factory.mktemp("shapes") / "w"
    make_shapes(root, n_images=240, feature_dim=128, progress=False, cnn="random")  # 200/20/20
    return root


@pytest.fixture(scope="module")
def baseline(world):
    return LinearBaseline(load_dataset(world), threshold=5)


def _kept(world, out):
    """(validation R@K sum of out/best recomputed, the config saved in it)."""
    model, vocab, meta = load_alignment(out / "best")
    val = evaluate_retrieval(model, load_dataset(world), vocab, "val", regions=False)
    return val["rsum"], meta["config"]


def test_a_random_start_that_loses_to_the_baseline_is_trained_again_from_it(world, baseline,
                                                                           tmp_path):
    out, lines = tmp_path / "run", []
    # lr 1e-9: the run from random cannot move from its start, so it must lose to the baseline
    s = train_alignment(world, out, AlignConfig(**SMALL, lr=1e-9), quiet=True,
                        log=lines.append, baseline=baseline)
    best = s["start"]["best_rsum"]
    assert set(best) == {"random", "linear"}
    assert best["random"] < s["start"]["baseline_rsum"]
    assert s["start"]["chosen"] == "linear" and best["linear"] > best["random"]
    rsum, config = _kept(world, out)
    assert rsum == pytest.approx(best["linear"], abs=1e-6)
    # the checkpoint says how the kept run was trained: from the baseline, at the warm settings
    assert (config["start"], config["lr"], config["dropout"]) == ("linear", 3e-4, 0.2)
    assert sorted(p.name for p in out.iterdir() if p.name != ".lock") == \
        ["best.json", "best.npz", "last.json", "last.npz", "log.json"]      # no hidden runs left
    assert any("training again from the baseline" in line for line in lines)
    assert any(line.startswith("start auto: kept the run from linear") for line in lines)


def test_resume_continues_the_kept_run_from_its_own_start(world, tmp_path):
    out = tmp_path / "run"
    args = [str(world), "--out", str(out), "--embed", "32", "--hidden", "16", "--word-dim", "16",
            "--batch-size", "50", "--lr", "1e-9", "--quiet"]
    assert main(["train-align", *args, "--epochs", "1"]) == 0
    first = json.loads((out / "last.json").read_text())
    assert main(["train-align", *args, "--epochs", "2", "--resume"]) == 0
    again = json.loads((out / "last.json").read_text())
    assert again["config"]["start"] == first["config"]["start"] in ("random", "linear")
    assert again["train_state"]["epoch"] > first["train_state"]["epoch"]


def test_an_interrupted_second_run_keeps_the_finished_first(world, baseline, tmp_path,
                                                            monkeypatch):
    """Ctrl-C during the run from the baseline: --out holds the finished run from random (not
    nothing), and no hidden folder is left."""
    import vsa_np.alignment.train as trainer

    real_train = trainer.train_alignment

    def stopped_when_warm(data, out, cfg, **kw):
        if cfg.start == "linear":
            raise KeyboardInterrupt
        return real_train(data, out, cfg, **kw)

    monkeypatch.setattr(trainer, "train_alignment", stopped_when_warm)
    out, lines = tmp_path / "run", []
    with pytest.raises(KeyboardInterrupt):
        trainer.choose_start(world, out, AlignConfig(**SMALL, lr=1e-9), True, lines.append,
                             baseline)
    assert sorted(p.name for p in out.iterdir() if p.name != ".lock") == \
        ["best.json", "best.npz", "last.json", "last.npz", "log.json"]
    assert _kept(world, out)[1]["start"] == "random"
    assert lines[-1].startswith("start auto: stopped during the run from the baseline")
