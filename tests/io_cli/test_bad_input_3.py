"""Issue 23, third round: every input is read through `vsa_np/safe_read.py` (any failure while a
named file is read or parsed is one line naming the file, exit 2), every JSON field read is
checked for type and range, every numeric option is finite and in range (`config.check_fields`,
`config.check_options`). Each case: exit 2, one stderr line naming the file or option, no
traceback, and nothing in the input folders changed."""
import json
import shutil
import zipfile

import numpy as np
import pytest

from vsa_np.checkpoint import load_checkpoint, save_checkpoint, split_buffers
from vsa_np.cli import main
from vsa_np.data.features import write_npz
from vsa_np.data.shapes import make_shapes

SMALL = ["--epochs", "1", "--hidden", "8", "--word-dim", "8", "--quiet"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A tiny world, a one-epoch alignment run and generator run on it, and damaged copies."""
    root = tmp_path_factory.mktemp("bad3")
    w = root / "w"
    make_shapes(w, 36, seed=0, feature_dim=16, progress=False, cnn="random")
    assert main(["train-align", str(w), "--out", str(root / "a"), "--embed", "8",
                 "--batch-size", "20"] + SMALL) == 0
    assert main(["train-align", str(w), "--out", str(root / "ar"), "--embed", "8", "--regions",
                 "--batch-size", "20"] + SMALL) == 0
    assert main(["train-gen", str(w), "--out", str(root / "g"), "--eval-images", "3",
                 "--eval-beam", "1"] + SMALL) == 0
    _captions(root, w)
    _regions(root, w)
    _checkpoints(root)
    _runs(root)
    _other(root, w)
    return root


def _copy(root, w, name):
    out = root / name
    shutil.copytree(w, out, ignore=shutil.ignore_patterns("images"))
    return out


def _captions(root, w):
    text = (w / "dataset_shapes.json").read_text()
    d = json.loads(text)

    def variant(name, content):
        out = _copy(root, w, name)
        (out / "dataset_shapes.json").write_bytes(content if isinstance(content, bytes)
                                                  else content.encode())

    def edited(name, edit):
        e = json.loads(text)
        edit(e)
        variant(name, json.dumps(e))

    s0 = d["images"][0]["sentences"][0]
    variant("sid_inf", text.replace(f'"sentid":{s0["sentid"]}', '"sentid":Infinity', 1))
    variant("sid_nan", text.replace(f'"sentid":{s0["sentid"]}', '"sentid":NaN', 1))
    variant("sid_huge", text.replace(f'"sentid":{s0["sentid"]}', f'"sentid":{10**30}', 1))
    variant("deep", "[" * 200_000 + "]" * 200_000)
    variant("latin1", text.replace('"dataset"', '"dat\xe9set"').encode("latin-1"))
    edited("imgid_float", lambda e: e["images"][0].update(imgid=1.5))
    edited("sid_neg", lambda e: e["images"][0]["sentences"][0].update(sentid=-4))
    edited("raw_number", lambda e: e["images"][0]["sentences"][0].update(raw=5))
    edited("long_caption", lambda e: e["images"][0]["sentences"][0].update(
        tokens=["a"] * 20_000))
    edited("filename_list", lambda e: e["images"][1].update(filename=["x.png"]))
    edited("images_object", lambda e: e.update(images={"a": 1}))


def _regions(root, w):
    reg = dict(np.load(w / "regions.npz"))

    def variant(name, **change):
        out = _copy(root, w, name)
        write_npz(out / "regions.npz", **{**reg, **change})
        return out

    variant("str_boxes", boxes=reg["boxes"].astype(str))
    variant("complex_boxes", boxes=reg["boxes"] + 1j)
    variant("bool_boxes", boxes=reg["boxes"] > 0)
    out = _copy(root, w, "not_npy")                   # a member named .npy that is not one
    with zipfile.ZipFile(out / "regions.npz", "w") as zf:
        zf.writestr("feats.npy", "not an array")
        for k in ("boxes", "n_regions"):
            with zf.open(k + ".npy", "w") as f:
                np.lib.format.write_array(f, reg[k])
    out = _copy(root, w, "short")                     # feats shorter than its header says
    with zipfile.ZipFile(out / "regions.npz", "w") as zf:
        with zf.open("feats.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                     "shape": reg["feats"].shape})
            f.write(reg["feats"].tobytes()[:1000])
        for k in ("boxes", "n_regions"):
            with zf.open(k + ".npy", "w") as f:
                np.lib.format.write_array(f, reg[k])
    out = variant("bad_crc")                          # one byte of the features flipped
    data = bytearray((out / "regions.npz").read_bytes())
    data[len(data) // 3] ^= 0xFF
    (out / "regions.npz").write_bytes(bytes(data))
    variant("empty_member_name", n_regions=reg["n_regions"].astype(np.int64))  # a control
    out = _copy(root, w, "aln_deep")
    (out / "alignments.json").write_text("[" * 200_000 + "]" * 200_000)
    out = _copy(root, w, "aln_sid")
    recs = json.loads((w / "alignments.json").read_text())
    recs[0]["sentid"] = "zero"
    (out / "alignments.json").write_text(json.dumps(recs))


def _resave(root, run, name, edit_params=None, edit_meta=None):
    params, meta, optim = load_checkpoint(root / run / "best")
    buffers = split_buffers(params)
    if edit_params:
        edit_params(params)
    if edit_meta:
        edit_meta(meta)
    save_checkpoint(root / name, params, meta, optim, buffers)


def _checkpoints(root):
    _resave(root, "g", "g_int32", lambda p: p.update(
        {k: (v * 100).astype(np.int32) for k, v in p.items()}))
    _resave(root, "g", "g_complex", lambda p: p.update(W_hh=p["W_hh"] + 0j))
    _resave(root, "g", "g_arch_str", edit_meta=lambda m: m.update(arch="x"))
    _resave(root, "g", "g_words_int", edit_meta=lambda m: m["vocab"].update(words=5))
    _resave(root, "g", "g_counts_neg", edit_meta=lambda m: m["vocab"].update(
        counts=[-1] * len(m["vocab"]["counts"])))
    _resave(root, "a", "a_state_str", edit_meta=lambda m: m["train_state"].update(step="x"))
    _resave(root, "a", "a_cfg_type", edit_meta=lambda m: m.update(config=[1, 2]))


def _run_copy(root, name, edit):
    out = root / name
    shutil.copytree(root / "a", out)
    for p in out.glob(".lock"):
        p.unlink()
    edit(out)


def _edit_ckpts(out, edit):
    for stem in ("last", "best"):
        params, meta, optim = load_checkpoint(out / stem)
        buffers = split_buffers(params)
        edit(meta)
        save_checkpoint(out / stem, params, meta, optim, buffers)


def _runs(root):
    _run_copy(root, "log_list", lambda o: (o / "log.json").write_text("[]"))
    _run_copy(root, "log_latin1", lambda o: (o / "log.json").write_bytes(b'{"train": "\xe9"}'))
    _run_copy(root, "log_nostep", lambda o: (o / "log.json").write_text(
        json.dumps({"train": [{"loss": 1.0}], "eval": []})))
    _run_copy(root, "log_stepstr", lambda o: (o / "log.json").write_text(
        json.dumps({"train": [{"step": "1"}], "eval": []})))

    def log_dir(o):
        (o / "log.json").unlink()
        (o / "log.json").mkdir()
    _run_copy(root, "log_dir", log_dir)
    _run_copy(root, "no_epoch", lambda o: _edit_ckpts(o, lambda m: m["train_state"].pop("epoch")))
    _run_copy(root, "dropout_x", lambda o: _edit_ckpts(o, lambda m: m["config"].update(
        dropout="x")))
    _run_copy(root, "dropout_2", lambda o: _edit_ckpts(o, lambda m: m["config"].update(
        dropout=2.0)))
    fresh = root / "fresh_log_dir"
    (fresh / "log.json").mkdir(parents=True)


def _other(root, w):
    (root / "refs_empty.json").write_text(json.dumps({"1": [""], "2": ["", " "]}))
    (root / "hyps.json").write_text(json.dumps({"1": "a red square", "2": "a blue circle"}))
    (root / "refs_deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (root / "refs_nan.json").write_text('{"1": [NaN], "2": ["a"]}')
    (root / "refs_latin1.json").write_bytes(b'{"1": ["caf\xe9"], "2": ["a"]}')
    (root / "tasks_deep.txt").write_bytes(b"\xff\xfe" * 10)
    pics = root / "pics"
    pics.mkdir()
    (pics / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "cnn_text.npz").write_text("not a zip")
    cnn_dir = root / "cnn_meta"
    cnn_dir.mkdir()
    np.savez(cnn_dir / "cnn.npz", meta=np.array(json.dumps({"kind": "random",
                                                            "feature_dim": "16", "seed": 0})))


T = "{t}/o"
BAD = [
    # captions files: numbers beyond JSON's or our range, deep nesting, bytes that are not UTF-8
    ("sentid Infinity", ["data-info", "{r}/sid_inf"], "dataset_shapes.json"),
    ("sentid NaN", ["data-info", "{r}/sid_nan"], "dataset_shapes.json"),
    ("sentid 10**30", ["data-info", "{r}/sid_huge"], "dataset_shapes.json"),
    ("captions nested 200000 deep", ["data-info", "{r}/deep"], "dataset_shapes.json"),
    ("captions not UTF-8", ["data-info", "{r}/latin1"], "dataset_shapes.json"),
    ("imgid 1.5", ["data-info", "{r}/imgid_float"], "imgid"),
    ("sentid -4", ["data-info", "{r}/sid_neg"], "sentid"),
    ("raw a number", ["data-info", "{r}/raw_number"], "raw"),
    ("filename a list", ["data-info", "{r}/filename_list"], "filename"),
    ("images an object", ["data-info", "{r}/images_object"], "images"),
    ("caption of 20000 tokens", ["train-gen", "{r}/long_caption", "--out", T] + SMALL,
     "20000 tokens"),
    ("caption of 20000 tokens align", ["train-align", "{r}/long_caption", "--out", T] + SMALL,
     "20000 tokens"),
    # region files
    ("string boxes", ["data-info", "{r}/str_boxes"], "regions.npz"),
    ("complex boxes", ["data-info", "{r}/complex_boxes"], "boxes"),
    ("bool boxes", ["data-info", "{r}/bool_boxes"], "boxes"),
    ("member not .npy", ["data-info", "{r}/not_npy"], "regions.npz"),
    ("member shorter than its header", ["data-info", "{r}/short"], "regions.npz"),
    ("member with a bad CRC", ["data-info", "{r}/bad_crc"], "regions.npz"),
    ("alignments nested deep", ["eval-align", "{r}/ar", "{r}/aln_deep"], "alignments.json"),
    ("alignments sentid a string", ["eval-align", "{r}/ar", "{r}/aln_sid"], "alignments.json"),
    # checkpoints: parameters that are not floats, metadata of the wrong types
    ("int32 parameters", ["eval-gen", "{r}/g_int32", "{r}/w", "--no-meteor"], "g_int32.npz"),
    ("complex parameters", ["caption", "{r}/g_complex", "--features", "{r}/w/vgg_feats.mat"],
     "g_complex.npz"),
    ("arch a string", ["eval-gen", "{r}/g_arch_str", "{r}/w", "--no-meteor"], "g_arch_str.npz"),
    ("vocabulary words an int", ["eval-gen", "{r}/g_words_int", "{r}/w", "--no-meteor"],
     "g_words_int.npz"),
    ("vocabulary counts negative", ["eval-gen", "{r}/g_counts_neg", "{r}/w", "--no-meteor"],
     "g_counts_neg.npz"),
    ("train_state step a string", ["eval-align", "{r}/a_state_str", "{r}/w"], "a_state_str.npz"),
    ("config a list", ["eval-align", "{r}/a_cfg_type", "{r}/w"], "a_cfg_type.npz"),
    # resumed runs: the log, the train state, the saved config
    ("log.json a list", ["train-align", "{r}/w", "--out", "{r}/log_list", "--resume"],
     "log.json"),
    ("log.json not UTF-8", ["train-align", "{r}/w", "--out", "{r}/log_latin1", "--resume"],
     "log.json"),
    ("log.json without step", ["train-align", "{r}/w", "--out", "{r}/log_nostep", "--resume"],
     "step"),
    ("log.json step a string", ["train-align", "{r}/w", "--out", "{r}/log_stepstr",
                                "--resume"], "step"),
    ("log.json a folder", ["train-align", "{r}/w", "--out", "{r}/log_dir", "--resume"],
     "log.json"),
    ("log.json a folder, fresh run", ["train-align", "{r}/w", "--out", "{r}/fresh_log_dir"]
     + SMALL, "log.json"),
    ("train_state without epoch", ["train-align", "{r}/w", "--out", "{r}/no_epoch", "--resume"],
     "epoch"),
    ("saved dropout 'x'", ["train-align", "{r}/w", "--out", "{r}/dropout_x", "--resume"],
     "dropout"),
    ("saved dropout 2.0", ["train-align", "{r}/w", "--out", "{r}/dropout_2", "--resume"],
     "dropout"),
    # other inputs
    ("score refs all empty", ["score", "{r}/refs_empty.json", "{r}/hyps.json", "--no-meteor"],
     "refs_empty.json"),
    ("score refs nested deep", ["score", "{r}/refs_deep.json", "{r}/hyps.json"],
     "refs_deep.json"),
    ("score refs NaN", ["score", "{r}/refs_nan.json", "{r}/hyps.json"], "refs_nan.json"),
    ("score refs not UTF-8", ["score", "{r}/refs_latin1.json", "{r}/hyps.json"],
     "refs_latin1.json"),
    ("score refs a folder", ["score", "{r}/pics", "{r}/hyps.json"], "pics"),
    ("caption tasks not UTF-8", ["caption", "{r}/g", "--features", "{r}/w/vgg_feats.mat",
                                 "--tasks", "{r}/tasks_deep.txt"], "tasks_deep.txt"),
    ("caption a broken picture", ["caption", "{r}/g", "--images", "{r}/pics", "--cnn",
                                  "{r}/w"], "broken.png"),
    ("caption cnn not a zip", ["caption", "{r}/g", "--images", "{r}/pics", "--cnn",
                               "{r}/cnn_text.npz"], "cnn_text.npz"),
    ("caption cnn meta types", ["caption", "{r}/g", "--images", "{r}/pics", "--cnn",
                                "{r}/cnn_meta"], "feature_dim"),
    # options: finite and in range, one mechanism (config.check_fields / check_options)
    ("align beta -50", ["align", "{r}/a", "{r}/w", "--image", "0", "--beta", "-50"], "--beta"),
    ("align beta inf", ["align", "{r}/a", "{r}/w", "--image", "0", "--beta", "inf"], "--beta"),
    ("train-gen beta -1", ["train-gen", "{r}/w", "--out", T, "--beta", "-1"], "--beta"),
    ("train-gen decay nan", ["train-gen", "{r}/w", "--out", T, "--decay", "nan"], "--decay"),
    ("train-align lr inf", ["train-align", "{r}/w", "--out", T, "--lr", "inf"], "--lr"),
    ("train-align lr-grid nan", ["train-align", "{r}/w", "--out", T, "--lr", "auto",
                                 "--lr-grid", "1e-3", "nan"], "--lr-grid"),
    ("train-align init-scale inf", ["train-align", "{r}/w", "--out", T, "--init-scale", "inf"],
     "--init-scale"),
    ("train-align weight-decay -inf", ["train-align", "{r}/w", "--out", T, "--weight-decay=-inf"], "--weight-decay"),
    ("caption max-len 1e9", ["caption", "{r}/g", "--features", "{r}/w/vgg_feats.mat",
                             "--max-len", "1000000000"], "--max-len"),
]


def _snapshot(root):
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("argv,words", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_one_line_and_exit_2(env, tmp_path, capsys, argv, words):
    before = _snapshot(env)
    code = main([a.format(r=env, t=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, f"exit {code}; stderr: {err[-800:]}"
    assert len(err.splitlines()) == 1, err
    assert err.startswith("vsa-np ") and "Traceback" not in err, err
    assert words in err, err
    assert _snapshot(env) == before
    assert not (tmp_path / "o").exists()


def test_a_good_region_file_still_reads(env, capsys):
    """The control of the damaged copies: the same writer, nothing damaged."""
    assert main(["data-info", str(env / "empty_member_name")]) == 0


@pytest.mark.parametrize("command", ["eval-gen", "eval-align"])
def test_evaluations_report_unknown_words_and_other_data(env, tmp_path, capsys, command):
    other = tmp_path / "other"
    shutil.copytree(env / "w", other, ignore=shutil.ignore_patterns("images"))
    d = json.loads((other / "dataset_shapes.json").read_text())
    for im in d["images"]:
        for s in im["sentences"]:
            s["tokens"] = [t + "x" for t in s["tokens"]]
    (other / "dataset_shapes.json").write_text(json.dumps(d))
    run = env / ("g" if command == "eval-gen" else "a")
    extra = ["--no-meteor", "--max-images", "2"] if command == "eval-gen" else ["--no-baseline"]
    for data, unknown in ((env / "w", False), (other, True)):
        assert main([command, str(run), str(data), "--json"] + extra) == 0
        out, err = capsys.readouterr()
        report = json.loads(out)["data"]
        assert (report["unknown_words_percent"] == 100) == unknown
        assert (report["data_fingerprint"] != report["trained_on_fingerprint"]) == unknown
        assert ("100.0% of the words of the test split" in err) == unknown, err
        assert ("is not the data the model was trained on" in err) == unknown, err
