"""The `vsa-np` command: every subcommand imports, has --help, and the exit codes follow
convention (0 ok, 2 usage)."""
import importlib
import subprocess
import sys

import pytest

from vsa_np import cli
from vsa_np.cli import COMMANDS, main


@pytest.mark.parametrize("name,module", COMMANDS)
def test_subcommand_module_is_complete(name, module):
    m = importlib.import_module(module)
    assert isinstance(m.HELP, str) and m.HELP
    assert callable(m.add_arguments) and callable(m.run)


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name, _ in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_subcommand_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert f"usage: vsa-np {name}" in capsys.readouterr().out


def test_broken_command_fails_loudly(monkeypatch, tmp_path):
    """A command whose add_arguments raises breaks the parser instead of vanishing from --help."""
    (tmp_path / "broken_cmd.py").write_text(
        'HELP = "broken"\n'
        'def add_arguments(p):\n    raise RuntimeError("bad option table")\n'
        'def run(args):\n    return 0\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, ("broken", "broken_cmd")])
    with pytest.raises(RuntimeError, match="bad option table"):
        cli.main(["--help"])


def test_no_command_is_usage_error(capsys):
    assert main([]) == 2


def test_python_dash_m_matches_console_script():
    r = subprocess.run([sys.executable, "-m", "vsa_np", "--version"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.startswith("vsa-np ")
