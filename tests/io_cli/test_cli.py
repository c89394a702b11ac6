"""The `vsa-np` command: every subcommand imports, has --help, the paper's hyper-parameters come
first in the trainers' --help, and the exit codes follow convention (0 ok, 2 usage)."""
import importlib
import os
import subprocess
import sys

import pytest

from vsa_np import cli
from vsa_np.cli import COMMANDS, main


@pytest.mark.parametrize("name,module,help_text", COMMANDS)
def test_subcommand_module_is_complete(name, module, help_text):
    m = importlib.import_module(module)
    assert isinstance(help_text, str) and help_text
    assert callable(m.add_arguments) and callable(m.run)


@pytest.mark.parametrize("name", ["train-align", "train-gen"])
def test_trainer_help_puts_the_paper_first(name, capsys):
    with pytest.raises(SystemExit):
        main([name, "--help"])
    out = capsys.readouterr().out
    paper, ours = out.index("the paper's hyper-parameters"), out.index("this project's additions")
    assert paper < out.index("--batch-size", paper) < out.index("--lr", paper) < ours
    assert ours < out.index("--seed", ours)


def test_help_imports_no_model():
    """`vsa-np --help` imports only the command line: no backend, no model."""
    code = ("import sys; from vsa_np.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('vsa_np.')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "vsa_np.backend" not in r.stdout and "vsa_np.core" not in r.stdout


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name, _, _ in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", [n for n, _, _ in COMMANDS])
def test_subcommand_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert f"usage: vsa-np {name}" in capsys.readouterr().out


def test_broken_command_fails_loudly(monkeypatch, tmp_path):
    """A command whose add_arguments raises breaks its parser instead of vanishing."""
    (tmp_path / "broken_cmd.py").write_text(
        'def add_arguments(p):\n    raise RuntimeError("bad option table")\n'
        'def run(args):\n    return 0\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, ("broken", "broken_cmd", "broken")])
    with pytest.raises(RuntimeError, match="bad option table"):
        cli.main(["broken", "--help"])


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2


def test_python_dash_m_matches_console_script():
    r = subprocess.run([sys.executable, "-m", "vsa_np", "--version"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.startswith("vsa-np ")


def test_help_and_version_without_a_device():
    """VSA_NP_DEVICE=gpu on a machine without CuPy: --help and --version still work."""
    env = {**os.environ, "VSA_NP_DEVICE": "gpu"}
    for argv in (["--version"], ["--help"]):
        r = subprocess.run([sys.executable, "-m", "vsa_np", *argv], capture_output=True,
                           text=True, env=env)
        assert r.returncode == 0 and r.stdout and not r.stderr, (argv, r.stderr)


def test_a_closed_pipe_ends_quietly(tiny_world):
    """`vsa-np data-info W | head -0`: no traceback, no message, the status of SIGPIPE. (The
    reader's end is closed before the command writes, so its first write fails.)"""
    import os
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, "-m", "vsa_np", "data-info", str(tiny_world)],
                           stdout=w, stderr=subprocess.PIPE)
    finally:
        os.close(w)
    assert p.returncode == 141 and p.stderr == b""
