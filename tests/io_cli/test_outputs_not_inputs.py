"""Issue 23: an output of a command never replaces one of its inputs (`paths.outputs_are_not_inputs`,
checked by the CLI for every command before it runs): exit 2, one stderr line naming the path, no
traceback, and the input unchanged."""
import hashlib

import pytest

from vsa_np.cli import main
from vsa_np.data.shapes import make_shapes


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("out_in")
    make_shapes(root / "w", 24, seed=0, feature_dim=16, progress=False, cnn="random")
    return root


def _digest(folder):
    return {p.relative_to(folder): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("argv", [
    ["train-align", "{w}", "--out", "{w}"],                 # the run folder is the data folder
    ["train-gen", "{w}", "--out", "{w}"],
    ["train-align", "{w}", "--out", "{root}/link-to-w"],    # the same folder through a link
    ["eval-gen", "{w}", "{w}", "--html", "{w}/captions.html"],   # no: an html beside is fine
])
def test_an_output_that_is_an_input_is_refused(env, argv, capsys):
    link = env / "link-to-w"
    if not link.exists():
        link.symlink_to(env / "w")
    argv = [a.format(w=env / "w", root=env) for a in argv]
    before = _digest(env)
    code = main(argv)
    err = capsys.readouterr().err
    if argv[0] == "eval-gen":        # an output inside an input folder is not the input itself
        assert "is also what it reads" not in err
        return
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "is also what it reads" in lines[0] and str(argv[argv.index("--out") + 1]) in lines[0]
    assert _digest(env) == before
