"""`vsa-np`: the command line. Each subcommand lives in its own module, whose heavy imports
happen only when it runs, so `vsa-np --help` stays fast.

Building the parser imports every command module, so a module keeps its heavy imports (NumPy
models, data readers) inside `run`. A subcommand module defines

    HELP = "one line for `vsa-np --help`"
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int          # the exit code

and is listed in COMMANDS below. Exit codes: 0 success, 1 a check or run failed, 2 bad usage or
bad input (a clear message on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from vsa_np import __version__
from vsa_np.errors import BackendError, TrainingError, UserError

# (subcommand, module): add a line here when a new subcommand is written.
COMMANDS = [
    ("demo", "vsa_np.commands.demo"),
    ("gradcheck", "gradcheck.cli"),
    ("data-info", "vsa_np.commands.data_info"),
    ("make-shapes", "vsa_np.commands.make_shapes"),
    ("score", "vsa_np.commands.score"),
    ("train-align", "vsa_np.commands.train_align"),
    ("eval-align", "vsa_np.commands.eval_align"),
    ("align", "vsa_np.commands.align"),
    ("train-gen", "vsa_np.commands.train_gen"),
    ("eval-gen", "vsa_np.commands.eval_gen"),
    ("caption", "vsa_np.commands.caption"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vsa-np",
        description="Deep Visual-Semantic Alignments (Karpathy & Fei-Fei, CVPR 2015) "
                    "in hand-written NumPy/CuPy.")
    parser.add_argument("--version", action="version", version=f"vsa-np {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS:
        # No try/except here: a command module that fails to import or to add its arguments is a
        # bug, and it must fail every `vsa-np` call (and the tests) rather than vanish from --help.
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.set_defaults(_module=module_name)
        module.add_arguments(p)
    return parser


def main(argv=None) -> int:
    try:                   # the commands import the backend, which reads $VSA_NP_DEVICE
        parser = build_parser()
    except BackendError as e:
        print(f"vsa-np: error: {e}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except UserError as e:
        print(f"vsa-np {args.command}: error: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"vsa-np {args.command}: training stopped: {e}", file=sys.stderr)
        return 1
    except OSError as e:   # a file the commands' own checks did not foresee (disk full, ...)
        where = f"{e.filename}: " if e.filename else ""
        print(f"vsa-np {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vsa-np {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
