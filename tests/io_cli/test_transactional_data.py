"""Data sets are written as a whole (issue 23, `vsa_np/transaction.py`): make-shapes and the
demo's data stage build in a temporary sibling folder and move it into place at the end. Bad
options, a network that cannot be read, sizes beyond the machine, an interrupt, a full disk or
an exhausted memory leave the target exactly as it was: one line on stderr, no traceback, and
the exit code the README promises (2 bad input, 130 interrupted, 1 out of space or memory)."""
import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

import vsa_np.data.shapes as shapes
from vsa_np.cli import main
from vsa_np.data.features import write_mat_columns

TINY = ["--images", "12", "--feature-dim", "16", "--cnn", "random", "--quiet"]


def _snapshot(root):
    """Every path under root (hidden ones too) with its bytes (files) or None (folders)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def _user_folder(tmp_path):
    """A folder holding a user's file and an older, larger world's picture."""
    z = tmp_path / "z"
    (z / "images").mkdir(parents=True)
    (z / "user.txt").write_text("mine\n")
    (z / "images" / "shapes_09999.png").write_bytes(b"old picture")
    return z


def _one_line(capsys, code, expected_code, words):
    err = capsys.readouterr().err.strip()
    assert code == expected_code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


# (id, argv with {t} = the test's folder, exit code, words of the message)
REFUSED = [
    ("cnn-from missing", ["make-shapes", "{t}/x", "--cnn-from", "/nope.npz"], "/nope.npz"),
    ("cnn-from a text file", ["make-shapes", "{t}/x", "--cnn-from", "{t}/z/user.txt"],
     "user.txt"),
    ("family with cnn-from", ["make-shapes", "{t}/x", "--family", "probs", "--cnn-from",
                              "{t}/z"], "--cnn-from"),
    ("family with cnn", ["make-shapes", "{t}/x", "--family", "l2", "--cnn", "random"], "--cnn"),
    ("cnn-from with random", ["make-shapes", "{t}/x", "--cnn", "random", "--cnn-from", "{t}/z"],
     "--cnn-from"),
    ("images beyond memory", ["make-shapes", "{t}/x", "--images", "1000000000000", "--cnn",
                              "random"], "memory"),
    ("feature-dim beyond memory", ["make-shapes", "{t}/x", "--feature-dim", "1000000000",
                                   "--cnn", "random"], "1000000000-d"),
    ("family beyond memory", ["make-shapes", "{t}/x", "--family", "l2", "--images",
                              "10000000000"], "memory"),
    ("family images 3", ["make-shapes", "{t}/x", "--family", "l2", "--images", "3"], "8"),
    ("demo cnn-from missing", ["demo", "--out", "{t}/x", "--quick", "--cnn-from", "/nope.npz",
                               "--quiet"], "/nope.npz"),
]


@pytest.mark.parametrize("argv,words", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_before_anything_is_created(tmp_path, capsys, argv, words):
    _user_folder(tmp_path)
    before = _snapshot(tmp_path)
    code = main([a.format(t=tmp_path) for a in argv])
    _one_line(capsys, code, 2, [words])
    assert _snapshot(tmp_path) == before


def _fail_in(monkeypatch, name, exc):
    """Make shapes.<name> create its file, then raise `exc` (as a full disk would)."""
    def failing(path, *a, **k):
        open(path, "wb").close()
        raise exc
    monkeypatch.setattr(shapes, name, failing)


@pytest.mark.parametrize("force", [False, True], ids=["new", "force"])
@pytest.mark.parametrize("case", ["enospc", "memory", "sigterm"])
def test_a_failed_world_leaves_the_target_as_it_was(tmp_path, capsys, monkeypatch, case, force):
    target = _user_folder(tmp_path) if force else tmp_path / "new"
    before = _snapshot(tmp_path)
    if case == "enospc":
        _fail_in(monkeypatch, "_write_json", OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    elif case == "memory":
        _fail_in(monkeypatch, "write_mat_columns", MemoryError())
    else:
        def killed(path, feats):
            write_mat_columns(path, feats)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)                   # the handler raises before this ends
        monkeypatch.setattr(shapes, "write_mat_columns", killed)
    code = main(["make-shapes", str(target)] + TINY + (["--force"] if force else []))
    expected = {"enospc": (1, ["dataset_shapes.json", "no space left", "left as it was"]),
                "memory": (1, ["vgg_feats.mat", "out of memory", "left as it was"]),
                "sigterm": (130, ["interrupted", f"{target} left as it was"])}[case]
    _one_line(capsys, code, *expected)
    assert _snapshot(tmp_path) == before
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL     # handlers restored


def test_force_replaces_only_the_worlds_files(tmp_path, capsys):
    z = _user_folder(tmp_path)
    assert main(["make-shapes", str(z), "--force"] + TINY) == 0
    names = sorted(str(p.relative_to(z)) for p in z.rglob("*"))
    assert "user.txt" in names and "images/shapes_09999.png" not in names
    assert "images/shapes_00011.png" in names and "regions.npz" in names
    assert [p.name for p in tmp_path.iterdir()] == ["z"]        # no partial folder left



def test_a_new_world_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        assert main(["make-shapes", str(tmp_path / "w")] + TINY) == 0
    finally:
        os.umask(umask)
    assert (tmp_path / "w").stat().st_mode & 0o777 == 0o755      # not mkdtemp's 0700


def test_a_new_worlds_parents_are_removed_when_it_fails(tmp_path, capsys, monkeypatch):
    _fail_in(monkeypatch, "_write_json", OSError(errno.ENOSPC, "No space left on device"))
    code = main(["make-shapes", str(tmp_path / "a" / "b" / "w")] + TINY)
    _one_line(capsys, code, 1, ["no space left"])
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_region_file_is_written(tmp_path):
    """The real process, interrupted while zipfile writes regions.npz (issue 23: a second
    traceback, exit 1, a 264-byte regions.npz left behind)."""
    target = tmp_path / "w"
    p = subprocess.Popen([sys.executable, "-m", "vsa_np", "make-shapes", str(target), "--images",
                          "4000", "--feature-dim", "64", "--cnn", "random", "--quiet"],
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob(".w.partial-*/regions.npz")):
        time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=60)[1].strip()
    assert p.returncode == 130, err
    assert err.splitlines() == [f"vsa-np make-shapes: interrupted; {target} left as it was"]
    assert list(tmp_path.iterdir()) == []


def _handler_inside(folder):
    from vsa_np.transaction import new_folder

    with new_folder(folder):
        return repr(signal.getsignal(signal.SIGTERM))


def test_a_pool_worker_keeps_dying_on_sigterm(tmp_path):
    """A worker must not trade SIGTERM for an exception: its pool's terminate() would then wait
    for it for ever (the hang this caught in tests/end_to_end/test_family_training.py)."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        inside = pool.apply(_handler_inside, (tmp_path / "w",))
    assert inside == repr(signal.SIG_DFL)
    assert _handler_inside(tmp_path / "v") != repr(signal.SIG_DFL)     # the command's own
