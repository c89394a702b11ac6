"""Files the project writes for itself (issue 23): a full disk names the file being written,
the run folder's lock never follows a link, and a failed save leaves no temporary behind."""
import errno
import importlib.util
import os
import subprocess
import sys

import numpy as np

import vsa_np.checkpoint as checkpoint
from vsa_np.cli import main
from vsa_np.data.shapes import make_shapes

SMALL = ["--epochs", "1", "--hidden", "8", "--word-dim", "8", "--embed", "8", "--batch-size",
         "20", "--quiet"]


def test_a_full_disk_names_the_checkpoint(tmp_path, capsys, monkeypatch):
    make_shapes(tmp_path / "w", 36, feature_dim=16, progress=False, cnn="random")

    def full(f, **arrays):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np, "savez", full)
    code = main(["train-align", str(tmp_path / "w"), "--out", str(tmp_path / "r")] + SMALL)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert f"{tmp_path / 'r'}/" in err[0] and ".npz: No space left on device" in err[0], err
    assert not list((tmp_path / "r").glob("*.tmp"))


def test_the_lock_never_follows_a_link(tmp_path, capsys):
    make_shapes(tmp_path / "w", 36, feature_dim=16, progress=False, cnn="random")
    victim = tmp_path / "victim.txt"
    victim.write_text("a user's file\n")
    run = tmp_path / "r"
    run.mkdir()
    (run / ".lock").symlink_to(victim)
    code = main(["train-align", str(tmp_path / "w"), "--out", str(run)] + SMALL)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and ".lock" in err[0], err
    assert victim.read_text() == "a user's file\n"
    assert sorted(p.name for p in run.iterdir()) == [".lock"]


def test_named_keeps_a_file_name_it_has():
    e = OSError(errno.ENOSPC, "No space left on device", "/x/a")
    assert checkpoint.named(e, "/y/b") is e
    assert checkpoint.named(OSError(errno.ENOSPC, "full"), "/y/b").filename == "/y/b"


def test_a_commands_help_with_a_gpu_asked_for_and_no_cupy():
    if importlib.util.find_spec("cupy") is not None:
        return
    env = {**os.environ, "VSA_NP_DEVICE": "gpu"}
    r = subprocess.run([sys.executable, "-m", "vsa_np", "make-shapes", "--help"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--cnn-from" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "vsa_np", "data-info", "."], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "CuPy" in r.stderr and len(r.stderr.splitlines()) == 1
