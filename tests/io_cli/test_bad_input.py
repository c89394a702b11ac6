"""The README's exit-code promise, command by command (issue 14): bad options, unwritable outputs,
mismatched checkpoints and malformed data end in one clear line on stderr and exit code 2, never a
traceback; nothing is reported that was not written.

The table runs `vsa_np.cli.main` in-process (its return value is the process's exit code, and an
exception it lets through would be a traceback, which fails the test); the cases that depend on
the process itself (the device variable, locks held by another process, `kill -9`) run the
command in a subprocess in tests/test_run_safety.py."""
import json
import re
import shutil

import numpy as np
import pytest

from vsa_np.checkpoint import load_checkpoint, save_checkpoint, split_buffers
from vsa_np.cli import main
from vsa_np.data.features import read_features, write_mat_columns
from vsa_np.data.shapes import make_shapes


def _quiet(argv):
    return argv + ["--quiet"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A small shapes world, the same world with 32-d features, an alignment run and a generator
    run on it (one epoch each), and a few damaged copies."""
    root = tmp_path_factory.mktemp("bad_input")
    w, w32 = root / "w", root / "w32"
    make_shapes(w, 120, seed=0, feature_dim=64, progress=False, cnn="random")
    make_shapes(w32, 120, seed=0, feature_dim=32, progress=False, cnn="random")
    small = ["--epochs", "1", "--hidden", "16", "--word-dim", "8", "--quiet"]
    assert main(["train-align", str(w), "--out", str(root / "a"), "--embed", "16"] + small) == 0
    assert main(["train-gen", str(w), "--out", str(root / "g"), "--eval-images", "5"]
                + small) == 0
    assert main(["train-align", str(w), "--out", str(root / "ar"), "--regions", "--embed",
                 "16"] + small) == 0
    (root / "file.txt").write_text("a user's file\n")
    (root / "folder").mkdir()
    _damaged_copies(root, w)
    return root


def _copy(root, w, name, regions=True):
    out = root / name
    shutil.copytree(w, out, ignore=shutil.ignore_patterns("images"))
    if not regions:
        (out / "regions.npz").unlink()
    return out


def _edit_json(folder, edit):
    path = folder / "dataset_shapes.json"
    d = json.loads(path.read_text())
    edit(d)
    path.write_text(json.dumps(d))


def _damaged_copies(root, w):
    params, meta, _ = load_checkpoint(root / "g" / "best")
    buffers = split_buffers(params)
    params["W_hh"] = params["W_hh"].copy()
    params["W_hh"][0, 0] = np.nan
    save_checkpoint(root / "nan", params, meta, buffers=buffers)
    for run in ("g", "a"):                            # a vocabulary with a count too few
        params, meta, _ = load_checkpoint(root / run / "best")
        buffers = split_buffers(params)
        meta["vocab"]["counts"] = meta["vocab"]["counts"][:-1]
        save_checkpoint(root / f"{run}_vocab", params, meta, buffers=buffers)

    big = _copy(root, w, "big", regions=False)            # features scaled by 1e30
    write_mat_columns(big / "vgg_feats.mat", read_features(w / "vgg_feats.mat") * 1e30)
    _copy(root, w, "noreg", regions=False)

    reg = dict(np.load(w / "regions.npz"))
    for name, change in (("obj", {"n_regions": reg["n_regions"].astype(object)}),
                         ("floatn", {"n_regions": reg["n_regions"] + 0.5}),
                         ("nanbox", {"boxes": np.where(reg["boxes"] == 0, np.nan,
                                                       reg["boxes"])})):
        out = _copy(root, w, name)
        np.savez_compressed(out / "regions.npz", **{**reg, **change})

    first = lambda d: d["images"][0]["sentences"][0]             # noqa: E731
    _edit_json(_copy(root, w, "tokstr"), lambda d: first(d).update(tokens="a red circle"))
    _edit_json(_copy(root, w, "toknum"), lambda d: first(d).update(tokens=[1, 2]))
    _edit_json(_copy(root, w, "dupsid"),
               lambda d: d["images"][1]["sentences"][0].update(sentid=first(d)["sentid"]))
    _edit_json(_copy(root, w, "imgid"), lambda d: d["images"][0].update(imgid=999))
    aln = _copy(root, w, "alnbad")
    records = json.loads((aln / "alignments.json").read_text())
    for r in records:
        r["tokens"] = r["tokens"][1:]                         # another world's records
        r["regions"] = r["regions"][1:]
    (aln / "alignments.json").write_text(json.dumps(records))

    (root / "bad_tasks.txt").write_bytes(b"\xff\xfeshapes\n")
    f8k = root / "f8k"                                        # the Flickr8K text release
    f8k.mkdir()
    (f8k / "Flickr8k.token.txt").write_text("a.jpg#0\ta dog\nb.jpg#0\ta cat\nc.jpg#0\ta cow\n")
    (f8k / "Flickr_8k.trainImages.txt").write_bytes(b"a.jpg\xff\n")
    (f8k / "Flickr_8k.devImages.txt").write_text("b.jpg\n")
    (f8k / "Flickr_8k.testImages.txt").write_text("c.jpg\n")


def _fmt(argv, root, tmp):
    return [a.format(r=root, t=tmp) for a in argv]


# (id, argv with {r} = the fixture's folder and {t} = this test's own, words the message must hold)
BAD = [
    # options out of range, refused before anything is written
    ("make-shapes seed", ["make-shapes", "{t}/x", "--seed", "-1"], "--seed"),
    ("make-shapes images", ["make-shapes", "{t}/x", "--images", "0"], "--images"),
    ("make-shapes dim", ["make-shapes", "{t}/x", "--feature-dim", "0"], "--feature-dim"),
    ("demo seed", ["demo", "--out", "{t}/d", "--seed", "-1"], "--seed"),
    ("align batch 0", ["train-align", "{r}/w", "--out", "{t}/o", "--batch-size", "0"],
     "--batch-size"),
    ("align dropout 1", ["train-align", "{r}/w", "--out", "{t}/o", "--dropout", "1.0"],
     "--dropout"),
    ("align hidden 0", ["train-align", "{r}/w", "--out", "{t}/o", "--hidden", "0"], "--hidden"),
    ("align embed 0", ["train-align", "{r}/w", "--out", "{t}/o", "--embed", "0"], "--embed"),
    ("align word-dim 0", ["train-align", "{r}/w", "--out", "{t}/o", "--word-dim", "0"],
     "--word-dim"),
    ("align epochs 0", ["train-align", "{r}/w", "--out", "{t}/o", "--epochs", "0"], "--epochs"),
    ("align epochs -3", ["train-align", "{r}/w", "--out", "{t}/o", "--epochs", "-3"], "--epochs"),
    ("align momentum nan", ["train-align", "{r}/w", "--out", "{t}/o", "--momentum", "nan"],
     "--momentum"),
    ("align momentum -3", ["train-align", "{r}/w", "--out", "{t}/o", "--momentum", "-3"],
     "--momentum"),
    ("align grad-clip nan", ["train-align", "{r}/w", "--out", "{t}/o", "--grad-clip", "nan"],
     "--grad-clip"),
    ("gen grad-clip -1", ["train-gen", "{r}/w", "--out", "{t}/o", "--grad-clip", "-1"],
     "--grad-clip"),
    ("align eval-every -1", ["train-align", "{r}/w", "--out", "{t}/o", "--eval-every", "-1"],
     "--eval-every"),
    ("align no vocabulary", ["train-align", "{r}/w", "--out", "{t}/o", "--word-threshold",
                             "100000"], "--word-threshold"),
    ("gen eval-beam 0", ["train-gen", "{r}/w", "--out", "{t}/o", "--eval-beam", "0"],
     "--eval-beam"),
    ("gen no vocabulary", ["train-gen", "{r}/w", "--out", "{t}/o", "--word-threshold",
                           "100000"], "--word-threshold"),
    ("gen max-words", ["train-gen", "{r}/w", "--out", "{t}/o", "--max-words", "-3"],
     "--max-words"),
    ("gen epochs 0", ["train-gen", "{r}/w", "--out", "{t}/o", "--epochs", "0"], "--epochs"),
    ("align beta nan", ["align", "{r}/a", "{r}/w", "--image", "0", "--beta", "nan"], "--beta"),
    ("eval-gen beam 0", ["eval-gen", "{r}/g", "{r}/w", "--beam", "0"], "--beam"),
    ("eval-gen max-images -1", ["eval-gen", "{r}/g", "{r}/w", "--max-images", "-1"],
     "--max-images"),
    ("caption max-len huge", ["caption", "{r}/g", "--features", "{r}/w/vgg_feats.mat",
                              "--max-len", "1000000000"], "--max-len"),
    ("gen max-len huge", ["train-gen", "{r}/w", "--out", "{t}/o", "--max-len", "100000"],
     "--max-len"),
    ("caption beam 0", ["caption", "{r}/g", "--features", "{r}/w/vgg_feats.mat", "--beam", "0"],
     "--beam"),
    ("caption n-best", ["caption", "{r}/g", "--features", "{r}/w/vgg_feats.mat", "--beam", "2",
                        "--n-best", "3"], "--n-best"),
    ("caption max-len", ["caption", "{r}/g", "--features", "{r}/w/vgg_feats.mat",
                         "--max-len", "0"], "--max-len"),
    # outputs that cannot be written, or a file where a folder is needed (and the reverse)
    ("make-shapes onto a file", ["make-shapes", "{r}/file.txt"], "file.txt"),
    ("make-shapes under a file", ["make-shapes", "{r}/file.txt/sub"], "file.txt"),
    ("train-align out is a file", ["train-align", "{r}/w", "--out", "{r}/file.txt"], "file.txt"),
    ("train-gen out under a file", ["train-gen", "{r}/w", "--out", "{r}/file.txt/run"],
     "file.txt"),
    ("demo out is a file", ["demo", "--out", "{r}/file.txt"], "file.txt"),
    ("caption html is a folder", ["caption", "{r}/g", "--features", "{r}/w/vgg_feats.mat",
                                  "--html", "{r}/folder"], "folder"),
    ("eval-gen html is a folder", ["eval-gen", "{r}/g", "{r}/w", "--max-images", "3",
                                   "--no-meteor", "--html", "{r}/folder"], "folder"),
    ("align figure type", ["align", "{r}/a", "{r}/w", "--image", "0", "--out", "{t}/fig.txt"],
     "fig.txt"),
    ("align figure without a suffix", ["align", "{r}/a", "{r}/w", "--image", "0", "--out",
                                       "{t}/figdir"], "figdir"),
    ("align figure under a file", ["align", "{r}/a", "{r}/w", "--image", "0", "--out",
                                   "{r}/file.txt/fig.png"], "file.txt"),
    # a checkpoint whose feature size is not the data's
    ("eval-align other dim", ["eval-align", "{r}/a", "{r}/w32"], "dimension"),
    ("align other dim", ["align", "{r}/a", "{r}/w32", "--image", "0"], "dimension"),
    ("from-alignments other dim", ["train-gen", "{r}/w32", "--out", "{t}/o",
                                   "--from-alignments", "{r}/a"], "dimension"),
    ("eval-gen other dim", ["eval-gen", "{r}/g", "{r}/w32"], "dimension"),
    # a region-trained alignment model on data without regions
    ("from-alignments without regions", ["train-gen", "{r}/noreg", "--out", "{t}/o",
                                         "--from-alignments", "{r}/ar"], "regions"),
    ("eval-align without regions", ["eval-align", "{r}/ar", "{r}/noreg"], "regions"),
    # damaged checkpoints and data
    ("NaN weight eval-gen", ["eval-gen", "{r}/nan.npz", "{r}/w", "--no-meteor"], "NaN"),
    ("NaN weight caption", ["caption", "{r}/nan", "--features", "{r}/w/vgg_feats.mat"], "NaN"),
    ("1e30 features caption", ["caption", "{r}/g", "--features", "{r}/big/vgg_feats.mat"],
     "times the size"),
    ("1e30 features eval-gen", ["eval-gen", "{r}/g", "{r}/big", "--no-meteor"],
     "times the size"),
    ("object array", ["data-info", "{r}/obj"], "regions.npz"),
    ("float n_regions", ["data-info", "{r}/floatn"], "n_regions"),
    ("NaN boxes", ["data-info", "{r}/nanbox"], "boxes"),
    ("tokens a string", ["data-info", "{r}/tokstr"], "tokens"),
    ("tokens not strings", ["data-info", "{r}/toknum"], "tokens"),
    ("duplicate sentid", ["data-info", "{r}/dupsid"], "sentid"),
    ("imgid blames the captions", ["data-info", "{r}/imgid"], "dataset_shapes.json"),
    ("alignments of another world", ["eval-align", "{r}/ar", "{r}/alnbad"], "alignments.json"),
    ("tasks not UTF-8", ["caption", "{r}/g", "--features", "{r}/w/vgg_feats.mat", "--tasks",
                         "{r}/bad_tasks.txt"], "bad_tasks.txt"),
    ("split file not UTF-8", ["data-info", "{r}/f8k"], "Flickr_8k.trainImages.txt"),
    ("vocabulary of a generator", ["eval-gen", "{r}/g_vocab", "{r}/w"], "g_vocab.npz"),
    ("vocabulary of an alignment model", ["eval-align", "{r}/a_vocab", "{r}/w"], "a_vocab.npz"),
    # a generator checkpoint that is not one: the message names the file once
    ("eval-gen missing ckpt", ["eval-gen", "{t}/nothing.npz", "{r}/w"], "nothing.npz:"),
]


@pytest.mark.parametrize("argv,words", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_and_exit_2(env, tmp_path, capsys, argv, words):
    before = sorted(p.name for p in env.iterdir())
    argv = _fmt(argv, env, tmp_path)
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, f"exit {code}; stderr: {err[-500:]}"
    lines = err.splitlines()
    assert len(lines) >= 1 and lines[-1].startswith("vsa-np "), err
    assert "Traceback" not in err
    assert words in lines[-1], lines[-1]
    assert ".npz.npz" not in lines[-1]
    # nothing written: no new entries beside the fixture's, no stray temporary files
    assert sorted(p.name for p in env.iterdir()) == before
    assert not list(env.glob("**/*.tmp")), list(env.glob("**/*.tmp"))
    assert not (tmp_path / "o").exists() and not (tmp_path / "x").exists()
    assert not (tmp_path / "d").exists()


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_make_shapes_never_writes_into_a_users_data_set(tmp_path, capsys):
    data = tmp_path / "flickr8k"
    data.mkdir()
    (data / "vgg_feats.mat").write_bytes(b"the user's real features")
    (data / "dataset_flickr8k.json").write_text('{"images": []}')
    before = _snapshot(data)
    assert main(["make-shapes", str(data), "--images", "6", "--feature-dim", "8",
                 "--cnn", "random", "--quiet"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert _snapshot(data) == before
    # --force writes the world's own files and touches nothing else
    assert main(["make-shapes", str(data), "--images", "6", "--feature-dim", "8", "--quiet",
                 "--cnn", "random", "--force"]) == 0
    assert (data / "dataset_flickr8k.json").read_text() == '{"images": []}'
    assert (data / "vgg_feats.mat").read_bytes() != b"the user's real features"


def test_a_second_demo_changes_nothing_before_it_refuses(env, tmp_path, capsys):
    """A demo folder already holds a world and models: a new demo (another seed) is refused
    before anything is written, and the message offers --force, not a --resume demo lacks."""
    out = tmp_path / "demo"
    shutil.copytree(env / "w", out / "data")
    shutil.copytree(env / "a", out / "align_eq8")
    before = _snapshot(out)
    assert main(["demo", "--out", str(out), "--seed", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "--resume" not in err
    assert _snapshot(out) == before


def test_demo_force_removes_only_a_previous_demos_files(tmp_path):
    from vsa_np.demo.pipeline import _remove_previous

    for name in ("data/x", "align_eq8/best.npz", "report.md", "alignment_0.png", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    _remove_previous(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_caption_says_which_images_it_could_not_find(env, tmp_path, capsys):
    tasks = tmp_path / "tasks.txt"
    tasks.write_text("".join(f"missing_{i}.png\n" for i in range(120)))
    assert main(["caption", str(env / "g"), "--features", str(env / "w" / "vgg_feats.mat"),
                 "--tasks", str(tasks), "--beam", "1", "--html", str(tmp_path / "p.html")]) == 0
    err = capsys.readouterr().err
    assert "120 of 120 images not found" in err and "missing_0.png" in err


def test_html_image_links_work_from_the_page_with_a_relative_data_path(env, tmp_path,
                                                                      monkeypatch):
    monkeypatch.chdir(env)                              # DATA given as "w", relative
    page = tmp_path / "pages" / "captions.html"
    assert main(["eval-gen", "g", "w", "--max-images", "3", "--beam", "1", "--no-meteor",
                 "--split", "test", "--html", str(page)]) == 0
    srcs = re.findall(r"<img src='([^']+)'", page.read_text())
    assert len(srcs) == 3
    assert all((page.parent / src).resolve().is_file() for src in srcs), srcs
