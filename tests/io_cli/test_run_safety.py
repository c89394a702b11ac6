"""Nothing is lost (issue 14), checked with real processes where the process is the point: a run
folder is locked for the life of a run, a lock dies with its process, a run killed during its
first save of `last` resumes from `best`, and a device that cannot be used is one line and exit 2
before anything runs."""
import json
import os
import signal
import subprocess
import sys

import pytest

from vsa_np.cli import main
from vsa_np.rundir import RunDir, resume_point

SMALL = ["--epochs", "2", "--hidden", "8", "--word-dim", "8", "--embed", "8", "--quiet"]


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "vsa_np", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.parametrize("device", ["gpu", "bogus"])
def test_an_unusable_device_is_one_line_and_exit_2(tiny_world, device):
    from vsa_np import backend

    if device == "gpu" and backend.on_gpu:
        pytest.skip("this machine has a GPU: VSA_NP_DEVICE=gpu is allowed here")
    r = _cli("data-info", tiny_world, env={"VSA_NP_DEVICE": device})
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "VSA_NP_DEVICE" in r.stderr


def test_a_second_run_on_a_locked_folder_is_refused(tiny_world, tmp_path):
    """This process holds the folder (a run in progress); another process trying to train
    into it exits 2 and writes nothing; once the first run ends, the folder is free."""
    from vsa_np.alignment.train import AlignConfig

    out = tmp_path / "run"
    run = RunDir(out, AlignConfig(), quiet=True)          # holds out/.lock, as a trainer does
    r = _cli("train-align", tiny_world, "--out", out, *SMALL)
    assert r.returncode == 2 and "another run is writing to this folder" in r.stderr, r.stderr
    assert str(os.getpid()) in r.stderr
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
    run.close()
    r = _cli("train-align", tiny_world, "--out", out, *SMALL)
    assert r.returncode == 0, r.stderr


def test_a_lock_dies_with_its_process(tiny_world, tmp_path):
    """A run killed with SIGKILL leaves its .lock file, but not its lock: --resume works."""
    out = tmp_path / "run"
    assert main(["train-align", str(tiny_world), "--out", str(out), *SMALL]) == 0
    code = ("import os, signal, pathlib; from vsa_np.rundir import _FolderLock; "
            f"_FolderLock(pathlib.Path({str(out)!r})); os.kill(os.getpid(), signal.SIGKILL)")
    r = subprocess.run([sys.executable, "-c", code], timeout=120)
    assert r.returncode == -signal.SIGKILL
    assert (out / ".lock").exists()
    r = _cli("train-align", tiny_world, "--out", out, "--resume", "--epochs", "3", "--quiet")
    assert r.returncode == 0, r.stderr


def test_killed_during_the_first_save_of_last_resumes_from_best(tiny_world, tmp_path):
    """`kill -9` after `best` was written and before `last` was: the folder holds best.npz and
    a half-written temporary file. --resume continues from best and removes the leftover."""
    out = tmp_path / "run"
    assert main(["train-align", str(tiny_world), "--out", str(out), *SMALL[:1], "1",
                 *SMALL[2:]]) == 0
    best_step = json.loads((out / "best.json").read_text())["train_state"]["step"]
    for name in ("last.npz", "last.json"):
        (out / name).unlink()
    stray = out / ".ckpt-x1y2z3.npz.tmp"
    stray.write_bytes(b"\0" * 1000)
    assert resume_point(out) == out / "best"
    # a fresh run must not overwrite the best checkpoint of the killed one
    assert main(["train-align", str(tiny_world), "--out", str(out), *SMALL]) == 2
    r = _cli("train-align", tiny_world, "--out", out, "--resume", "--epochs", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "resuming from" in r.stderr and "best.npz" in r.stderr
    assert not stray.exists()
    assert json.loads((out / "last.json").read_text())["train_state"]["step"] == 2 * best_step


def test_resume_takes_the_newest_complete_checkpoint(tiny_world, tmp_path):
    out = tmp_path / "run"
    assert main(["train-align", str(tiny_world), "--out", str(out), *SMALL]) == 0
    assert resume_point(out) == out / "last"
    (out / "last.npz").write_bytes(b"not a zip file")       # damaged: best is the newest left
    assert resume_point(out) == out / "best"


def test_lr_auto_refuses_a_finished_run_before_its_trials(tiny_world, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train-align", str(tiny_world), "--out", str(out), *SMALL]) == 0
    before = sorted(p.name for p in out.iterdir())
    assert main(["train-align", str(tiny_world), "--out", str(out), "--lr", "auto",
                 *SMALL]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before      # no lr-trials folder


@pytest.mark.parametrize("extra", [[], ["--lr", "auto"], ["--start", "random", "--lr", "auto"]])
def test_tries_that_fail_on_bad_input_leave_nothing(tiny_world, tmp_path, capsys, extra):
    """start auto (the default) and --lr auto create and lock --out before their tries; bad input
    that only the first try reads (a word-vector file with a nan) is one line and exit 2 and
    removes what they made: the new folder and its new parents, or, in a user's empty folder,
    the lock file."""
    from vsa_np.data import Vocab, load_dataset

    words = Vocab.build(load_dataset(tiny_world).sentences_of("train")[1]).words
    vectors = tmp_path / "vectors.txt"
    vectors.write_text(f"{words[0]} " + " ".join(["0.5"] * 7 + ["nan"]) + "\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    for out in (tmp_path / "new" / "deeper" / "run", mine):
        assert main(["train-align", str(tiny_world), "--out", str(out), *SMALL,
                     "--word-vectors", str(vectors), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not a finite float32" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "vectors.txt"]
    assert list(mine.iterdir()) == []


@pytest.mark.parametrize("command, extra", [
    ("train-align", SMALL),
    ("train-gen", ["--epochs", "1", "--hidden", "8", "--word-dim", "8", "--eval-beam", "1",
                   "--eval-images", "4", "--quiet"]),
])
def test_resume_on_other_data_is_refused(tiny_world, tmp_path, capsys, command, extra):
    """A run resumed on data with other words is refused, naming both vocabularies'
    fingerprints, and the run folder is left as it was."""
    import shutil
    other = tmp_path / "other"
    shutil.copytree(tiny_world, other)
    path = other / "dataset_shapes.json"
    path.write_text(path.read_text().replace('"circle"', '"disc"'))
    out = tmp_path / "run"
    assert main([command, str(tiny_world), "--out", str(out), *extra]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert main([command, str(other), "--out", str(out), "--resume", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fingerprint" in err[0] and str(other) in err[0], err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
