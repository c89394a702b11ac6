"""What issue 12 added to the trainers' command line: --lr auto, the collapse stop, the baselines
in the summaries and in eval-align / eval-gen, and the refusals of bad options (exit 2, one line).
Subprocess-free: `vsa_np.cli.main` returns the exit code the shell would see."""
import json

import pytest

from vsa_np.cli import main
from vsa_np.data.feature_families import make_family_world

TINY_ALIGN = ["--embed", 16, "--hidden", 8, "--word-dim", 8, "--batch-size", 20, "--quiet"]
TINY_GEN = ["--hidden", 16, "--word-dim", 8, "--batch-size", 20, "--eval-beam", 1, "--quiet"]


def run_cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:                 # argparse refuses an option this way
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust") / "fc7"
    make_family_world(root, "fc7", 80, seed=0, dim=32)
    return root


def test_lr_auto_runs_trials_and_saves_the_choice(world, tmp_path, capsys):
    mine = tmp_path / "r" / "lr-trials" / "mine.txt"           # a user's file, left alone
    mine.parent.mkdir(parents=True)
    mine.write_text("keep")
    code, out, err = run_cli(capsys, "train-align", world, "--out", tmp_path / "r", "--lr", "auto",
                             "--lr-grid", 1e-3, 3e-3, "--wd-grid", 0, 1e-3,
                             "--lr-trial-epochs", 1, "--epochs", 2, *TINY_ALIGN, "--json")
    assert code == 0, err
    assert "cross-validation: 4 trials of 1 epoch(s) (4 epochs, 2.0 times" in err
    assert "<- chosen" in err
    summary = json.loads(out)
    meta = json.loads((tmp_path / "r" / "last.json").read_text())
    trials = meta["lr_trials"]
    assert [(t["lr"], t["weight_decay"]) for t in trials] == [(1e-3, 0), (3e-3, 0),
                                                              (1e-3, 1e-3), (3e-3, 1e-3)]
    best = max((t for t in trials if t["value"] is not None), key=lambda t: t["value"])
    assert meta["config"]["lr"] == best["lr"] == summary["lr"]
    assert meta["config"]["weight_decay"] == best["weight_decay"]
    assert not list((tmp_path / "r").glob(".lr-trials-*"))       # trials cleaned up
    assert mine.read_text() == "keep"


def test_generator_lr_auto(world, tmp_path, capsys):
    code, out, err = run_cli(capsys, "train-gen", world, "--out", tmp_path / "g", "--lr", "auto",
                             "--lr-grid", 1e-3, 1e-2, "--lr-trial-epochs", 1, "--epochs", 1,
                             *TINY_GEN, "--json")
    assert code == 0, err
    meta = json.loads((tmp_path / "g" / "last.json").read_text())
    # perplexity: the lower the better
    best = min((t for t in meta["lr_trials"] if t["value"] is not None), key=lambda t: t["value"])
    assert meta["config"]["lr"] == best["lr"]


@pytest.mark.parametrize("argv, says", [
    (["--lr-grid", 0, -1], "--lr-grid: every rate must be a positive number"),
    (["--lr", "fast"], "expected a number or 'auto'"),
    (["--lr", -1e-3], "--lr: must be a positive number"),
    (["--init-scale", -1], "--init-scale: must be >= 0"),
    (["--batch-size", 1], "--batch-size: the ranking loss"),
    (["--dropout", 1.0], "--dropout: must be in [0, 1)"),
])
def test_bad_training_options_exit_2_with_one_line(world, tmp_path, capsys, argv, says):
    code, out, err = run_cli(capsys, "train-align", world, "--out", tmp_path / "r", *argv)
    lines = err.strip().splitlines()
    if lines[0].startswith("usage:"):      # argparse's own refusal: the usage, then one line
        lines = lines[-1:]
    assert code == 2
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_lr_auto_needs_a_validation_split(tmp_path, capsys):
    """(The dataset loader already refuses a dataset whose val split is empty, so no trainer
    ever starts without one; the refusal names the file.)"""
    data = tmp_path / "noval"
    make_family_world(data, "fc7", 80, seed=0, dim=32)
    ds_file = data / "dataset_shapes.json"
    d = json.loads(ds_file.read_text())
    for im in d["images"]:
        im["split"] = "train" if im["split"] == "val" else im["split"]
    ds_file.write_text(json.dumps(d))
    for cmd, tiny in (("train-align", TINY_ALIGN), ("train-gen", TINY_GEN)):
        code, _, err = run_cli(capsys, cmd, data, "--out", tmp_path / cmd, "--lr", "auto", *tiny)
        assert code == 2 and "'val' has no images" in err, err
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / cmd).exists()


def test_a_collapsed_run_stops_with_exit_1(world, tmp_path, capsys):
    """lr 0.05 kills every ReLU of this small model within the first epoch: the run must say so
    and fail, not report a best checkpoint."""
    code, _, err = run_cli(capsys, "train-align", world, "--out", tmp_path / "c", "--lr", 0.05,
                           "--epochs", 4, *TINY_ALIGN)
    assert code == 1
    assert "collapsed" in err and "every validation score is the same" in err
    assert "no checkpoint had been written yet" in err


def test_summaries_and_eval_align_show_the_baseline(world, tmp_path, capsys):
    code, out, err = run_cli(capsys, "train-align", world, "--out", tmp_path / "r", "--epochs", 2,
                             *TINY_ALIGN)
    assert code == 0, err
    assert "linear baseline: " in out and "R@10" in out
    code, out, _ = run_cli(capsys, "eval-align", tmp_path / "r", world, "--json")
    result = json.loads(out)
    assert {"annotation", "search", "rsum", "chosen", "tried"} <= set(result["baseline"])
    for d in ("annotation", "search"):        # the difference of the two R@10 and its interval
        c = result["difference"][d]
        assert c["diff"] == pytest.approx(result[d]["R@10"] - result["baseline"][d]["R@10"])
        assert c["low"] <= c["diff"] <= c["high"]
    code, out, _ = run_cli(capsys, "eval-align", tmp_path / "r", world)
    assert "linear baseline: " in out and ("beats" in out or "does NOT beat" in out)
    assert "95% interval" in out


def test_eval_gen_reports_what_the_captions_say(world, tmp_path, capsys):
    code, _, err = run_cli(capsys, "train-gen", world, "--out", tmp_path / "g", "--epochs", 1,
                           *TINY_GEN)
    assert code == 0, err
    code, out, err = run_cli(capsys, "eval-gen", tmp_path / "g", world, "--beam", 2,
                             "--no-meteor", "--json")
    result = json.loads(out)
    for part in ("model", "nearest_neighbour"):
        d = result[part]["diversity"]
        assert 0 < d["distinct"] <= 1 and 0 < d["most_common"] <= 1
    assert result["nearest_neighbour"]["diversity"]["in_training"] == 1.0  # copies, by design
    # one epoch of a tiny model: the captions hardly depend on the image, and eval-gen says so
    if result["model"]["diversity"]["distinct"] < 0.5:
        assert "captions hardly depend on the image" in err
